"""Fixtures shared by every test package: an isolated home folder and settings pointing at it."""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path

import pytest

# The suite runs on synthetic cities in demo mode (the built-in salt is accepted there); the refusal outside
# demo mode has its own test (tests/serving/test_identities.py).
os.environ["CREDITWATCH_DEMO"] = "1"


from serving.settings import Settings, load_settings
from supervision.platform.clock import CHINA, FixedClock, china_today


def _suite_policy() -> Path:
    """The shipped lifecycle policy with the back-dating limit (``decision.backdate``) lifted: the suite's
    scenarios date decisions weeks or months back on purpose (deadlines across holidays), which the shipped
    30 days would ask a reason for. The limit's own tests use the shipped file
    (tests/serving/test_backdate.py).
    """
    shipped = resources.files("supervision.lifecycle") / "policy" / "lifecycle.toml"
    text = shipped.read_text(encoding="utf-8")
    block = 'kind = "decision.backdate"'
    head, tail = text.split(block, 1)
    value_line = tail.split("value = ", 1)
    assert len(value_line) == 2, "the shipped policy has no decision.backdate value"
    rest = value_line[1].split("\n", 1)[1]
    path = Path(tempfile.mkdtemp(prefix="creditwatch-suite-policy-")) / "lifecycle.toml"
    path.write_text(f"{head}{block}{value_line[0]}value = 36500\n{rest}", encoding="utf-8")
    return path


os.environ.setdefault("CREDITWATCH_LIFECYCLE_POLICY", str(_suite_policy()))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home=home)


def china_half_past_midnight(day: date | None = None) -> FixedClock:
    """Today (China; or `day`) at 00:30 Beijing time: the hour at which the UTC date is still yesterday, so a
    door that reads "today" from anything but the one China clock gives the wrong day here."""
    return FixedClock(datetime.combine(day or china_today(), time(0, 30), tzinfo=CHINA))


@pytest.fixture
def clock() -> FixedClock:
    return china_half_past_midnight()
