"""The synthetic city: a seeded, realistic population of Yancheng market entities and their credit records.

``generate(CityConfig(...), out)`` writes every catalog table as source files that ingest accepts (plus
injected dirt that it must quarantine) and the ground truth in ``out/truth/``, which nothing in the
pipeline may read as a feature.
"""

from __future__ import annotations

from features.synth.city import (
    ROSTERS_DIR,
    STEPS,
    TRUTH_DIR,
    CityConfig,
    FileReport,
    GenerationReport,
    generate,
)
from features.synth.writer import FORMATS

__all__ = [
    "FORMATS",
    "ROSTERS_DIR",
    "STEPS",
    "TRUTH_DIR",
    "CityConfig",
    "FileReport",
    "GenerationReport",
    "generate",
]
