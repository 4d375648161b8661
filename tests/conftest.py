"""Fixtures shared by every test package: an isolated home folder and settings pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.settings import Settings, load_settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home=home)
