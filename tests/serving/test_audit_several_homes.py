"""Replicas on several machines, one database: each machine's home keeps its own signed checkpoint file, and
``creditwatch audit verify --checkpoints FILE …`` verifies the one chain against the union of their lines —
one machine's file alone leaves the other's entries uncovered, a tampered line is named by file and line, and
a file that cannot be read is an error naming it, never skipped. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.settings import load_settings
from supervision.platform.checkpoints import CheckpointUnion
from supervision.platform.db import make_engine, upgrade
from tests.conftest import china_half_past_midnight
from tests.supervision.databases import backend_params, fresh_database_url

runner = CliRunner()


@dataclass(frozen=True)
class Machine:
    """One machine of the cluster: its own home (and checkpoint file), the shared database."""

    home: Path
    url: str

    @property
    def checkpoints(self) -> Path:
        return load_settings(home=self.home).workspace.audit_checkpoints

    def cli(self, *args: str) -> tuple[int, Any]:
        result = runner.invoke(
            app,
            ["--home", str(self.home), "--json", *args],
            env={"CREDITWATCH_DATABASE_URL": self.url},
            obj=china_half_past_midnight(),
        )
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None

    def write(self, name: str) -> None:
        """An audited change through this machine's CLI: its commit signs a line into this home's file."""
        code, payload = self.cli("tokens", "create", "--role", "analyst", "--name", name)
        assert code == 0, payload


@pytest.fixture(params=backend_params())
def machines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Machine, Machine]]:
    with fresh_database_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        homes = tmp_path / "machine-a", tmp_path / "machine-b"
        for home in homes:
            home.mkdir()
        yield Machine(homes[0], url), Machine(homes[1], url)


def _interleaved(a: Machine, b: Machine) -> None:
    """Entries 1 and 3 committed on machine A, 2 and 4 on machine B."""
    a.write("li")
    b.write("wang")
    a.write("zhao")
    b.write("chen")
    assert len(a.checkpoints.read_text().splitlines()) == len(b.checkpoints.read_text().splitlines()) == 2


def test_one_machines_file_leaves_the_others_entries_uncovered_and_both_verify(
    machines: tuple[Machine, Machine],
) -> None:
    a, b = machines
    _interleaved(a, b)

    # Today's default, the home's own file: machine B's entries look appended outside the application.
    code, report = a.cli("audit", "verify")
    assert code == 1 and report["ok"] is False and report["first_bad_id"] == 2
    assert report["checkpoints"]["gaps"] == [[2, 2], [4, 4]]
    assert "not covered by a signed checkpoint" in report["reason"]
    # The same with machine B's file given alone: now machine A's entries (and A's verify, 5) are uncovered.
    code, report = a.cli("audit", "verify", "--checkpoints", str(b.checkpoints))
    assert code == 1 and report["checkpoints"]["gaps"] == [[1, 1], [3, 3], [5, 5]]

    # Both files: every entry lies in a range signed on one machine or the other.
    both = ["--checkpoints", str(a.checkpoints), "--checkpoints", str(b.checkpoints)]
    code, report = a.cli("audit", "verify", *both)
    assert code == 0 and report["ok"] is True and report["reason"] is None, report
    assert report["checkpoints"]["gaps"] == [] and report["checkpoints"]["covered_seq"] == report["head_seq"]
    # Order does not matter, nor a line given twice (a copied or collected file).
    collected = a.home / "collected.jsonl"
    collected.write_text(a.checkpoints.read_text() + b.checkpoints.read_text())
    code, report = b.cli(
        "audit", "verify", "--checkpoints", str(b.checkpoints), "--checkpoints", str(collected)
    )
    assert code == 0 and report["ok"] is True, report

    # `audit checkpoint` still signs into the home's own file only.
    lines_a, lines_b = (len(m.checkpoints.read_text().splitlines()) for m in (a, b))
    code, payload = a.cli("audit", "checkpoint", "--reason", "checked against the paper log")
    assert code == 0, payload
    assert len(a.checkpoints.read_text().splitlines()) == lines_a + 1
    assert len(b.checkpoints.read_text().splitlines()) == lines_b


def test_a_tampered_line_in_the_second_file_is_named_with_its_file_and_line(
    machines: tuple[Machine, Machine],
) -> None:
    a, b = machines
    _interleaved(a, b)
    # Widen machine B's second range to cover entry 1 too: the signature no longer holds.
    lines = b.checkpoints.read_text().splitlines()
    edited = json.loads(lines[1])
    assert edited["from"] == 4
    edited["from"] = 1
    lines[1] = json.dumps(edited)
    b.checkpoints.write_text("\n".join(lines) + "\n")

    code, report = a.cli(
        "audit", "verify", "--checkpoints", str(a.checkpoints), "--checkpoints", str(b.checkpoints)
    )
    assert code == 1 and report["ok"] is False
    assert report["reason"] == (
        f"checkpoint line 2 of {b.checkpoints} has a bad signature (forged, edited, or another key)"
    )
    assert report["checkpoints"]["gaps"] == [[4, 4]]  # the entry only the edited line covered


@pytest.mark.parametrize("kind", ["missing", "a folder"])
def test_a_checkpoint_file_that_cannot_be_read_is_an_error_naming_it(
    machines: tuple[Machine, Machine], kind: str
) -> None:
    a, b = machines
    _interleaved(a, b)
    unreadable = a.home / "elsewhere" / "checkpoints.jsonl"
    if kind == "a folder":
        unreadable.mkdir(parents=True)
    code, payload = a.cli(
        "audit", "verify", "--checkpoints", str(a.checkpoints), "--checkpoints", str(unreadable)
    )
    assert code == 1  # as the CLI's other usage errors (state.fail)
    assert set(payload) == {"error"} and f"checkpoint file {unreadable}: cannot be read" in payload["error"]


def test_a_union_of_no_files_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CheckpointUnion.of([], b"a-test-key-of-32-bytes-0123456789")
