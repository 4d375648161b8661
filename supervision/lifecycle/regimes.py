"""Periods and deadlines of the credit lifecycle, looked up by kind and the regime in force on a date.

The values live in a TOML file (the shipped ``supervision/lifecycle/policy/lifecycle.toml`` or a replacement
named by ``CREDITWATCH_LIFECYCLE_POLICY``), never in code: the national rules changed on 2021-09-01,
2023-05-01 and 2026-04-01 and several values are still unverified (confidence ``U``). A decision is governed
by the rule whose ``effective_from`` is the latest on or before the decision date.

Inside :func:`recording_lookups` a policy notes every key its consumers look up (rule kinds, sets, tables and
their keys): tests/supervision/test_policy_keys.py runs the consumers over a scenario and fails when a key of
the shipped file is read by nothing.
"""

from __future__ import annotations

import calendar as _gregorian
import tomllib
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from supervision.platform.calendar import add_working_days
from supervision.platform.errors import DomainError

__all__ = [
    "CONFIDENCES",
    "LEVELS",
    "UNITS",
    "Policy",
    "PolicyError",
    "Rule",
    "default_policy",
    "load_policy",
    "recording_lookups",
    "rules_for",
]

UNITS = ("working_days", "days", "months", "years", "yuan")
CONFIDENCES = ("V", "P", "U")
_FIELDS = ("kind", "regime", "effective_from", "value", "unit", "source", "confidence")
# Administrative levels of a department (supervision.platform.access.division_level).
LEVELS = ("province", "city", "county")
# SAMR Order 44: a listing by a city- or county-level department is approved before it takes effect. A
# policy file without `[lists] second_approver_levels` keeps this; `[]` turns the second approver off.
DEFAULT_SECOND_APPROVER_LEVELS = ("city", "county")


class PolicyError(DomainError, ValueError):
    """A policy file that cannot be used, or a kind/date it has no rule for."""


# The keys looked up inside `recording_lookups` (None outside: nothing is noted).
_LOOKUPS: ContextVar[set[str] | None] = ContextVar("policy_lookups", default=None)


@contextmanager
def recording_lookups() -> Iterator[set[str]]:
    """Note every policy key looked up inside the block (in this thread): ``rule:<kind>`` for a rule kind,
    ``sets.<name>`` for a set, ``<table>`` and ``<table>.<key>[.<key>…]`` for a table and the keys its
    module reads (``[]`` marks the tables of an array: ``<table>.<key>[].<key>``)."""
    seen: set[str] = set()
    token = _LOOKUPS.set(seen)
    try:
        yield seen
    finally:
        _LOOKUPS.reset(token)


def _note(key: str) -> None:
    seen = _LOOKUPS.get()
    if seen is not None:
        seen.add(key)


def _noting(value: Any, path: str) -> Any:
    """`value` (a table's value at `path`) so that reading its keys is noted: tables and arrays of tables."""
    if isinstance(value, dict):
        return _NotedTable(value, path)
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return [_noting(v, f"{path}[]") for v in value]
    return value


class _NotedTable(dict[str, Any]):
    """A table of the policy file handed out while recording: reading a key (``[]``, ``get``, or every key
    through ``items``/``values`` or a copy) notes its path. A dict, so the modules' own checks accept it."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        super().__init__(data)
        self._path = path

    def _read(self, key: str, value: Any) -> Any:
        _note(f"{self._path}.{key}")
        return _noting(value, f"{self._path}.{key}")

    def __getitem__(self, key: str) -> Any:
        return self._read(key, super().__getitem__(key))

    def __iter__(self) -> Iterator[str]:
        # Not dict's own iterator: `dict(table)` and `{**table}` then copy through `__getitem__` (noted)
        # instead of C's fast path. Iterating alone (`set(table)`, an unknown-key check) notes nothing.
        return iter(list(super().keys()))

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            return default
        return self[key]

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return {k: self._read(k, v) for k, v in super().items()}.items()

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        return {k: self._read(k, v) for k, v in super().items()}.values()


def add_months(start: date, months: int) -> date:
    """``start`` plus whole calendar months; the 31st becomes the last day of a shorter month."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = _gregorian.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


@dataclass(frozen=True, slots=True)
class Rule:
    """One period or deadline: ``value`` ``unit`` from ``effective_from`` on, under ``regime``."""

    kind: str
    regime: str
    effective_from: date
    value: int
    unit: str
    source: str
    confidence: str

    def end(self, start: date) -> date:
        """The day the period that begins on ``start`` ends (deadline day for working days, day 1 = next
        WD)."""
        if self.unit == "working_days":
            return add_working_days(start, self.value)
        if self.unit == "days":
            return start + timedelta(days=self.value)
        if self.unit == "months":
            return add_months(start, self.value)
        if self.unit == "years":
            return add_months(start, 12 * self.value)
        raise PolicyError(
            f"rule {self.kind!r} ({self.regime}): unit {self.unit!r} is an amount, not a period"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "regime": self.regime,
            "effective_from": self.effective_from.isoformat(),
            "value": self.value,
            "unit": self.unit,
            "source": self.source,
            "confidence": self.confidence,
        }


def _rule(entry: Any, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise PolicyError(f"{where}: expected a table of {', '.join(_FIELDS)}")
    missing = [f for f in _FIELDS if f not in entry]
    if missing:
        raise PolicyError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise PolicyError(f"{where}: unknown field(s) {', '.join(unknown)}")
    if not isinstance(entry["effective_from"], date):
        raise PolicyError(f"{where}: effective_from must be a TOML date (YYYY-MM-DD)")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{where}: value {value!r} must be a whole number ≥ 0")
    if entry["unit"] not in UNITS:
        raise PolicyError(f"{where}: unit {entry['unit']!r} must be one of {', '.join(UNITS)}")
    if entry["confidence"] not in CONFIDENCES:
        raise PolicyError(f"{where}: confidence {entry['confidence']!r} must be one of V, P, U")
    for name in ("kind", "regime", "source"):
        if not isinstance(entry[name], str) or not entry[name].strip():
            raise PolicyError(f"{where}: {name} must be a non-empty string")
    return Rule(
        kind=entry["kind"],
        regime=entry["regime"],
        effective_from=entry["effective_from"],
        value=value,
        unit=entry["unit"],
        source=entry["source"],
        confidence=entry["confidence"],
    )


@dataclass(frozen=True)
class Policy:
    """Every rule of a policy file, by kind in effective-date order."""

    rules: tuple[Rule, ...]
    origin: str
    # Named sets of catalog values, e.g. the penalty kinds whose publicity never stops early.
    sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Levels of the listing department at which a listing needs a second approver (四眼原则); read through
    # the property `second_approver_levels`.
    approver_levels: tuple[str, ...] = DEFAULT_SECOND_APPROVER_LEVELS
    # Every other top-level table of the file (e.g. a list's criteria, the repair regime of an authority),
    # each parsed and checked by the module that uses it through :meth:`section`.
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[tuple[str, date]] = set()
        for r in self.rules:
            if (r.kind, r.effective_from) in seen:
                raise PolicyError(
                    f"{self.origin}: two rules for {r.kind!r} take effect on {r.effective_from.isoformat()}"
                )
            seen.add((r.kind, r.effective_from))

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({r.kind for r in self.rules}))

    @property
    def second_approver_levels(self) -> tuple[str, ...]:
        """`[lists] second_approver_levels`: the department levels whose listings need a second approver."""
        _note("lists")
        _note("lists.second_approver_levels")
        return self.approver_levels

    def rules_for(self, kind: str, *, on: date) -> Rule:
        """The rule of ``kind`` in force on ``on`` (latest ``effective_from`` ≤ on)."""
        _note(f"rule:{kind}")
        candidates = [r for r in self.rules if r.kind == kind]
        if not candidates:
            raise PolicyError(f"{self.origin}: no rule of kind {kind!r}; kinds: {', '.join(self.kinds)}")
        in_force = [r for r in candidates if r.effective_from <= on]
        if not in_force:
            first = min(r.effective_from for r in candidates)
            raise PolicyError(
                f"{self.origin}: no rule of kind {kind!r} in force on {on.isoformat()} "
                f"(the first takes effect on {first.isoformat()})"
            )
        return max(in_force, key=lambda r: r.effective_from)

    def in_force(self, kind: str, *, on: date) -> Rule | None:
        """The rule of ``kind`` in force on ``on``, or None (no such kind, or none in force yet)."""
        _note(f"rule:{kind}")
        in_force = [r for r in self.rules if r.kind == kind and r.effective_from <= on]
        return max(in_force, key=lambda r: r.effective_from) if in_force else None

    def set(self, name: str) -> tuple[str, ...]:
        _note(f"sets.{name}")
        try:
            return self.sets[name]
        except KeyError:
            raise PolicyError(
                f"{self.origin}: no set {name!r}; sets: {', '.join(sorted(self.sets))}"
            ) from None

    def section(self, name: str) -> Mapping[str, Any]:
        """The top-level table `name` of the policy file (its module parses and checks it)."""
        _note(name)
        try:
            table = self.sections[name]
        except KeyError:
            raise PolicyError(
                f"{self.origin}: no [{name}] table; tables: {', '.join(sorted(self.sections)) or 'none'}"
            ) from None
        return table if _LOOKUPS.get() is None else _NotedTable(table, name)

    def table(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in sorted(self.rules, key=lambda r: (r.kind, r.effective_from))]


def parse_policy(text: str, *, origin: str) -> Policy:
    """A policy from TOML text; errors name the entry (``origin rule[i] (kind)``) and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{origin}: not valid TOML ({exc})") from None
    entries = data.get("rule")
    if not isinstance(entries, list) or not entries:
        raise PolicyError(f"{origin}: expected [[rule]] entries")
    rules = []
    for i, entry in enumerate(entries):
        kind = entry.get("kind", "?") if isinstance(entry, dict) else "?"
        rules.append(_rule(entry, f"{origin} rule[{i}] ({kind})"))
    sets = data.get("sets", {})
    if not isinstance(sets, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in sets.values()
    ):
        raise PolicyError(f"{origin}: [sets] must map names to lists of strings")
    sections = {k: v for k, v in data.items() if k not in ("rule", "sets", "lists")}
    for name, value in sections.items():
        if not isinstance(value, dict):
            raise PolicyError(f"{origin}: top-level {name!r} must be a table ([{name}])")
    return Policy(
        rules=tuple(rules),
        origin=origin,
        sets={k: tuple(v) for k, v in sets.items()},
        approver_levels=_approver_levels(data.get("lists", {}), origin),
        sections=sections,
    )


def _approver_levels(section: Any, origin: str) -> tuple[str, ...]:
    """`[lists] second_approver_levels`: the department levels whose listings need a second approver."""
    if not isinstance(section, dict):
        raise PolicyError(f"{origin}: [lists] must be a table")
    unknown = sorted(set(section) - {"second_approver_levels"})
    if unknown:
        raise PolicyError(f"{origin}: [lists] unknown key(s) {', '.join(unknown)}")
    levels = section.get("second_approver_levels", DEFAULT_SECOND_APPROVER_LEVELS)
    if not isinstance(levels, list | tuple) or not all(level in LEVELS for level in levels):
        raise PolicyError(
            f"{origin}: [lists] second_approver_levels {levels!r} must be a list of {', '.join(LEVELS)}"
        )
    return tuple(levels)


def load_policy(path: Path | None = None) -> Policy:
    """The policy at ``path``, or the shipped default when None."""
    if path is None:
        return default_policy()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the lifecycle policy ({exc.strerror})") from None
    return parse_policy(text, origin=str(path))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The policy shipped with the package (read on first use, not at import)."""
    text = (
        resources.files("supervision.lifecycle")
        .joinpath("policy", "lifecycle.toml")
        .read_text(encoding="utf-8")
    )
    return parse_policy(text, origin="supervision/lifecycle/policy/lifecycle.toml")


def rules_for(kind: str, *, on: date, policy: Policy | None = None) -> Rule:
    """The rule of ``kind`` in force on ``on`` under ``policy`` (default: the shipped one)."""
    return (policy or default_policy()).rules_for(kind, on=on)
