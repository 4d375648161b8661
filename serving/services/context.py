"""What every use case receives: a :class:`Context` (settings, session, clock, actor, champion, audit sink).

A door (API route, web page, CLI command) builds the context, calls one service function and renders its
typed result. The service checks the actor's authority and writes the audit entry, so every door is checked
and audited the same way (``tests/serving/test_services_*.py`` run each use case through the CLI).
"""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import polars as pl
from sqlalchemy.orm import Session

from features import lake as lake_io
from models.risk_model import RiskModel
from serving.champion import ServingChampion, load_champion
from serving.settings import Settings
from serving.workspace import Workspace
from supervision.lifecycle import restrictions
from supervision.lifecycle.records import Lake
from supervision.lifecycle.regimes import Policy, load_policy
from supervision.lifecycle.workflow import Actor
from supervision.platform import audit
from supervision.platform.access import STAFF_ROLES, Principal, Role
from supervision.platform.clock import Clock
from supervision.platform.errors import ForbiddenError

__all__ = [
    "THE_PUBLIC",
    "AuditSink",
    "Context",
    "Door",
    "check_role",
    "local_operator",
    "own_entity",
    "use_case",
]

P = ParamSpec("P")
R = TypeVar("R")


class AuditSink(Protocol):
    """Where a door puts the use case's audit entry: in the session's transaction (changes: committed with
    the change or not at all), or, for reads, wherever the door writes its read entries."""

    def __call__(self, ctx: Context, fields: dict[str, Any], *, read: bool) -> None: ...


def in_transaction(ctx: Context, fields: dict[str, Any], *, read: bool) -> None:
    """The default sink: append in the session's transaction (the CLI; every change)."""
    audit.append(ctx.session, **fields)


@dataclass(frozen=True)
class Door:
    """Which door the call came through (``api``, ``web``, ``cli``) and from where (client address)."""

    name: str
    source: str | None = None


# The anonymous public of the public pages and routes (双公示, published lists): no token, no role.
THE_PUBLIC = Principal(token_id=0, name="public", role=None)


def local_operator() -> Principal:
    """The CLI's caller without a token: ``cli:<login>``, no role, no department (see :class:`Principal`)."""
    try:
        login = getpass.getuser()
    except Exception:  # no user name in some containers
        login = "unknown"
    return Principal(token_id=0, name=f"cli:{login}", role=None)


@dataclass
class Context:
    """One use case's world: who acts, on which day, with which database transaction and model."""

    settings: Settings
    session: Session
    clock: Clock
    actor: Principal
    door: Door
    serving: ServingChampion | None = None
    sink: AuditSink = in_transaction
    # Back-dated days of this use case and their reasons (`lifecycle_types.decision_day`): every audit entry
    # the use case writes carries them.
    backdated: dict[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        """The date in China."""
        return self.clock.today()

    @property
    def workspace(self) -> Workspace:
        return self.settings.workspace

    @property
    def lifecycle_actor(self) -> Actor:
        """The actor as the lifecycle's state machines record it, stamping rows with this context's clock."""
        role = None if self.actor.role is None else self.actor.role.value
        return Actor(self.actor.actor, role=role, department=self.actor.department, at=self.clock.now())

    @property
    def lake(self) -> Lake:
        """The record lake as lifecycle decisions write to it (with the person-key salt)."""
        return Lake(dir=self.settings.lake_dir, salt=self.settings.person_salt)

    def sources(self) -> Mapping[str, pl.LazyFrame]:
        """The lake's tables as lazy frames (read at collect time)."""
        return lake_io.sources(self.settings.lake_dir)

    def policy(self) -> Policy:
        """The lifecycle's periods and deadlines (``CREDITWATCH_LIFECYCLE_POLICY`` or the shipped file)."""
        return load_policy(self.settings.lifecycle_policy)

    def measures(self) -> tuple[restrictions.Measure, ...]:
        """The restriction catalog (惩戒措施清单)."""
        return restrictions.load_catalog(self.settings.restriction_catalog)

    def champion(self) -> tuple[RiskModel, str]:
        """(model, version) of the champion: the one the door serves (the API's, already loaded), else the
        registry's (the CLI); NoChampion with the reason if there is none."""
        if self.serving is not None:
            return self.serving.get()
        return load_champion(self.settings.mlflow_uri)

    def lock_for_write(self) -> None:
        """Take the audit chain's write lock now (for the rest of the transaction): a long use case computes
        first and locks only for its short writing end (see serving/cli/state.py, ``State.context``)."""
        audit.lock(self.session)

    def department(self) -> str:
        """The actor's department; refused for an identity without one (department-bound actions)."""
        if not self.actor.department:
            raise ForbiddenError(
                f"{self.actor.actor} has no department: this action is bound to the acting department "
                "(issue a token with --department, or act with `--as TOKEN`)",
                field="actor.department",
            )
        return self.actor.department

    def audit(
        self,
        action: str,
        *,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
        result: str = "ok",
        read: bool = False,
    ) -> None:
        """The use case's audit entry: actor, role, department and door; `read` entries may be deferred by
        the door (the API writes reads after the response, in group commits)."""
        fields: dict[str, Any] = {
            "actor": self.actor.actor,
            "role": None if self.actor.role is None else self.actor.role.value,
            "action": action,
            "target": target,
            "source": self.door.source or self.door.name,
            "result": result,
            "details": {
                "door": self.door.name,
                "department": self.actor.department,
                **({"backdated": dict(self.backdated)} if self.backdated else {}),
                **dict(details or {}),
            },
        }
        self.sink(self, fields, read=read)


def use_case(
    action: str,
    *,
    roles: Iterable[Role] | None,
    local: bool = False,
    public: bool = False,
    target: str | None = None,
) -> Callable[[Callable[Concatenate[Context, P], R]], Callable[Concatenate[Context, P], R]]:
    """Declare a service function: the `action` it audits and the `roles` it admits.

    ``roles=None`` admits every authenticated staff or system role (:data:`~supervision.platform.access.
    STAFF_ROLES`: never the regulated entity, which a use case admits only by naming ``Role.ENTITY`` and
    checking :func:`own_entity`); ``local=True`` admits the CLI's local operator as well
    (work on one's own machine: ingest, build, train, score); ``public=True`` admits the anonymous public as
    well (what the policy publishes; implies ``local``). The API reads ``fn.roles`` to declare the
    route's roles, so the door and the service cannot disagree about who may call. `target` is the audit
    target of a refused call, as a template over the route's path parameters (``"repair:{repair_id}"``):
    an accepted call names its target itself in ``ctx.audit``.
    """
    admitted = None if roles is None else frozenset(roles)

    def decorate(fn: Callable[Concatenate[Context, P], R]) -> Callable[Concatenate[Context, P], R]:
        @functools.wraps(fn)
        def run(ctx: Context, /, *args: P.args, **kwargs: P.kwargs) -> R:
            check_role(ctx.actor, action=action, roles=admitted, local=local or public, public=public)
            return fn(ctx, *args, **kwargs)

        run.action = action  # type: ignore[attr-defined]
        run.roles = admitted  # type: ignore[attr-defined]
        run.local = local or public  # type: ignore[attr-defined]
        run.public = public  # type: ignore[attr-defined]
        run.target = target  # type: ignore[attr-defined]
        return run

    return decorate


def check_role(
    actor: Principal, *, action: str, roles: frozenset[Role] | None, local: bool, public: bool = False
) -> None:
    """Refuse an actor whose role the use case does not admit (403 / exit 3)."""
    if actor.role is None:
        if public if actor == THE_PUBLIC else local:
            return
        raise ForbiddenError(
            f"{action}: refused to {actor.name} without an identity; act as a person of a department "
            "(`creditwatch --as TOKEN …` or CREDITWATCH_OPERATOR_TOKEN)",
            field="actor",
        )
    admitted = STAFF_ROLES if roles is None else roles
    if actor.role not in admitted:
        allowed = ", ".join(sorted(r.value for r in admitted))
        raise ForbiddenError(f"{action}: role {actor.role.value!r} may not do this; allowed: {allowed}")
    if actor.role is Role.ENTITY and not actor.uscc:
        raise ForbiddenError(f"{action}: an entity identity without its USCC is refused", field="actor.uscc")


ENTITY_SCOPE = "an entity sees and acts on its own USCC only (信用服务专区)"


def own_entity(ctx: Context, uscc: str, *, what: str | None = None) -> None:
    """Refuse an entity acting on another entity's USCC (403 / exit 3); staff pass (their own checks apply).

    Every use case that admits ``Role.ENTITY`` calls this with the USCC of the object it touches — the
    object's, read from the database or the lake, not the one the caller claims."""
    if ctx.actor.role is Role.ENTITY and ctx.actor.uscc != uscc:
        thing = what or f"USCC {uscc}"
        raise ForbiddenError(f"{thing}: {ENTITY_SCOPE}", field="uscc")
