"""The embedded check (逢办必查): the catalog of restrictions and incentives and ``check(uscc, matter)``.

The catalog (联合奖惩措施清单, ``supervision/lifecycle/policy/restrictions.toml`` or a replacement file) maps
list type × business matter → restriction and legal basis, for the entity or for its legal representative and
actual controller (``[[measure]]``), and names the incentives (守信激励, ``[[incentive]]``) with the matters
they apply to and who qualifies: red-list entities and the tiers named (A). ``check`` returns in one call the
restrictions that apply today, the incentives the entity qualifies for, whether documents it names as
missing are accepted (容缺受理, only through an incentive that allows it), the entity's list statuses (lake
entries as the features see them, plus open cases of the lists workflow) and its tier with the date of that
score from the ``scores`` lookup passed in (None until scoring runs), and records the check (query mode).
Triggered mode is the lists outbox (:func:`supervision.lifecycle.lists.events_after`).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import LIST_TYPES
from features.uscc import is_valid as uscc_is_valid
from supervision.lifecycle import lists
from supervision.lifecycle.workflow import Actor, instant
from supervision.platform.db import Base
from supervision.platform.errors import DomainError

__all__ = [
    "ENTITY_MATTERS",
    "MATTERS",
    "PERSON_MATTERS",
    "CheckRecord",
    "CheckResult",
    "Incentive",
    "IncentiveCatalog",
    "Measure",
    "RestrictionError",
    "ScoreLookup",
    "check",
    "default_catalog",
    "default_incentives",
    "incentive_frame",
    "load_catalog",
    "load_incentives",
]

ENTITY_MATTERS = (
    "bidding",
    "government_procurement",
    "fiscal_funds",
    "tax_incentives",
    "market_access",
    "honours",
)
PERSON_MATTERS = ("flights", "high_speed_rail")
MATTERS = ENTITY_MATTERS + PERSON_MATTERS
SUBJECTS = ("entity", "person")
_FIELDS = ("list_type", "matter", "subject", "restriction", "basis", "confidence")
_FLAGS = ("no_commitment",)
_INCENTIVE_TEXT = ("code", "name_zh", "name_en", "basis", "confidence")
_INCENTIVE_LISTS = ("matters", "lists", "tiers")
_INCENTIVE_FLAGS = ("accepts_missing_documents",)
TIERS = ("A", "B", "C", "D")
# The entity's current score: (tier, the date of the score), or None when it has none.
ScoreLookup = Callable[[str], tuple[str, date] | None]


class RestrictionError(DomainError, ValueError):
    """A bad catalog entry or a check that cannot be made (unknown matter, invalid code)."""


@dataclass(frozen=True, slots=True)
class Measure:
    """One restriction measure of the catalog."""

    list_type: str
    matter: str
    subject: str
    restriction: str
    basis: str
    confidence: str
    # The check answers 不适用告知承诺制: a commitment (告知承诺) checked against this matter is refused.
    no_commitment: bool = False


def _flags(entry: Mapping[str, Any], names: tuple[str, ...], where: str) -> dict[str, bool]:
    out = {}
    for name in names:
        value = entry.get(name, False)
        if not isinstance(value, bool):
            raise RestrictionError(f"{where}: {name} {value!r} must be true or false")
        out[name] = value
    return out


def _load_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RestrictionError(f"{origin}: not valid TOML ({exc})") from None


def parse_catalog(text: str, *, origin: str) -> tuple[Measure, ...]:
    """Measures from TOML text; errors name ``origin measure[i]`` and the field."""
    data = _load_toml(text, origin)
    out = []
    seen = set()
    for i, entry in enumerate(data.get("measure", [])):
        where = f"{origin} measure[{i}]"
        missing = [f for f in _FIELDS if not isinstance(entry.get(f), str) or not entry[f].strip()]
        if missing:
            raise RestrictionError(f"{where}: missing or empty field(s) {', '.join(missing)}")
        unknown = sorted(set(entry) - set(_FIELDS) - set(_FLAGS))
        if unknown:
            raise RestrictionError(f"{where}: unknown field(s) {', '.join(unknown)}")
        for name, allowed in (
            ("list_type", LIST_TYPES),
            ("matter", MATTERS),
            ("subject", SUBJECTS),
            ("confidence", ("V", "P", "U")),
        ):
            if entry[name] not in allowed:
                raise RestrictionError(f"{where}: {name} {entry[name]!r} must be one of {', '.join(allowed)}")
        flags = _flags(entry, _FLAGS, where)
        measure = Measure(**{f: entry[f] for f in _FIELDS}, no_commitment=flags["no_commitment"])
        key = (measure.list_type, measure.matter, measure.subject, measure.restriction)
        if key in seen:
            raise RestrictionError(f"{where}: duplicate of an earlier measure")
        seen.add(key)
        out.append(measure)
    if not out:
        raise RestrictionError(f"{origin}: expected [[measure]] entries")
    return tuple(out)


def load_catalog(path: Path | None = None) -> tuple[Measure, ...]:
    if path is None:
        return default_catalog()
    try:
        return parse_catalog(path.read_text(encoding="utf-8"), origin=str(path))
    except OSError as exc:
        raise RestrictionError(f"{path}: cannot read the restriction catalog ({exc.strerror})") from None


@lru_cache(maxsize=1)
def default_catalog() -> tuple[Measure, ...]:
    text = (
        resources.files("supervision.lifecycle")
        .joinpath("policy", "restrictions.toml")
        .read_text(encoding="utf-8")
    )
    return parse_catalog(text, origin="supervision/lifecycle/policy/restrictions.toml")


def catalog_frame(measures: tuple[Measure, ...] | None = None) -> pl.DataFrame:
    """The catalog as a table (for CSV/JSON export), sorted by list type, matter and subject."""
    rows = [asdict(m) for m in (measures or default_catalog())]
    schema = {f: pl.String for f in _FIELDS} | {f: pl.Boolean for f in _FLAGS}
    return pl.DataFrame(rows, schema=schema).sort("list_type", "matter", "subject")


# ------------------------------------------------------------------------------------------- incentives
@dataclass(frozen=True, slots=True)
class Incentive:
    """One incentive measure (守信激励): for which matters, who qualifies (lists, tiers), on which basis."""

    code: str
    name_zh: str
    name_en: str
    basis: str
    confidence: str
    matters: tuple[str, ...]
    lists: tuple[str, ...]
    tiers: tuple[str, ...]
    accepts_missing_documents: bool = False

    def qualified_by(self, active_lists: set[str], tier: str | None) -> list[str]:
        """Why the entity qualifies (``list:red_list``, ``tier:A``); empty when it does not."""
        why = [f"list:{t}" for t in self.lists if t in active_lists]
        if tier is not None and tier in self.tiers:
            why.append(f"tier:{tier}")
        return why

    def who(self) -> str:
        """Who qualifies, in words (for refusals)."""
        parts = [f"entities on the {t} list" for t in self.lists] + [f"tier {t}" for t in self.tiers]
        return " or ".join(parts)


@dataclass(frozen=True, slots=True)
class IncentiveCatalog:
    """The incentives and the lists that withhold every incentive (an entity being punished)."""

    measures: tuple[Incentive, ...]
    withheld_by_lists: tuple[str, ...]
    withheld_source: str


def _names(entry: Mapping[str, Any], name: str, allowed: tuple[str, ...], where: str) -> tuple[str, ...]:
    value = entry.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RestrictionError(f"{where}: {name} must be a list of strings")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise RestrictionError(f"{where}: {name} {bad[0]!r} must be one of {', '.join(allowed)}")
    return tuple(value)


def parse_incentives(text: str, *, origin: str) -> IncentiveCatalog:
    """The ``[[incentive]]`` entries and the ``[incentives]`` table of a catalog file (both optional: a file
    without them gives no incentive); errors name ``origin incentive[i]`` and the field."""
    data = _load_toml(text, origin)
    head = data.get("incentives", {})
    if not isinstance(head, dict):
        raise RestrictionError(f"{origin}: [incentives] must be a table")
    unknown = sorted(set(head) - {"withheld_by_lists", "withheld_source", "withheld_confidence"})
    if unknown:
        raise RestrictionError(f"{origin} [incentives]: unknown key(s) {', '.join(unknown)}")
    withheld = _names({"w": head.get("withheld_by_lists", [])}, "w", LIST_TYPES, f"{origin} [incentives]")
    source = head.get("withheld_source", "")
    if withheld and (not isinstance(source, str) or not source.strip()):
        raise RestrictionError(f"{origin} [incentives]: withheld_source is required with withheld_by_lists")
    if head.get("withheld_confidence", "U") not in ("V", "P", "U"):
        raise RestrictionError(f"{origin} [incentives]: withheld_confidence must be one of V, P, U")
    out: list[Incentive] = []
    entries = data.get("incentive", [])
    if not isinstance(entries, list):
        raise RestrictionError(f"{origin}: expected [[incentive]] entries")
    for i, entry in enumerate(entries):
        where = f"{origin} incentive[{i}]"
        missing = [f for f in _INCENTIVE_TEXT if not isinstance(entry.get(f), str) or not entry[f].strip()]
        if missing:
            raise RestrictionError(f"{where}: missing or empty field(s) {', '.join(missing)}")
        allowed = set(_INCENTIVE_TEXT) | set(_INCENTIVE_LISTS) | set(_INCENTIVE_FLAGS)
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise RestrictionError(f"{where}: unknown field(s) {', '.join(unknown)}")
        if entry["confidence"] not in ("V", "P", "U"):
            raise RestrictionError(f"{where}: confidence {entry['confidence']!r} must be one of V, P, U")
        matters = _names(entry, "matters", ENTITY_MATTERS, where)
        lists_ = _names(entry, "lists", LIST_TYPES, where)
        tiers = _names(entry, "tiers", TIERS, where)
        if not matters:
            raise RestrictionError(f"{where}: matters must name at least one matter")
        if not lists_ and not tiers:
            raise RestrictionError(f"{where}: nobody qualifies (lists and tiers are both empty)")
        if any(m.code == entry["code"] for m in out):
            raise RestrictionError(f"{where}: code {entry['code']!r} defined twice")
        out.append(
            Incentive(
                **{f: entry[f] for f in _INCENTIVE_TEXT},
                matters=matters,
                lists=lists_,
                tiers=tiers,
                accepts_missing_documents=_flags(entry, _INCENTIVE_FLAGS, where)["accepts_missing_documents"],
            )
        )
    return IncentiveCatalog(tuple(out), withheld, source if withheld else "")


def load_incentives(path: Path | None = None) -> IncentiveCatalog:
    """The incentives of the catalog file at ``path`` (the shipped one when None)."""
    if path is None:
        return default_incentives()
    try:
        return parse_incentives(path.read_text(encoding="utf-8"), origin=str(path))
    except OSError as exc:
        raise RestrictionError(f"{path}: cannot read the restriction catalog ({exc.strerror})") from None


@lru_cache(maxsize=1)
def default_incentives() -> IncentiveCatalog:
    text = (
        resources.files("supervision.lifecycle")
        .joinpath("policy", "restrictions.toml")
        .read_text(encoding="utf-8")
    )
    return parse_incentives(text, origin="supervision/lifecycle/policy/restrictions.toml")


def _incentive_row(m: Incentive) -> dict[str, Any]:
    return {
        "code": m.code,
        "name_zh": m.name_zh,
        "name_en": m.name_en,
        "basis": m.basis,
        "confidence": m.confidence,
        "accepts_missing_documents": m.accepts_missing_documents,
    }


def incentive_frame(catalog: IncentiveCatalog | None = None) -> pl.DataFrame:
    """The incentive catalog as a table (one row per incentive; matters, lists and tiers as lists)."""
    rows = [
        {**_incentive_row(m), "matters": list(m.matters), "lists": list(m.lists), "tiers": list(m.tiers)}
        for m in (catalog or default_incentives()).measures
    ]
    schema: dict[str, pl.DataType] = {f: pl.String() for f in _INCENTIVE_TEXT}
    schema["accepts_missing_documents"] = pl.Boolean()
    schema.update({f: pl.List(pl.String) for f in _INCENTIVE_LISTS})
    return pl.DataFrame(rows, schema=schema)


def incentives_for(
    catalog: IncentiveCatalog, *, matter: str, statuses: list[dict[str, Any]], tier: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The incentives of ``matter`` the entity qualifies for (each with ``qualified_by``), and why none is
    given when a list withholds them all (else None)."""
    active = {s["list_type"] for s in statuses}
    withheld = sorted(active & set(catalog.withheld_by_lists))
    if withheld:
        return [], f"on the {', '.join(withheld)} list: no incentive is given ({catalog.withheld_source})"
    out = []
    for m in catalog.measures:
        why = m.qualified_by(active, tier) if matter in m.matters else []
        if why:
            out.append({**_incentive_row(m), "qualified_by": why})
    return out, None


def missing_documents_answer(
    catalog: IncentiveCatalog, *, matter: str, documents: list[str], granted: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Whether the documents named as missing are accepted (容缺受理): only through a granted incentive that
    accepts missing documents; otherwise they are required, and the answer says why."""
    if not documents:
        return None
    allowing = next((g for g in granted if g["accepts_missing_documents"]), None)
    if allowing is not None:
        return {
            "documents": documents,
            "accepted": True,
            "incentive": allowing["code"],
            "basis": allowing["basis"],
            "reason": f"{allowing['name_zh']} granted ({', '.join(allowing['qualified_by'])}): "
            "the documents may follow the application",
        }
    rule = next((m for m in catalog.measures if m.accepts_missing_documents and matter in m.matters), None)
    reason = (
        f"required: matter {matter} allows 容缺受理 only for {rule.who()}, and the entity qualifies by "
        "neither (or is on a list that withholds incentives)"
        if rule is not None
        else f"required: matter {matter} does not allow 容缺受理"
    )
    return {
        "documents": documents,
        "accepted": False,
        "incentive": None,
        "basis": None if rule is None else rule.basis,
        "reason": reason,
    }


class CheckRecord(Base):
    """One check made by another government system (query mode), with what it answered."""

    __tablename__ = "check_records"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    caller: Mapped[str] = mapped_column(sa.String(200), index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    matter: Mapped[str] = mapped_column(sa.String(32))
    on: Mapped[date] = mapped_column(sa.Date)
    restricted: Mapped[bool] = mapped_column(sa.Boolean)
    tier: Mapped[str | None] = mapped_column(sa.String(8))
    result_sha256: Mapped[str] = mapped_column(sa.String(64))


@dataclass(frozen=True)
class CheckResult:
    """The answer to one check."""

    check_id: int
    uscc: str
    matter: str
    on: date
    tier: str | None
    score_as_of: date | None
    lists: list[dict[str, Any]]
    restrictions: list[dict[str, Any]]
    persons: list[dict[str, Any]]
    incentives: list[dict[str, Any]]
    incentives_withheld: str | None
    missing_documents: dict[str, Any] | None

    @property
    def restricted(self) -> bool:
        return bool(self.restrictions)

    @property
    def no_commitment(self) -> list[dict[str, Any]]:
        """The restrictions that answer 不适用告知承诺制 for this matter."""
        return [r for r in self.restrictions if r["no_commitment"]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "uscc": self.uscc,
            "matter": self.matter,
            "on": self.on,
            "tier": self.tier,
            "score_as_of": self.score_as_of,
            "restricted": self.restricted,
            "lists": self.lists,
            "restrictions": self.restrictions,
            "persons": self.persons,
            "incentives": self.incentives,
            "incentives_withheld": self.incentives_withheld,
            "missing_documents": self.missing_documents,
        }


def list_statuses(
    session: Session, sources: Mapping[str, pl.LazyFrame], *, uscc: str, on: date
) -> list[dict[str, Any]]:
    """Entries of ``uscc`` active on ``on``: the lake's (objections and repairs applied) and open cases."""
    lake_rows = (
        lists.lake_entries_active(sources, uscc=uscc, on=on)
        .select("entry_id", "list_type", "listed_on", "planned_end", "authority", "basis_document_no")
        .sort("listed_on", "entry_id")
        .collect()
        .to_dicts()
    )
    out = [{**r, "source": "lake"} for r in lake_rows]
    known = {r["entry_id"] for r in out}
    for case in lists.active_cases(session, uscc=uscc, on=on):
        if case.case_id not in known:
            out.append(
                {
                    "entry_id": case.case_id,
                    "list_type": case.list_type,
                    "listed_on": case.listed_on,
                    "planned_end": case.max_end,
                    "authority": case.department,
                    "basis_document_no": case.basis_document_no,
                    "source": "case",
                }
            )
    return out


def check(
    session: Session,
    sources: Mapping[str, pl.LazyFrame],
    *,
    caller: Actor,
    uscc: str,
    matter: str,
    on: date,
    scores: ScoreLookup | None = None,
    measures: tuple[Measure, ...] | None = None,
    incentives: IncentiveCatalog | None = None,
    missing_documents: list[str] | None = None,
) -> CheckResult:
    """Restrictions and incentives for ``uscc`` and ``matter`` on ``on``, with list statuses, the tier and
    the date of its score, and the answer on documents named as missing (容缺受理); recorded."""
    if not uscc_is_valid(uscc):
        raise RestrictionError(f"uscc {uscc!r}: not a valid unified social credit code (GB 32100)")
    if matter not in MATTERS:
        raise RestrictionError(f"matter {matter!r}: expected one of {', '.join(MATTERS)}")
    measures = measures or default_catalog()
    incentives = incentives or default_incentives()
    documents = _documents(missing_documents)
    statuses = list_statuses(session, sources, uscc=uscc, on=on)
    active_types = {s["list_type"] for s in statuses}
    applicable = [m for m in measures if m.matter == matter and m.list_type in active_types]
    restrictions = [
        asdict(m) for m in sorted(applicable, key=lambda m: (m.list_type, m.subject, m.restriction))
    ]
    persons: list[dict[str, Any]] = []
    if any(m.subject == "person" for m in applicable):
        persons = lists.accountable_persons(sources, uscc=uscc, on=on)
    scored = scores(uscc) if scores is not None else None
    tier, score_as_of = scored if scored is not None else (None, None)
    granted, withheld = incentives_for(incentives, matter=matter, statuses=statuses, tier=tier)
    documents_answer = missing_documents_answer(
        incentives, matter=matter, documents=documents, granted=granted
    )
    payload = {
        "uscc": uscc,
        "matter": matter,
        "on": on.isoformat(),
        "tier": tier,
        "score_as_of": None if score_as_of is None else score_as_of.isoformat(),
        "lists": [{k: str(v) if isinstance(v, date) else v for k, v in s.items()} for s in statuses],
        "restrictions": restrictions,
        "persons": persons,
        "incentives": granted,
        "incentives_withheld": withheld,
        "missing_documents": documents_answer,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    record = CheckRecord(
        at=instant(caller.at),
        caller=caller.name,
        uscc=uscc,
        matter=matter,
        on=on,
        restricted=bool(restrictions),
        tier=tier,
        result_sha256=digest,
    )
    session.add(record)
    session.flush()
    return CheckResult(
        check_id=record.id,
        uscc=uscc,
        matter=matter,
        on=on,
        tier=tier,
        score_as_of=score_as_of,
        lists=statuses,
        restrictions=restrictions,
        persons=persons,
        incentives=granted,
        incentives_withheld=withheld,
        missing_documents=documents_answer,
    )


def _documents(named: list[str] | None) -> list[str]:
    """The missing documents named, stripped, in the order given; empty names and repeats refused."""
    out: list[str] = []
    for i, doc in enumerate(named or []):
        text = doc.strip() if isinstance(doc, str) else ""
        if not text:
            raise RestrictionError(f"missing_documents[{i}]: empty document name", field="missing_documents")
        if text in out:
            raise RestrictionError(f"missing_documents[{i}]: {text!r} named twice", field="missing_documents")
        out.append(text)
    return out
