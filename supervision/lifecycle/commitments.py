"""Credit commitments (信用承诺): templates per matter, commitments, fulfilment, breach → record and
interview.

A template that stands in for a licence condition or a proof (告知承诺, ``check_matter`` set) is made only
after the embedded check of that matter (:func:`supervision.lifecycle.restrictions.check`) and is refused,
with the rule and the day the exclusion ends, for an entity on a list of ``[enforcement] refused_lists``, for
one with a breach within the ``commitment.breach_exclusion`` period, and where the check answers
不适用告知承诺制.

pending → fulfilled | breached; a breached commitment may lead to an interview (约谈). The final state goes
into the lake as a ``commitments`` row (features count breaches), an interview as an ``interviews`` row.
The public export (the 信用承诺 column) masks the signatory's name with the masker the caller passes and
replaces any ID number written into free text by its masked form.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from features.catalog import COMMITMENTS, LIST_TYPES
from features.lifecycle import lifecycle_sources
from features.uscc import is_valid as uscc_is_valid
from supervision.lifecycle.records import Lake, write_rows
from supervision.lifecycle.regimes import CONFIDENCES, UNITS, Policy, Rule, default_policy
from supervision.lifecycle.restrictions import MATTERS, CheckResult
from supervision.lifecycle.workflow import Actor, StateMachine, case_id, get_row, instant
from supervision.platform import masking
from supervision.platform.db import Base
from supervision.platform.errors import DomainError

__all__ = [
    "MACHINE",
    "Commitment",
    "CommitmentError",
    "Enforcement",
    "Template",
    "breach",
    "fulfil",
    "interview",
    "load_enforcement",
    "load_templates",
    "make",
    "public_export",
    "refusals",
]

MACHINE = StateMachine(
    "commitment",
    {"pending": {"fulfil": "fulfilled", "breach": "breached"}, "breached": {"interview": "interviewed"}},
)
_TYPES = COMMITMENTS.field("commitment_type").enum or ()
# 18-character GB 11643 numbers (and 15-digit old ones) anywhere in free text.


class CommitmentError(DomainError, ValueError):
    """A commitment that cannot be made or changed as asked."""


@dataclass(frozen=True, slots=True)
class Template:
    matter: str
    title: str
    commitment_type: str
    due_days: int
    text: str
    # The check matter of a 告知承诺: making it runs the embedded check of that matter first.
    check_matter: str | None = None


BREACH_EXCLUSION = "commitment.breach_exclusion"
_RULE_FIELDS = ("kind", "regime", "effective_from", "value", "unit", "source", "confidence")


@dataclass(frozen=True, slots=True)
class Enforcement:
    """Who may not make a checked commitment: entities on ``refused_lists`` (because of ``source``) and,
    for the period of the exclusion rule in force, entities with a breached commitment."""

    refused_lists: tuple[str, ...]
    source: str
    exclusions: tuple[Rule, ...]

    def exclusion(self, on: date) -> Rule | None:
        """The breach exclusion in force on ``on`` (latest ``effective_from`` ≤ on), or None."""
        in_force = [r for r in self.exclusions if r.effective_from <= on]
        return max(in_force, key=lambda r: r.effective_from) if in_force else None


def _exclusion(entry: Any, where: str) -> Rule:
    if not isinstance(entry, dict) or sorted(entry) != sorted(_RULE_FIELDS):
        raise CommitmentError(f"{where}: expected exactly the fields {', '.join(_RULE_FIELDS)}")
    if entry["kind"] != BREACH_EXCLUSION:
        raise CommitmentError(f"{where}: kind {entry['kind']!r} must be {BREACH_EXCLUSION!r}")
    if not isinstance(entry["effective_from"], date):
        raise CommitmentError(f"{where}: effective_from must be a TOML date (YYYY-MM-DD)")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CommitmentError(f"{where}: value {value!r} must be a whole number ≥ 0")
    if entry["unit"] not in UNITS or entry["unit"] == "yuan":
        raise CommitmentError(f"{where}: unit {entry['unit']!r} must be a period ({', '.join(UNITS[:-1])})")
    if entry["confidence"] not in CONFIDENCES:
        raise CommitmentError(f"{where}: confidence {entry['confidence']!r} must be one of V, P, U")
    if not isinstance(entry["source"], str) or not entry["source"].strip():
        raise CommitmentError(f"{where}: source must be a non-empty string")
    return Rule(**{f: entry[f] for f in _RULE_FIELDS})


def _parse_enforcement(text: str, origin: str) -> Enforcement:
    data = tomllib.loads(text)
    head = data.get("enforcement", {})
    if not isinstance(head, dict) or sorted(head) != ["confidence", "refused_lists", "source"]:
        raise CommitmentError(
            f"{origin}: [enforcement] must have exactly refused_lists, source and confidence"
        )
    refused = head["refused_lists"]
    if not isinstance(refused, list) or any(t not in LIST_TYPES for t in refused):
        raise CommitmentError(
            f"{origin} [enforcement]: refused_lists {refused!r} must be a list of {', '.join(LIST_TYPES)}"
        )
    if head["confidence"] not in CONFIDENCES:
        raise CommitmentError(f"{origin} [enforcement]: confidence must be one of V, P, U")
    rules = tuple(_exclusion(e, f"{origin} exclusion[{i}]") for i, e in enumerate(data.get("exclusion", [])))
    return Enforcement(refused_lists=tuple(refused), source=str(head["source"]), exclusions=rules)


def _parse(text: str, origin: str) -> dict[str, Template]:
    out: dict[str, Template] = {}
    for i, entry in enumerate(tomllib.loads(text).get("template", [])):
        where = f"{origin} template[{i}]"
        try:
            t = Template(**entry)
        except TypeError as exc:
            raise CommitmentError(f"{where}: {exc}") from None
        if t.commitment_type not in _TYPES:
            raise CommitmentError(
                f"{where}: commitment_type {t.commitment_type!r} must be one of {', '.join(_TYPES)}"
            )
        if t.check_matter is not None and t.check_matter not in MATTERS:
            raise CommitmentError(
                f"{where}: check_matter {t.check_matter!r} must be one of {', '.join(MATTERS)}"
            )
        if t.matter in out:
            raise CommitmentError(f"{where}: matter {t.matter!r} defined twice")
        out[t.matter] = t
    return out


def load_templates(path: Path | None = None) -> dict[str, Template]:
    if path is None:
        return _default_templates()
    return _parse(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def _default_templates() -> dict[str, Template]:
    return _parse(_default_text(), "supervision/lifecycle/policy/commitments.toml")


def _default_text() -> str:
    return (
        resources.files("supervision.lifecycle")
        .joinpath("policy", "commitments.toml")
        .read_text(encoding="utf-8")
    )


def load_enforcement(path: Path | None = None) -> Enforcement:
    """The ``[enforcement]`` table and ``[[exclusion]]`` rules of the commitments file (shipped when None)."""
    if path is None:
        return _default_enforcement()
    return _parse_enforcement(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def _default_enforcement() -> Enforcement:
    return _parse_enforcement(_default_text(), "supervision/lifecycle/policy/commitments.toml")


def _entry_end(status: Mapping[str, Any], policy: Policy) -> tuple[date | None, str]:
    """The day a list entry ends at the latest and why: its planned end, else the list's maximum period."""
    if status.get("planned_end") is not None:
        return status["planned_end"], "its planned end"
    listed_on = status.get("listed_on")
    rule = policy.in_force(f"list.max.{status['list_type']}", on=listed_on) if listed_on else None
    if rule is None or listed_on is None:
        return None, "no end is set: until it exits the list or is repaired"
    return rule.end(listed_on), f"the list's maximum period, {rule.value} {rule.unit} ({rule.source})"


def breaches(sources: Mapping[str, pl.LazyFrame], *, uscc: str, on: date) -> list[tuple[str, date]]:
    """The entity's breached commitments determined on or before ``on``, as the features see them (a breach
    determination revoked on objection is gone): (commitment_id, breach day), oldest first."""
    seen = lifecycle_sources(sources, as_of=on + timedelta(days=1))["commitments"]
    rows = (
        seen.filter(
            (pl.col("uscc") == uscc)
            & (pl.col("fulfilment") == "breached")
            & pl.col("fulfilment_on").is_not_null()
            & (pl.col("fulfilment_on") <= on)
        )
        .select("commitment_id", "fulfilment_on")
        .unique()
        .sort("fulfilment_on", "commitment_id")
        .collect()
    )
    return list(rows.iter_rows())


def refusals(
    check: CheckResult,
    sources: Mapping[str, pl.LazyFrame],
    *,
    on: date,
    enforcement: Enforcement | None = None,
    policy: Policy | None = None,
) -> list[str]:
    """Why the entity of ``check`` (the embedded check of a template's ``check_matter``) may not make that
    commitment on ``on`` (empty: it may), each reason naming the rule and the day the exclusion ends."""
    enforcement = enforcement or load_enforcement()
    policy = policy or default_policy()
    out = []
    for status in check.lists:
        if status["list_type"] in enforcement.refused_lists:
            end, why = _entry_end(status, policy)
            until = f"until {end.isoformat()} ({why})" if end is not None else f"({why})"
            out.append(
                f"on the {status['list_type']} list (entry {status['entry_id']}, listed "
                f"{status['listed_on']}) {until}: 告知承诺制 does not apply to an entity on a severe "
                f"dishonesty list ({enforcement.source})"
            )
    rule = enforcement.exclusion(on)
    if rule is not None:
        for commitment_id, day in breaches(sources, uscc=check.uscc, on=on):
            end = rule.end(day)
            if on < end:
                out.append(
                    f"commitment {commitment_id} breached on {day.isoformat()}: no 告知承诺 until "
                    f"{end.isoformat()} ({BREACH_EXCLUSION}: {rule.value} {rule.unit}; {rule.source})"
                )
    for measure in check.no_commitment:
        out.append(
            f"the check answers 不适用告知承诺制 for matter {check.matter} ({measure['list_type']}: "
            f"{measure['restriction']}; {measure['basis']})"
        )
    return out


class Commitment(Base):
    """One commitment made by one entity."""

    __tablename__ = "credit_commitments"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'fulfilled', 'breached', 'interviewed')", name="status"),
    )

    commitment_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    matter: Mapped[str] = mapped_column(sa.String(64))
    commitment_type: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    licence_id: Mapped[str | None] = mapped_column(sa.String(128))
    signatory: Mapped[str | None] = mapped_column(sa.String(100))
    department: Mapped[str] = mapped_column(sa.String(128), index=True)
    made_on: Mapped[date] = mapped_column(sa.Date)
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    determined_on: Mapped[date | None] = mapped_column(sa.Date)
    breach_facts: Mapped[str | None] = mapped_column(sa.Text)
    interviewed_on: Mapped[date | None] = mapped_column(sa.Date)
    updated_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns if c.name != "updated_at"}


def _commitment_id(uscc: str, matter: str, made_on: date, licence_id: str | None) -> str:
    return case_id("CMT", uscc, matter, made_on, licence_id)


def get(session: Session, commitment_id: str) -> Commitment:
    return get_row(session, Commitment, commitment_id, "commitment")


def make(
    session: Session,
    *,
    actor: Actor,
    uscc: str,
    matter: str,
    department: str,
    made_on: date,
    licence_id: str | None = None,
    signatory: str | None = None,
    templates: dict[str, Template] | None = None,
    check: CheckResult | None = None,
    sources: Mapping[str, pl.LazyFrame] | None = None,
    enforcement: Enforcement | None = None,
    policy: Policy | None = None,
) -> Commitment:
    """Record a commitment on the template of ``matter``; its deadline is ``made_on + due_days``.

    A template with a ``check_matter`` needs ``check`` (the embedded check of that matter for ``uscc`` on
    ``made_on``) and the lake's ``sources``; it is refused when :func:`refusals` gives any reason."""
    templates = templates or load_templates()
    if not uscc_is_valid(uscc):
        raise CommitmentError(f"uscc {uscc!r}: not a valid unified social credit code (GB 32100)")
    if matter not in templates:
        raise CommitmentError(f"matter {matter!r}: no template; templates: {', '.join(sorted(templates))}")
    if not department.strip():
        raise CommitmentError("department: required")
    t = templates[matter]
    if t.check_matter is not None:
        if check is None or sources is None:
            raise CommitmentError(
                f"matter {matter!r}: a 告知承诺 is made only after the embedded check of {t.check_matter}"
            )
        if (check.uscc, check.matter, check.on) != (uscc, t.check_matter, made_on):
            raise CommitmentError(
                f"check {check.check_id} is of {check.uscc} / {check.matter} on {check.on.isoformat()}, "
                f"not of {uscc} / {t.check_matter} on {made_on.isoformat()}"
            )
        refused = refusals(check, sources, on=made_on, enforcement=enforcement, policy=policy)
        if refused:
            raise CommitmentError(
                f"uscc {uscc}: commitment on {matter} ({t.title}) refused: " + "; ".join(refused),
                field="uscc",
            )
    cid = _commitment_id(uscc, matter, made_on, licence_id)
    if session.get(Commitment, cid) is not None:
        raise CommitmentError(f"commitment {cid}: already made")
    row = Commitment(
        commitment_id=cid,
        uscc=uscc,
        matter=matter,
        commitment_type=t.commitment_type,
        title=t.title,
        text=t.text,
        licence_id=licence_id,
        signatory=signatory,
        department=department,
        made_on=made_on,
        due_on=made_on + timedelta(days=t.due_days) if t.due_days else None,
        status="pending",
        updated_at=instant(actor.at),
    )
    session.add(row)
    session.flush()
    MACHINE.record(
        session, actor=actor, object_id=cid, action="make", before=None, after="pending", on=made_on
    )
    return row


def _final(session: Session, row: Commitment, action: str, actor: Actor, on: date, lake: Lake | None) -> None:
    after = MACHINE.next_state(row.commitment_id, row.status, action)
    if on < row.made_on:
        raise CommitmentError(f"commitment {row.commitment_id}: {on.isoformat()} is before it was made")
    before, row.status, row.determined_on, row.updated_at = row.status, after, on, instant(actor.at)
    if lake is not None:
        write_rows(
            lake,
            "commitments",
            [
                {
                    "commitment_id": row.commitment_id,
                    "uscc": row.uscc,
                    "commitment_type": row.commitment_type,
                    "matter": row.title,
                    "licence_id": row.licence_id,
                    "made_on": row.made_on,
                    "due_on": row.due_on,
                    "fulfilment": after,
                    "fulfilment_on": on,
                }
            ],
            source=f"commitment-{row.commitment_id}",
            today=on,
        )
    MACHINE.record(
        session, actor=actor, object_id=row.commitment_id, action=action, before=before, after=after, on=on
    )


def fulfil(
    session: Session, commitment_id: str, *, actor: Actor, on: date, lake: Lake | None = None
) -> Commitment:
    row = get(session, commitment_id)
    _final(session, row, "fulfil", actor, on, lake)
    return row


def breach(
    session: Session, commitment_id: str, *, actor: Actor, on: date, facts: str, lake: Lake | None = None
) -> Commitment:
    """A breach becomes a record (the lake row with fulfilment ``breached``) the features count."""
    if not facts.strip():
        raise CommitmentError(f"commitment {commitment_id}: the facts of the breach are required")
    row = get(session, commitment_id)
    _final(session, row, "breach", actor, on, lake)
    row.breach_facts = facts
    return row


def interview(
    session: Session, commitment_id: str, *, actor: Actor, on: date, reason: str, lake: Lake | None = None
) -> Commitment:
    """The department's interview after a breach (optional follow-up of the breach)."""
    row = get(session, commitment_id)
    after = MACHINE.next_state(commitment_id, row.status, "interview")
    assert row.determined_on is not None
    if on < row.determined_on:
        raise CommitmentError(f"commitment {commitment_id}: the interview cannot precede the breach")
    before, row.status, row.interviewed_on = row.status, after, on
    if lake is not None:
        write_rows(
            lake,
            "interviews",
            [
                {
                    "interview_id": f"INT-{commitment_id}",
                    "uscc": row.uscc,
                    "held_on": on,
                    "authority": row.department,
                    "reason": reason,
                    "related_record": commitment_id,
                }
            ],
            source=f"interview-{commitment_id}",
            today=on,
        )
    MACHINE.record(
        session, actor=actor, object_id=commitment_id, action="interview", before=before, after=after, on=on
    )
    return row


PUBLIC_COLUMNS = (
    "commitment_id",
    "uscc",
    "title",
    "text",
    "licence_id",
    "signatory",
    "made_on",
    "due_on",
    "status",
    "determined_on",
)


def public_export(session: Session, *, mask_name: Callable[[str], str]) -> pl.DataFrame:
    """The 信用承诺 column: every commitment, signatory masked, ID numbers in text masked; deterministic
    order."""
    rows = session.scalars(sa.select(Commitment).order_by(Commitment.made_on, Commitment.commitment_id))
    out = []
    for r in rows:
        d = {c: getattr(r, c) for c in PUBLIC_COLUMNS}
        d["signatory"] = mask_name(r.signatory) if r.signatory else None
        d["text"] = masking.mask_free_text(r.text)
        out.append(d)
    schema = {c: pl.String for c in PUBLIC_COLUMNS} | {
        "made_on": pl.Date,
        "due_on": pl.Date,
        "determined_on": pl.Date,
    }
    return pl.DataFrame(out, schema=schema)
