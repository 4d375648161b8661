"""Horvitz–Thompson violation-rate estimates of a task's eligible population from its recorded results."""

from __future__ import annotations

import polars as pl
from sqlalchemy.orm import Session

from supervision.sampling.draw import canonical_roster, eligible_roster, estimate_violation_rate
from supervision.sampling.results import inspection_records
from supervision.sampling.tasks import get_task, selection_frame, snapshot, task_params

__all__ = ["task_estimates"]


def task_estimates(session: Session, task_id: str, *, population: pl.DataFrame | None = None) -> pl.DataFrame:
    """HT violation-rate estimates of a task's eligible population from its recorded results.

    ``population`` may carry ``probability`` (the model's predicted rate); by default the task's snapshot.
    """
    task = get_task(session, task_id)
    eligible = eligible_roster(canonical_roster(snapshot(task)), params=task_params(task)).select(
        "uscc", "tier"
    )
    if population is not None and "probability" in population.columns:
        eligible = eligible.join(population.select("uscc", "probability"), on="uscc", how="left")
    # Every selected entity, with its outcome where one is recorded (null = not yet inspected).
    sample = selection_frame(session, task_id).join(
        inspection_records(session, task_id=task_id).select("uscc", "outcome"), on="uscc", how="left"
    )
    return estimate_violation_rate(
        eligible, sample.select("uscc", "tier", "inclusion_probability", "outcome")
    )
