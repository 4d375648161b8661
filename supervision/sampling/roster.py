"""The inspector roster (执法检查人员名录库): import from CSV/XLSX, activate, list, and who an inspector
is."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from features.identity import is_valid as id_number_is_valid
from features.identity import person_key as make_person_key
from features.uscc import is_valid as uscc_is_valid
from supervision.sampling.assignment import DECLARED_SCHEMA
from supervision.sampling.errors import SamplingInputError, UnknownInspectorError
from supervision.sampling.tables import Inspector, utcnow

__all__ = [
    "import_inspectors",
    "inspector_of",
    "inspectors_frame",
    "list_inspectors",
    "read_table_file",
    "set_inspector_active",
]


def read_table_file(path: Path) -> pl.DataFrame:
    """A CSV (UTF-8, with or without BOM) or XLSX (first sheet, header row) file as strings."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".xlsx", ".xlsm"}:
        raise SamplingInputError(f"{path}: unsupported file type {suffix!r}; expected .csv or .xlsx")
    try:
        return _read_csv(path) if suffix == ".csv" else _read_xlsx(path)
    except Exception as exc:  # whatever a damaged or mislabelled file raises: one clear refusal
        raise SamplingInputError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from exc


def _read_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")


def _read_xlsx(path: Path) -> pl.DataFrame:
    import openpyxl  # imported here: only this path needs it

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        return pl.DataFrame()
    header = [str(h).strip() for h in rows[0]]
    data = {h: [None if r[i] is None else str(r[i]) for r in rows[1:]] for i, h in enumerate(header)}
    return pl.DataFrame(data, schema=dict.fromkeys(header, pl.String()))


_TRUE = {"true", "1", "yes", "y", "是", "在岗", "active"}
_FALSE = {"false", "0", "no", "n", "否", "离岗", "inactive"}
# The columns' widths (tables.Inspector): a longer value is refused by its line, not by the database.
_LIMITS = {"inspector_id": 64, "name": 128, "department": 128, "division_code": 12, "person_key": 64}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in re.split(r"[;；]", value or "") if v.strip()]


def import_inspectors(
    session: Session, roster: pl.DataFrame, *, salt: str, allow: Iterable[str] = ()
) -> dict[str, int]:
    """Insert or replace inspectors from a roster frame (all rows checked before anything is written).

    Columns: inspector_id, name, department, division_code, qualifications (';'-separated), active, and
    optionally person_key or id_number (hashed with ``salt``; the raw number is not stored),
    conflict_usccs, conflict_person_keys, conflict_id_numbers (';'-separated). ``allow``: genuine USCCs
    that fail the check character (settings.uscc_allow_list).
    """
    required = ["inspector_id", "name", "department", "division_code", "qualifications", "active"]
    missing = [c for c in required if c not in roster.columns]
    if missing:
        raise SamplingInputError(f"inspector roster: missing columns {missing}; required {required}")
    rows = roster.cast(pl.String).to_dicts()
    seen: set[str] = set()
    parsed: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"inspector roster line {line}"
        iid = (row["inspector_id"] or "").strip()
        if not iid:
            raise SamplingInputError(f"{where}: inspector_id is required")
        if iid in seen:
            raise SamplingInputError(f"{where}: inspector_id {iid!r} appears twice")
        seen.add(iid)
        if len(iid) > _LIMITS["inspector_id"]:
            raise SamplingInputError(
                f"{where}: inspector_id is longer than {_LIMITS['inspector_id']} characters"
            )
        for col in ("name", "department", "division_code"):
            if not (row[col] or "").strip():
                raise SamplingInputError(f"{where} ({iid}): {col} is required")
            if len(row[col].strip()) > _LIMITS[col]:
                raise SamplingInputError(f"{where} ({iid}): {col} is longer than {_LIMITS[col]} characters")
        active_text = (row["active"] or "").strip().lower()
        if active_text not in _TRUE | _FALSE:
            raise SamplingInputError(
                f"{where} ({iid}): active {row['active']!r} is not one of true/false/是/否"
            )
        quals = _split(row["qualifications"])
        if not quals:
            raise SamplingInputError(f"{where} ({iid}): qualifications must list at least one check item")
        key = (row.get("person_key") or "").strip() or None
        if key is not None and len(key) > _LIMITS["person_key"]:
            raise SamplingInputError(
                f"{where} ({iid}): person_key is longer than {_LIMITS['person_key']} characters"
            )
        number = (row.get("id_number") or "").strip()
        if number:
            if not id_number_is_valid(number):
                raise SamplingInputError(f"{where} ({iid}): id_number fails the GB 11643 check")
            key = make_person_key(number, salt=salt)
        conflicts: list[dict[str, str]] = []
        for u in _split(row.get("conflict_usccs")):
            if not uscc_is_valid(u, allow=allow):
                raise SamplingInputError(
                    f"{where} ({iid}): conflict_usccs {u!r} is not a valid USCC (GB 32100)"
                )
            conflicts.append({"uscc": u})
        conflicts += [{"person_key": k} for k in _split(row.get("conflict_person_keys"))]
        for n in _split(row.get("conflict_id_numbers")):
            if not id_number_is_valid(n):
                raise SamplingInputError(
                    f"{where} ({iid}): a conflict_id_numbers entry fails the GB 11643 check"
                )
            conflicts.append({"person_key": make_person_key(n, salt=salt)})
        parsed.append(
            {
                "inspector_id": iid,
                "name": row["name"].strip(),
                "department": row["department"].strip(),
                "division_code": row["division_code"].strip(),
                "qualifications": quals,
                "active": active_text in _TRUE,
                "person_key": key,
                "declared_conflicts": conflicts,
            }
        )
    created = updated = 0
    for values in parsed:
        existing = session.get(Inspector, values["inspector_id"])
        if existing is None:
            session.add(Inspector(**values, updated_at=utcnow()))
            created += 1
        else:
            for k, v in values.items():
                setattr(existing, k, v)
            existing.updated_at = utcnow()
            updated += 1
    session.flush()
    return {"created": created, "updated": updated}


def set_inspector_active(session: Session, inspector_id: str, *, active: bool) -> None:
    """Take an inspector off (or back onto) the roster of those who can be drawn."""
    person = session.get(Inspector, inspector_id)
    if person is None:
        raise UnknownInspectorError(f"no inspector {inspector_id!r} on the roster")
    person.active = active
    person.updated_at = utcnow()
    session.flush()


def inspectors_frame(session: Session) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(inspectors for the assignment, declared conflicts as inspector_id/uscc/person_key rows)."""
    people = session.scalars(sa.select(Inspector).order_by(Inspector.inspector_id)).all()
    inspectors = pl.DataFrame(
        {
            "inspector_id": [p.inspector_id for p in people],
            "person_key": [p.person_key for p in people],
            "active": [p.active for p in people],
            "qualifications": [list(p.qualifications) for p in people],
            "department": [p.department for p in people],
        },
        schema={
            "inspector_id": pl.String(),
            "person_key": pl.String(),
            "active": pl.Boolean(),
            "qualifications": pl.List(pl.String()),
            "department": pl.String(),
        },
    )
    declared = pl.DataFrame(
        [
            {"inspector_id": p.inspector_id, "uscc": c.get("uscc"), "person_key": c.get("person_key")}
            for p in people
            for c in p.declared_conflicts
        ],
        schema=DECLARED_SCHEMA,
    )
    return inspectors, declared


def list_inspectors(session: Session) -> list[Inspector]:
    """The roster, by inspector id."""
    return list(session.scalars(sa.select(Inspector).order_by(Inspector.inspector_id)))


def inspector_of(session: Session, person_id: str | None) -> Inspector | None:
    """The roster's inspector behind an identity's ``person_id``, or None.

    An inspector's token is issued with their roster ``inspector_id`` as its person id (``creditwatch tokens
    create --role inspector --person I03``): the id, not the name — names repeat, ids are the roster's key.
    Inactive inspectors keep the link (they may still record the results of visits they were on).
    """
    if not person_id:
        return None
    return session.get(Inspector, person_id.strip())
