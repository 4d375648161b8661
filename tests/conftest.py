"""Fixtures shared by every test package: an isolated home folder and settings pointing at it."""

from __future__ import annotations

import os
from datetime import datetime, time
from pathlib import Path

import pytest

# The suite runs on synthetic cities in demo mode (the built-in salt is accepted there); the refusal outside
# demo mode has its own test (tests/serving/test_identities.py).
os.environ["CREDITWATCH_DEMO"] = "1"

from serving.settings import Settings, load_settings
from supervision.platform.clock import CHINA, FixedClock, china_today


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home=home)


def china_half_past_midnight() -> FixedClock:
    """Today (China) at 00:30 Beijing time: the hour at which the UTC date is still yesterday, so a door that
    reads "today" from anything but the one China clock gives the wrong day here."""
    return FixedClock(datetime.combine(china_today(), time(0, 30), tzinfo=CHINA))


@pytest.fixture
def clock() -> FixedClock:
    return china_half_past_midnight()
