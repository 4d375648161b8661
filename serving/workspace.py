"""The home folder's layout, in one place: the lake, the score and feature files, sampling snapshots, exports.

Every door and service asks a :class:`Workspace` for a path instead of joining ``home / "scores" / ...`` by
hand; a change of layout is a change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

__all__ = ["Workspace", "manifest_of"]


@dataclass(frozen=True, slots=True)
class Workspace:
    """Paths under `home` (``CREDITWATCH_HOME``, default ``./var``)."""

    home: Path

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def scores(self) -> Path:
        return self.home / "scores"

    @property
    def features(self) -> Path:
        return self.home / "features"

    @property
    def sampling(self) -> Path:
        """Roster and scope snapshots of the draws (``supervision.sampling``)."""
        return self.home / "sampling"

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    @property
    def explanations(self) -> Path:
        """Waterfall charts written by ``creditwatch explain``."""
        return self.home / "explanations"

    @property
    def city(self) -> Path:
        """Where ``creditwatch demo`` generates its synthetic city."""
        return self.home / "city"

    @property
    def mlartifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def database(self) -> Path:
        """The default SQLite database (when ``CREDITWATCH_DATABASE_URL`` names none)."""
        return self.home / "creditwatch.db"

    @property
    def registry(self) -> Path:
        """The default MLflow tracking and registry database."""
        return self.home / "mlflow.db"

    @property
    def audit_checkpoints(self) -> Path:
        """Signed checkpoints of the audit chain's head (supervision.platform.checkpoints)."""
        return self.home / "audit" / "checkpoints.jsonl"

    @property
    def data_folders(self) -> tuple[Path, ...]:
        """Every folder of generated data (what a fresh demo clears, with the two databases)."""
        return (
            self.city,
            self.lake,
            self.features,
            self.scores,
            self.sampling,
            self.exports,
            self.mlartifacts,
        )

    def score_file(self, as_of: date) -> Path:
        """The city's scores as of a date (written by ``creditwatch score``)."""
        return self.scores / f"as_of={as_of.isoformat()}.parquet"

    def feature_file(self, as_of: date) -> Path:
        """The feature rows a score run scored (explanations of stored scores read them)."""
        return self.features / f"as_of={as_of.isoformat()}.parquet"

    def score_manifest(self, as_of: date) -> Path:
        """The manifest of the score run of a date (rows, model version, SHA-256 of the score file): a score
        file is the city's only with a manifest that matches it (``serving.services.current_score``)."""
        return manifest_of(self.score_file(as_of))


def manifest_of(path: Path) -> Path:
    """The manifest beside a score or feature file: ``as_of=DATE.parquet`` → ``as_of=DATE.manifest.json``."""
    return path.with_suffix(".manifest.json")
