"""Sampling tasks in the database (SQLite and PostgreSQL): create, draw, verify, merge, assign, results."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from features.catalog import INSPECTIONS
from features.identity import check_digit
from features.uscc import complete
from supervision.platform.db import session_scope
from supervision.sampling.draw import Budget, EmptyScopeError, RosterTooSmallError, TaskParams, TaskScope
from supervision.sampling.errors import TaskStateError, UnknownEntityError, UnknownInspectorError
from supervision.sampling.estimates import task_estimates
from supervision.sampling.exports import export_bytes, export_frame, reasons_text
from supervision.sampling.ratios import TierRatioPolicy
from supervision.sampling.results import (
    inspection_records,
    mark_published,
    overdue_report,
    record_result,
    with_last_inspected,
)
from supervision.sampling.roster import import_inspectors, read_table_file, set_inspector_active
from supervision.sampling.tables import (
    InspectionResult,
    Inspector,
    SamplingTask,
    TaskAssignment,
    TaskSelection,
    Visit,
)
from supervision.sampling.tasks import create_task, draw_task, list_tasks, selection_frame, verify_task
from supervision.sampling.visits import assign_period

SEED = bytes(range(32))
TODAY = date(2026, 11, 28)


def _uscc(i: int) -> str:
    return complete(f"91320902MA{i:07d}")


def _roster(n: int = 60) -> pl.DataFrame:
    tiers = ["A"] * (n // 2) + ["B"] * (n // 4) + ["C"] * (n // 6) + ["D"] * (n - n // 2 - n // 4 - n // 6)
    return pl.DataFrame(
        {
            "uscc": [_uscc(i) for i in range(n)],
            "tier": tiers,
            "division_code": ["320902"] * n,
            "industry": ["food" if i % 3 else "drugs" for i in range(n)],
            "entity_type": ["enterprise"] * n,
        }
    )


def _id_number(i: int) -> str:
    first17 = f"32090219800101{i:03d}"
    return first17 + check_digit(first17)


def _inspector_csv(path: Path, *, n: int = 8, bad_line: int | None = None) -> Path:
    lines = ["inspector_id,name,department,division_code,qualifications,active,id_number,conflict_usccs"]
    for i in range(n):
        quals = "食品经营;消防检查" if i % 2 == 0 else "食品经营"
        active = "否" if (bad_line is not None and i + 2 == bad_line) else "是"
        if bad_line is not None and i + 2 == bad_line:
            active = "maybe"
        conflict = _uscc(0) if i == 0 else ""
        lines.append(f"I{i:03d},检查员{i},市场监管局,320902,{quals},{active},{_id_number(i)},{conflict}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _params(**kw: object) -> TaskParams:
    base: dict[str, object] = {
        "department": "市场监管局",
        "items": ("食品经营",),
        "budget": Budget(count=12),
        "as_of": date(2026, 11, 1),
        "period": "2026Q4",
    }
    base.update(kw)
    return TaskParams(**base)  # type: ignore[arg-type]


def _count(engine: sa.Engine, model: type) -> int:
    with session_scope(engine) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_full_cycle(db_engine: sa.Engine, tmp_path: Path) -> None:
    snaps = tmp_path / "snapshots"
    with session_scope(db_engine) as s:
        assert import_inspectors(
            s, read_table_file(_inspector_csv(tmp_path / "insp.csv")), salt="salt-1234"
        ) == {
            "created": 8,
            "updated": 0,
        }
    with session_scope(db_engine) as s:
        info = create_task(s, params=_params(), roster=_roster(), snapshot_dir=snaps, task_id="T1", seed=SEED)
    assert info.status == "created" and info.revealed_seed is None and info.eligible == 60
    assert (snaps / "T1.roster.parquet").exists()

    with session_scope(db_engine) as s:
        selection = draw_task(s, "T1")
    assert selection.height == 12
    with session_scope(db_engine) as s:
        stored = selection_frame(s, "T1")
        assert_frame_equal(stored.drop("items", "visit_id"), selection, check_exact=True)
        assert (stored["inclusion_probability"] > 0).all()
        assert verify_task(s, "T1").ok
        [listed] = list_tasks(s)
        assert listed.status == "drawn" and listed.revealed_seed == SEED.hex() and listed.selected == 12

    with session_scope(db_engine) as s:
        outcome = assign_period(s, "2026Q4", team_size=2)
    assert outcome.visits == 12 and outcome.assigned + outcome.unstaffed.height == 12
    with session_scope(db_engine) as s:
        teams = s.execute(sa.select(TaskAssignment.visit_id, TaskAssignment.inspector_id)).all()
        visit_uscc = dict(s.execute(sa.select(Visit.visit_id, Visit.uscc)).all())
    # I000 declared a conflict with entity 0: never on its visit.
    assert all(not (visit_uscc[v] == _uscc(0) and i == "I000") for v, i in teams)

    staffed = sorted({visit_uscc[v] for v, _ in teams})
    first_visit = next(v for v, u in visit_uscc.items() if u == staffed[0])
    inspector = sorted(i for v, i in teams if v == first_visit)[0]
    with session_scope(db_engine) as s:
        rec = record_result(
            s,
            task_id="T1",
            uscc=staffed[0],
            outcome="violation",
            findings="过期食品",
            inspected_on=date(2026, 9, 25),
            recorded_by=inspector,
            today=TODAY,
        )
    # 20 working days after 25 Sep 2026 across National Day (1–7 Oct off, Sat 10 Oct a make-up day).
    # 28–30 Sep (3), 8–10 Oct (6), 12–16 (11), 19–23 (16), 26–29 (20).
    assert rec["publication_due_on"] == date(2026, 10, 29)
    with session_scope(db_engine) as s:
        report = overdue_report(s, today=TODAY)
        assert report == [
            {"department": "市场监管局", "results": 1, "published": 0, "unpublished": 1, "overdue": 1}
        ]
        mark_published(s, rec["visit_id"], published_on=date(2026, 10, 20), today=TODAY)
    with session_scope(db_engine) as s:
        # The recorded visit feeds the frequency limit of the next task.
        enriched = with_last_inspected(s, _roster())
        assert enriched.filter(pl.col("uscc") == staffed[0])["last_inspected_on"].to_list() == [
            date(2026, 9, 25)
        ]
        assert enriched["last_inspected_on"].null_count() == 59
        nxt = create_task(
            s,
            params=_params(budget=Budget(ratio=1.0), as_of=date(2026, 11, 20)),
            roster=enriched,
            snapshot_dir=snaps,
            task_id="T1-next",
        )
        assert nxt.eligible == 59 + int(_roster().filter(pl.col("uscc") == staffed[0])["tier"][0] == "D")
    with session_scope(db_engine) as s:
        assert overdue_report(s, today=TODAY)[0]["overdue"] == 0
        records = inspection_records(s)
        assert records.schema == INSPECTIONS.schema
        assert records.height == 1 and records["outcome"][0] == "violation"
        assert records["selection_probability"][0] == pytest.approx(
            selection.filter(pl.col("uscc") == staffed[0])["inclusion_probability"][0]
        )
        assert inspector in records["inspectors"][0].split(";")
        estimates = task_estimates(s, "T1")
        assert estimates["tier"].to_list() == ["all", "A", "B", "C", "D"]
        exported = export_frame(
            s, "T1", reasons=pl.DataFrame({"uscc": [staffed[0]], "reasons": [["2 penalties in 12 months"]]})
        )
    assert exported.height == 12
    row = exported.filter(pl.col("uscc") == staffed[0]).row(0, named=True)
    assert row["reasons"] == "2 penalties in 12 months" and row["outcome"] == "violation"
    assert row["items"] == "市场监管局: 食品经营" and inspector in row["inspectors"]

    assert export_bytes(exported, "csv").startswith(b"\xef\xbb\xbf")
    sheet = openpyxl.load_workbook(io.BytesIO(export_bytes(exported, "xlsx"))).active
    assert sheet is not None
    assert sheet.max_row == 13 and str(sheet.cell(1, 3).value).startswith("统一社会信用代码")


def test_merge_two_departments_into_one_visit(db_engine: sa.Engine, tmp_path: Path) -> None:
    with session_scope(db_engine) as s:
        import_inspectors(s, read_table_file(_inspector_csv(tmp_path / "insp.csv")), salt="salt-1234")
        set_inspector_active(s, "I002", active=False)
        with pytest.raises(UnknownInspectorError, match="no inspector 'I999'"):
            set_inspector_active(s, "I999", active=False)
        roster = _roster(20)
        create_task(
            s, params=_params(budget=Budget(ratio=1.0)), roster=roster, snapshot_dir=tmp_path, task_id="M1"
        )
        create_task(
            s,
            params=_params(department="消防救援", items=("消防检查",), budget=Budget(ratio=0.8)),
            roster=roster,
            snapshot_dir=tmp_path,
            task_id="F1",
        )
        draw_task(s, "M1")
        draw_task(s, "F1")
    with session_scope(db_engine) as s:
        outcome = assign_period(s, "2026Q4")
    with session_scope(db_engine) as s:
        drawn = s.execute(sa.select(TaskSelection.uscc)).scalars().all()
    assert len(drawn) > len(set(drawn))  # some entities are on both lists
    assert outcome.visits == len(set(drawn))  # one visit per entity
    with session_scope(db_engine) as s:
        visits = s.scalars(sa.select(Visit).order_by(Visit.visit_id)).all()
        quals = {i.inspector_id: set(i.qualifications) for i in s.scalars(sa.select(Inspector))}
        both = [v for v in visits if len(v.items) == 2]
        assert both and all(v.items == ["市场监管局: 食品经营", "消防救援: 消防检查"] for v in both)
        for visit in visits:
            team = list(
                s.scalars(
                    sa.select(TaskAssignment.inspector_id).where(TaskAssignment.visit_id == visit.visit_id)
                )
            )
            needed = {item.split(": ")[1] for item in visit.items}
            assert len(team) == 2 and "I002" not in team  # I002 was deactivated
            assert all(needed <= quals[i] for i in team)
        # One selection row per task, both pointing at the same visit of an entity both tasks drew.
        rows = s.execute(
            sa.select(TaskSelection.task_id, TaskSelection.visit_id).where(
                TaskSelection.visit_id == both[0].visit_id
            )
        ).all()
        assert sorted(t for t, _ in rows) == ["F1", "M1"]


def test_bad_task_inputs_write_nothing(db_engine: sa.Engine, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tier A: ratio 0.08 is outside the allowed range \[0, 0.05\]"):
        _params(policy=TierRatioPolicy(ratios={"A": 0.08, "B": 0.1, "C": 0.3, "D": 0.7}))
    with pytest.raises(EmptyScopeError), session_scope(db_engine) as s:
        create_task(
            s,
            params=_params(scope=TaskScope(industries=("mining",))),
            roster=_roster(),
            snapshot_dir=tmp_path,
        )
    with pytest.raises(RosterTooSmallError, match="exceeds the 60 eligible"), session_scope(db_engine) as s:
        create_task(s, params=_params(budget=Budget(count=61)), roster=_roster(), snapshot_dir=tmp_path)
    assert _count(db_engine, SamplingTask) == 0
    assert not list(tmp_path.glob("*.parquet"))


def test_inspector_import_is_all_or_nothing(db_engine: sa.Engine, tmp_path: Path) -> None:
    frame = read_table_file(_inspector_csv(tmp_path / "bad.csv", bad_line=5))
    with pytest.raises(ValueError, match=r"line 5 \(I003\): active 'maybe'"), session_scope(db_engine) as s:
        import_inspectors(s, frame, salt="salt-1234")
    assert _count(db_engine, Inspector) == 0


def test_inspector_import_from_xlsx_hashes_id_numbers(db_engine: sa.Engine, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["inspector_id", "name", "department", "division_code", "qualifications", "active", "id_number"]
    )
    sheet.append(["X1", "张三", "市场监管局", "320902", "食品经营", "true", _id_number(7)])
    book.save(tmp_path / "r.xlsx")
    with session_scope(db_engine) as s:
        import_inspectors(s, read_table_file(tmp_path / "r.xlsx"), salt="salt-1234")
    with session_scope(db_engine) as s:
        person = s.get(Inspector, "X1")
        assert person is not None and person.person_key and _id_number(7) not in person.person_key


def test_draw_and_record_errors_leave_nothing_half_written(db_engine: sa.Engine, tmp_path: Path) -> None:
    with session_scope(db_engine) as s:
        import_inspectors(s, read_table_file(_inspector_csv(tmp_path / "i.csv")), salt="salt-1234")
        create_task(s, params=_params(), roster=_roster(), snapshot_dir=tmp_path, task_id="T2", seed=SEED)
    # A tampered snapshot: the draw refuses and stores nothing.
    snap = tmp_path / "T2.roster.parquet"
    original = pl.read_parquet(snap)
    original.with_columns(tier=pl.lit("D")).write_parquet(snap)
    with pytest.raises(TaskStateError, match="no longer matches"), session_scope(db_engine) as s:
        draw_task(s, "T2")
    assert _count(db_engine, TaskSelection) == 0
    original.write_parquet(snap)
    with session_scope(db_engine) as s:
        draw_task(s, "T2")
    with pytest.raises(TaskStateError, match="already drawn"), session_scope(db_engine) as s:
        draw_task(s, "T2")
    with session_scope(db_engine) as s:
        assign_period(s, "2026Q4")
        uscc = s.scalars(sa.select(TaskSelection.uscc).where(TaskSelection.visit_id.is_not(None))).first()
    with (
        pytest.raises(UnknownEntityError, match="is not on the list of task T2"),
        session_scope(db_engine) as s,
    ):
        record_result(
            s,
            task_id="T2",
            uscc=_uscc(999),
            outcome="no_problem",
            inspected_on=date(2026, 11, 2),
            recorded_by="I001",
            today=TODAY,
        )
    with pytest.raises(ValueError, match="outcome 'fine'"), session_scope(db_engine) as s:
        record_result(
            s,
            task_id="T2",
            uscc=str(uscc),
            outcome="fine",
            inspected_on=date(2026, 11, 2),
            recorded_by="I001",
            today=TODAY,
        )
    assert _count(db_engine, InspectionResult) == 0
    with session_scope(db_engine) as s:
        task = s.get(SamplingTask, "T2")
        assert task is not None and task.status == "drawn"


def test_export_reads_the_scorers_reasons_structs() -> None:
    scorer = pl.DataFrame(
        {
            "reasons": [
                [
                    {
                        "feature": "penalties_n_365d",
                        "dimension": "law_abiding",
                        "value": "2",
                        "contribution": 0.8,
                        "zh": "近365天行政处罚2次 (+0.80)",
                        "en": "2 penalties in the last 365 days (+0.80)",
                    },
                    {
                        "feature": "age_days",
                        "dimension": "qualifications",
                        "value": "90",
                        "contribution": 0.1,
                        "zh": "成立90天 (+0.10)",
                        "en": "established 90 days ago (+0.10)",
                    },
                ]
            ]
        }
    )
    text = scorer.select(reasons_text(scorer.schema["reasons"]))["reasons"][0]
    assert text == "近365天行政处罚2次 (+0.80)；成立90天 (+0.10)"
    plain = pl.DataFrame({"reasons": [["a", "b"]]})
    assert plain.select(reasons_text(plain.schema["reasons"]))["reasons"][0] == "a；b"
