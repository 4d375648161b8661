"""The embedded check (逢办必查): the catalog of restriction measures and ``check(uscc, matter)``.

The catalog (惩戒措施清单, ``supervision/lifecycle/policy/restrictions.toml`` or a replacement file) maps list
type × business matter → restriction and legal basis, for the entity or for its legal representative and
actual controller. ``check`` returns in one call the restrictions that apply today, the entity's list statuses
(lake entries as the features see them, plus open cases of the lists workflow) and its tier from the
``tiers`` lookup passed in (None until scoring runs), and records the check (query mode). Triggered mode is
the lists outbox (:func:`supervision.lifecycle.lists.events_after`).
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
    "Measure",
    "RestrictionError",
    "check",
    "default_catalog",
    "load_catalog",
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
TierLookup = Callable[[str], str | None]


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


def parse_catalog(text: str, *, origin: str) -> tuple[Measure, ...]:
    """Measures from TOML text; errors name ``origin measure[i]`` and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RestrictionError(f"{origin}: not valid TOML ({exc})") from None
    out = []
    seen = set()
    for i, entry in enumerate(data.get("measure", [])):
        where = f"{origin} measure[{i}]"
        missing = [f for f in _FIELDS if not isinstance(entry.get(f), str) or not entry[f].strip()]
        if missing:
            raise RestrictionError(f"{where}: missing or empty field(s) {', '.join(missing)}")
        unknown = sorted(set(entry) - set(_FIELDS))
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
        measure = Measure(**{f: entry[f] for f in _FIELDS})
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
    return pl.DataFrame(rows, schema={f: pl.String for f in _FIELDS}).sort("list_type", "matter", "subject")


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
    lists: list[dict[str, Any]]
    restrictions: list[dict[str, Any]]
    persons: list[dict[str, Any]]

    @property
    def restricted(self) -> bool:
        return bool(self.restrictions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "uscc": self.uscc,
            "matter": self.matter,
            "on": self.on,
            "tier": self.tier,
            "restricted": self.restricted,
            "lists": self.lists,
            "restrictions": self.restrictions,
            "persons": self.persons,
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
    tiers: TierLookup | None = None,
    measures: tuple[Measure, ...] | None = None,
) -> CheckResult:
    """Restrictions for ``uscc`` and ``matter`` on ``on``, with list statuses and tier; recorded."""
    if not uscc_is_valid(uscc):
        raise RestrictionError(f"uscc {uscc!r}: not a valid unified social credit code (GB 32100)")
    if matter not in MATTERS:
        raise RestrictionError(f"matter {matter!r}: expected one of {', '.join(MATTERS)}")
    measures = measures or default_catalog()
    statuses = list_statuses(session, sources, uscc=uscc, on=on)
    active_types = {s["list_type"] for s in statuses}
    applicable = [m for m in measures if m.matter == matter and m.list_type in active_types]
    restrictions = [
        asdict(m) for m in sorted(applicable, key=lambda m: (m.list_type, m.subject, m.restriction))
    ]
    persons: list[dict[str, Any]] = []
    if any(m.subject == "person" for m in applicable):
        persons = lists.accountable_persons(sources, uscc=uscc, on=on)
    tier = tiers(uscc) if tiers is not None else None
    payload = {
        "uscc": uscc,
        "matter": matter,
        "on": on.isoformat(),
        "tier": tier,
        "lists": [{k: str(v) if isinstance(v, date) else v for k, v in s.items()} for s in statuses],
        "restrictions": restrictions,
        "persons": persons,
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
        lists=statuses,
        restrictions=restrictions,
        persons=persons,
    )
