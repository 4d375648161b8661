"""Settings: one pydantic-settings class read from ``CREDITWATCH_*`` variables at an entry point.

Nothing reads the environment or touches the disk at import time; call :func:`load_settings` once where
the program starts (the CLI callback, the app factory) and pass the result down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.workspace import Workspace
from supervision.platform.checkpoints import CheckpointLog

DEMO_PERSON_SALT = "creditwatch-demo-salt"
DEMO_AUDIT_KEY = "creditwatch-demo-audit-key"


class DemoSecretRefused(RuntimeError):
    """A built-in demo secret in use outside demo mode."""


class Settings(BaseSettings):
    """Where data, database and MLflow live, and the few secrets the system needs."""

    model_config = SettingsConfigDict(env_prefix="CREDITWATCH_", extra="ignore", frozen=True)

    home: Path = Field(Path("var"), description="folder for the lake, the SQLite database and MLflow")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the operational database; default: SQLite file under home"
    )
    mlflow_tracking_uri: str | None = Field(None, description="default: sqlite:///HOME/mlflow.db")
    person_salt: str = Field(
        DEMO_PERSON_SALT,
        min_length=8,
        description="secret HMAC key of the person key (HMAC-SHA256 of the ID number; the name `salt` is "
        "kept for existing configurations); set a secret value in production",
    )
    audit_key: SecretStr = Field(
        SecretStr(DEMO_AUDIT_KEY),
        description="HMAC key of the audit chain's signed checkpoints (docs/security.md); keep it outside "
        "the database, e.g. in the service's environment. At least 16 characters",
    )
    audit_checkpoint_sink: Path | None = Field(
        None,
        description="a second file every audit checkpoint line is appended to (e.g. on write-once storage "
        "shared by the replicas)",
    )
    audit_anonymous_window_seconds: float = Field(
        60.0,
        gt=0,
        description="requests without a valid identity are audited once per client address and window, "
        "with a count (the first at once), so anonymous traffic cannot flood the log",
    )
    web_session_hours: float = Field(
        8.0,
        gt=0,
        le=24 * 7,
        description="how long a page sign-in lasts (a working day by default); logout ends it at once",
    )
    secure_cookies: bool = Field(
        False,
        description="mark the pages' cookies Secure even when the request arrived over plain HTTP (set it "
        "behind a TLS-terminating proxy that is not a trusted proxy); over HTTPS they always are",
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
    rate_limit_store: Literal["memory", "database"] = Field(
        "memory",
        description="where the rate limits' token buckets live: `memory` (this process; one replica) or "
        "`database` (a table of the operational database, shared by every replica on it, so N replicas "
        "together allow the configured rate, not N times it; about 1 ms per request on PostgreSQL)",
    )
    rate_limit_system_per_minute: int | None = Field(
        None,
        ge=0,
        description="API requests per minute per token of the system role (another government system's "
        "embedded checks, 逢办必查); default: rate_limit_per_minute; 0 turns its limiting off",
    )
    rate_limit_system_burst: int | None = Field(
        None, ge=1, description="burst of a system-role token; default: rate_limit_burst"
    )
    admission_concurrency: int = Field(
        4,
        ge=0,
        description="requests of one route class (the path's first segment: /check, /entities, /ui, ...) "
        "handled at once; the others wait in the class's queue; 0 turns admission control off",
    )
    admission_queue: int = Field(
        16,
        ge=0,
        description="requests of one route class that may wait for a slot; one more is answered 503 with "
        "Retry-After at once",
    )
    admission_queue_seconds: float = Field(
        0.5, gt=0, description="longest wait in a route class's queue; then 503 with Retry-After"
    )
    admission_retry_after_seconds: int = Field(
        1, ge=1, description="the Retry-After of a request shed by admission control"
    )
    auth_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="how long the API may reuse a token's successful authentication without asking the "
        "database; a token revoked or expired elsewhere (the CLI, another process) can be accepted for up to "
        "this long (a revocation through this process's API takes effect at once); 0 asks on every request",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="addresses of the reverse proxies whose X-Forwarded-For is believed (none by default: "
        "the client address is the connection's)",
    )
    max_body_bytes: int = Field(1_048_576, ge=1, description="largest API request body accepted (413 above)")
    exchange_max_rows: int = Field(
        5_000,
        ge=1,
        description="most rows one pushed exchange batch may carry (POST /exchange/batches: 422 above)",
    )
    exchange_max_bytes: int = Field(
        1_000_000,
        ge=1,
        description="largest pushed exchange batch, its rows as JSON Lines (422 above); the request body is "
        "also under max_body_bytes (413)",
    )
    document_max_bytes: int = Field(
        10_485_760,
        ge=1,
        description="largest document (PDF, JPEG, PNG) an entity may attach to a repair application or a "
        "self-report (422 above)",
    )
    upload_max_body_bytes: int = Field(
        33_554_432,
        ge=1,
        description="largest request body of the routes that take documents (POST /zone/repairs, "
        "/zone/self-reports and their pages; 413 above); every other route stays under max_body_bytes",
    )
    champion_check_seconds: float = Field(
        10.0,
        ge=0,
        description="how often (at most) the API looks at the registry's champion alias to follow a "
        "promotion or rollback made elsewhere (the CLI); 0 looks at every request that uses the model",
    )
    lifecycle_policy: Path | None = Field(
        None,
        description="TOML of lifecycle periods and deadlines; "
        "default: supervision/lifecycle/policy/lifecycle.toml",
    )
    operator_token: SecretStr | None = Field(
        None,
        description="the API token the CLI acts with when no `--as` is given (a person of a department); "
        "without one the CLI is the local operator, refused by department-bound actions",
    )
    demo: bool = Field(
        False,
        description="demo mode (`creditwatch demo` sets it): the built-in demo salt and secrets are "
        "accepted; outside it, start-up refuses them",
    )
    restriction_catalog: Path | None = Field(
        None,
        description="TOML of restriction measures (惩戒措施清单); "
        "default: supervision/lifecycle/policy/restrictions.toml",
    )
    monitoring_policy: Path | None = Field(
        None,
        description="TOML of the model-monitoring thresholds (drift, calibration, fairness, retraining); "
        "default: models/monitoring.toml",
    )

    @field_validator("home")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    def refuse_demo_secrets(self) -> None:
        """Start-up check: outside demo mode, the built-in demo secrets are refused (anyone who read this code
        could rebuild person keys from ID numbers with the salt, or sign forged audit checkpoints)."""
        if self.demo:
            return
        for name, value, demo in (
            ("CREDITWATCH_PERSON_SALT", self.person_salt, DEMO_PERSON_SALT),
            ("CREDITWATCH_AUDIT_KEY", self.audit_key.get_secret_value(), DEMO_AUDIT_KEY),
        ):
            if value == demo:
                raise DemoSecretRefused(
                    f"{name} is the built-in demo value: set a secret of your own "
                    "(or CREDITWATCH_DEMO=1 for a demonstration on synthetic data)"
                )

    def audit_checkpoints(self) -> CheckpointLog:
        """The signed checkpoint log of the audit chain (supervision.platform.checkpoints)."""
        sinks = () if self.audit_checkpoint_sink is None else (self.audit_checkpoint_sink,)
        key = self.audit_key.get_secret_value().encode()
        return CheckpointLog(self.workspace.audit_checkpoints, key, sinks)

    @property
    def workspace(self) -> Workspace:
        """The home folder's layout."""
        return Workspace(self.home)

    @property
    def lake_dir(self) -> Path:
        return self.workspace.lake

    @property
    def documents_dir(self) -> Path:
        """Where uploaded documents live, content-addressed (supervision.lifecycle.documents)."""
        return self.workspace.home / "documents"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.workspace.database}"

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.workspace.registry}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.workspace.mlartifacts


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; explicit overrides (e.g. ``--home``) win."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
