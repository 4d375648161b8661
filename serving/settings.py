"""Settings: one pydantic-settings class read from ``CREDITWATCH_*`` variables at an entry point.

Nothing reads the environment or touches the disk at import time; call :func:`load_settings` once where
the program starts (the CLI callback, the app factory) and pass the result down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where data, database and MLflow live, and the few secrets the system needs."""

    model_config = SettingsConfigDict(env_prefix="CREDITWATCH_", extra="ignore", frozen=True)

    home: Path = Field(Path("var"), description="folder for the lake, the SQLite database and MLflow")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the operational database; default: SQLite file under home"
    )
    mlflow_tracking_uri: str | None = Field(None, description="default: sqlite:///HOME/mlflow.db")
    person_salt: str = Field(
        "creditwatch-demo-salt",
        min_length=8,
        description="salt of the person key hash (set a secret value in production)",
    )
    uscc_allow_list: tuple[str, ...] = Field(
        ("91350211M0000XUF46", "91350203M0001QAY9B"),
        description="genuine codes that fail the mod-31 check (domain-rules §1.3)",
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, description="API requests per minute per token (token bucket); 0 turns limiting off"
    )
    rate_limit_burst: int = Field(
        60, ge=1, description="API requests a token may make at once before waiting"
    )
    auth_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="how long the API may reuse a token's successful authentication without asking the "
        "database; a token revoked or expired elsewhere (the CLI, another process) can be accepted for up to "
        "this long (a revocation through this process's API takes effect at once); 0 asks on every request",
    )
    max_body_bytes: int = Field(1_048_576, ge=1, description="largest API request body accepted (413 above)")
    champion_check_seconds: float = Field(
        10.0,
        ge=0,
        description="how often (at most) the API looks at the registry's champion alias to follow a promotion "
        "or rollback made elsewhere (the CLI); 0 looks at every request that uses the model",
    )
    lifecycle_policy: Path | None = Field(
        None,
        description="TOML of lifecycle periods and deadlines; default: supervision/policy/lifecycle.toml",
    )
    restriction_catalog: Path | None = Field(
        None,
        description="TOML of restriction measures (惩戒措施清单); default: supervision/policy/restrictions.toml",
    )

    @field_validator("home")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'creditwatch.db'}"

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; explicit overrides (e.g. ``--home``) win."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
