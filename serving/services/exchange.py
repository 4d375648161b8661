"""Data exchange (一张网): departments push record batches; other platforms pull what changed since a cursor.

A push is the file ingest's path (``features.ingest.ingest_data``: the same catalog, checks, quarantine and
atomic lake batch under the lake's writer lock, the same ledger row) for rows that arrive as JSON: they are
written as JSON Lines, one row a line, so row ``i`` of the request is line ``i + 1`` of the batch. A batch is
identified by the SHA-256 of its canonical content (department, table, rows): pushing it again writes nothing
and answers with the first push's batch. A department pushes only what it produced (谁产生、谁报送).

The feed merges three change streams, each with a position that only grows and that a reader sees in order:
the lake's batches (their sequence, claimed under the writer lock and made visible in that order by one
rename) and the row index within a batch; the list events' outbox id; and the audit chain's sequence for
repair and publication decisions (assigned under the chain's lock, held until commit, so a later number is
never visible before an earlier one). The cursor is the four numbers: ``v1.<batch>.<row>.<event>.<audit>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from features import catalog, ingest, lake
from features.lifecycle import objection_state, repair_state
from serving.services.context import Context, use_case
from serving.services.ingest import _record
from supervision.lifecycle import lists
from supervision.lifecycle.disclosure import Disclosure
from supervision.lifecycle.repairs import Repair
from supervision.platform.access import Role
from supervision.platform.audit import AuditEntry
from supervision.platform.errors import BusyError, DomainError, ForbiddenError, NotFoundError
from supervision.platform.masking import mask_free_text, mask_record

__all__ = [
    "BatchAnswer",
    "Cursor",
    "FeedItem",
    "FeedPage",
    "RejectedRow",
    "batch",
    "feed",
    "push",
]

PUSHERS = (Role.SYSTEM, Role.ANALYST)
SOURCE_PREFIX = "exchange:"
OWN_BATCHES = "a department sees the batches it pushed"
OWN_RECORDS = "谁产生、谁报送: a department pushes the records it produced"
# Tables without a producer column: who produced a row cannot be checked, so only the platform's data steward
# (an analyst, who may ingest any file anyway) pushes them; another system's token is refused.
STEWARD_TABLES = "tables without a producer column are pushed by the platform's analysts only"
FEED_MAX = 1000
# Personal data is not exchanged beyond need (个人信息保护法 art 6): the persons table stays out of the feed
# and no row carries a person key (the embedded check gives the system role none either).
FEED_TABLES = tuple(t.name for t in catalog.TABLES if t.name != "persons")
HIDDEN_COLUMNS = frozenset({"person_key"})
REPAIR_ACTIONS = ("repairs.apply", "repairs.accept", "repairs.approve", "repairs.reject")
PUBLICATION_ACTIONS = ("disclosure.publish", "disclosure.withdraw")
LegalState = Literal["in_force", "under_objection", "corrected", "revoked", "repaired", "exited"]


class RejectedRow(BaseModel):
    """One quarantine entry of a pushed batch: the row (0-based index in `rows`), its field and rule."""

    model_config = ConfigDict(frozen=True)

    row: int = Field(description="index of the row in the request's `rows` (0-based)")
    field: str = Field(description="the field at fault (`<row>` for the whole row, `<line>` for no record)")
    rule: str = Field(description="the rule broken: an ingest rule (docs/ingest.md) or `producer`")
    value: str | None
    message: str


class BatchAnswer(BaseModel):
    """A pushed batch: read = accepted + quarantined, with every quarantined row."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    table: str
    source: str = Field(description="`exchange:` and the pushing department")
    content_sha256: str = Field(description="SHA-256 of the canonical batch (department, table, rows)")
    status: Literal["ingested", "already_ingested"]
    read: int
    accepted: int
    quarantined: int
    ignored_columns: list[str]
    ingested_at: datetime
    rejected: list[RejectedRow]


@dataclass(frozen=True, slots=True)
class Cursor:
    """A feed position: the lake batch sequence and next row in it, the last list event id and audit id."""

    batch: int = 0
    row: int = 0
    event: int = 0
    audit: int = 0

    PATTERN = re.compile(r"v1\.(\d{1,18})\.(\d{1,18})\.(\d{1,18})\.(\d{1,18})")

    def __str__(self) -> str:
        return f"v1.{self.batch}.{self.row}.{self.event}.{self.audit}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        match = cls.PATTERN.fullmatch(text)
        if match is None:
            raise DomainError(
                f"cursor {text[:60]!r}: not a feed cursor (v1.<batch>.<row>.<event>.<audit>, as next_cursor "
                "gives it)",
                field="cursor",
            )
        return cls(*(int(g) for g in match.groups()))


class FeedItem(BaseModel):
    """One change: its cursor (resume after it), kind, table, id, entity, legal state now, when, the data."""

    model_config = ConfigDict(frozen=True)

    cursor: str
    kind: Literal["record", "list_event", "repair", "publication"]
    table: str = Field(description="the catalog table (records), or list_events / repairs / disclosures")
    id: str
    uscc: str | None
    legal_state: LegalState | None = Field(
        description="records of lifecycle tables as of today (China); list entries: exited once exited_on"
    )
    at: datetime = Field(description="when the change was recorded (batch ingest, event, decision)")
    data: dict[str, Any]


class FeedPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[FeedItem]
    next_cursor: str = Field(description="pass it as `cursor` for the next page (the same cursor if empty)")
    has_more: bool


# --------------------------------------------------------------------------------------------------- push
def _canonical(department: str, table: str, rows: list[dict[str, Any]]) -> tuple[bytes, str]:
    """The JSON Lines the reader gets (one row a line, keys sorted) and the batch's content hash."""
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for r in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    head = json.dumps({"department": department, "table": table}, ensure_ascii=False, sort_keys=True)
    return data, hashlib.sha256(head.encode("utf-8") + b"\n" + data).hexdigest()


def _answer(ctx: Context, found: lake.Batch, status: Literal["ingested", "already_ingested"]) -> BatchAnswer:
    path = ctx.settings.lake_dir / found.table / found.batch_id / lake.QUARANTINE
    quarantine = pl.read_parquet(path).select("line", "field", "rule", "value", "message")
    return BatchAnswer(
        batch_id=found.batch_id,
        table=found.table,
        source=found.source,
        content_sha256=found.content_sha256,
        status=status,
        read=found.rows_read,
        accepted=found.rows_accepted,
        quarantined=found.rows_quarantined,
        ignored_columns=list(found.ignored_columns),
        ingested_at=found.ingested_at,
        rejected=[
            RejectedRow(row=line - 1, field=f, rule=rule, value=value, message=message)
            for line, f, rule, value, message in quarantine.iter_rows()
        ],
    )


@use_case("exchange.push", roles=PUSHERS)
def push(ctx: Context, *, table: str, rows: list[dict[str, Any]]) -> BatchAnswer:
    """Check a department's rows against the catalog like a file ingest: good rows into the lake, bad rows
    quarantined with their rule, one batch recorded in the ledger; the same batch again answers the first."""
    department = ctx.department()
    try:
        catalog.table(table)
    except ValueError as exc:
        raise DomainError(str(exc), field="table") from None
    column = ingest.PRODUCER_COLUMNS.get(table)
    if column is None and ctx.actor.role is not Role.ANALYST:
        raise ForbiddenError(f"table {table!r} has no producer column: {STEWARD_TABLES}", field="table")
    limits = ctx.settings
    if len(rows) > limits.exchange_max_rows:
        raise DomainError(
            f"{len(rows)} rows: over the limit exchange_max_rows = {limits.exchange_max_rows}; split the "
            "batch",
            field="rows",
        )
    if not rows:
        raise DomainError("no rows: a batch carries at least one row", field="rows")
    data, sha = _canonical(department, table, rows)
    if len(data) > limits.exchange_max_bytes:
        raise DomainError(
            f"{len(data)} bytes of rows: over the limit exchange_max_bytes = {limits.exchange_max_bytes}; "
            "split the batch",
            field="rows",
        )
    try:
        report = ingest.ingest_data(
            data,
            fmt="jsonl",
            table=table,
            source=SOURCE_PREFIX + department,
            content_sha256=sha,
            lake_dir=limits.lake_dir,
            salt=limits.person_salt,
            today=ctx.today,
            allow=limits.uscc_allow_list,
            producer=None if column is None else ingest.Producer(column, department),
        )
    except ingest.IngestError as exc:
        raise DomainError(str(exc), field="rows") from None
    except lake.LakeBusy as exc:
        raise BusyError(str(exc), field="lake") from None
    ctx.lock_for_write()
    _record(ctx, [report])
    found = lake.find_batch(limits.lake_dir, table, sha)
    if found is None:  # pragma: no cover - the batch was just written or found under the lock
        raise NotFoundError(f"batch {report.batch_id} vanished from the lake", field="batch_id")
    answer = _answer(ctx, found, report.status)
    ctx.audit(
        "exchange.push",
        target=f"batch:{answer.batch_id}",
        details={
            "table": table,
            "status": answer.status,
            "read": answer.read,
            "accepted": answer.accepted,
            "quarantined": answer.quarantined,
            "content_sha256": sha,
        },
    )
    return answer


BATCH_ID = re.compile(r"([a-z_]{1,32})-[0-9a-f]{16}")


@use_case("exchange.batch", roles=PUSHERS, target="batch:{batch_id}")
def batch(ctx: Context, batch_id: str) -> BatchAnswer:
    """A pushed batch's answer again (a department sees its own; an analyst every pushed batch)."""
    match = BATCH_ID.fullmatch(batch_id)
    table = match.group(1) if match else None
    manifest = None if table is None else ctx.settings.lake_dir / table / batch_id / lake.MANIFEST
    if table not in catalog.BY_NAME or manifest is None or not manifest.is_file():
        raise NotFoundError(f"no batch {batch_id[:60]!r} in the lake", field="batch_id")
    found = lake.Batch.from_json(json.loads(manifest.read_text(encoding="utf-8")))
    if not found.source.startswith(SOURCE_PREFIX):
        raise NotFoundError(f"batch {batch_id} was not pushed through the exchange", field="batch_id")
    if ctx.actor.role is not Role.ANALYST and found.source != SOURCE_PREFIX + ctx.department():
        raise ForbiddenError(f"batch {batch_id}: {OWN_BATCHES}", field="batch_id")
    ctx.audit("exchange.batch", target=f"batch:{batch_id}", read=True)
    return _answer(ctx, found, "already_ingested")


# --------------------------------------------------------------------------------------------------- feed
def _legal_states(ctx: Context, table: str, ids: list[str]) -> dict[str, LegalState]:
    """The legal state today of the records `ids` of a lifecycle table (decisions dated today count)."""
    if table not in catalog.RECORD_TABLES or not ids:
        return {}
    as_of = ctx.today + timedelta(days=1)
    src = ctx.sources()
    objected = (
        objection_state(src["objections"], as_of=as_of)
        .filter((pl.col("record_table") == table) & pl.col("record_id").is_in(ids))
        .collect()
    )
    repaired = (
        repair_state(src["repairs"], as_of=as_of)
        .filter((pl.col("record_table") == table) & pl.col("record_id").is_in(ids))
        .collect()
    )
    states: dict[str, LegalState] = {}
    for rid in repaired["record_id"]:
        states[rid] = "repaired"
    for rid, revoked, corrected, pending in objected.select(
        "record_id", "revoked", "corrected", "under_objection"
    ).iter_rows():
        if revoked:
            states[rid] = "revoked"
        elif corrected:
            states[rid] = "corrected"
        elif pending and rid not in states:
            states[rid] = "under_objection"
    return states


def _plain(row: dict[str, Any], table: str) -> dict[str, Any]:
    """A lake row as the system role may see it: personal fields masked or dropped by the system column of
    the masking policy (a legal representative's name masked, an entity's phone hidden, free text scrubbed),
    the catalog's internal columns (how an inspection was drawn) and person keys left out."""
    masked = mask_record(row, audience=Role.SYSTEM.value, table=table)
    internal = set(catalog.table(table).internal_fields)
    return {k: v for k, v in masked.items() if k not in HIDDEN_COLUMNS and k not in internal}


# A repair as other platforms receive it: the decision, not the risk tier (internal: 国市监信发〔2022〕6号)
# and not the applicant's free text.
REPAIR_FEED_FIELDS = (
    "repair_id",
    "uscc",
    "record_table",
    "record_id",
    "department",
    "regime",
    "applied_on",
    "accepted_on",
    "decided_on",
    "status",
    "reasons",
)


def _records(ctx: Context, at: Cursor, room: int) -> tuple[list[FeedItem], Cursor, bool]:
    """Lake rows after the cursor's (batch, row), in batch sequence then row order."""
    items: list[FeedItem] = []
    position = at
    lake_dir = ctx.settings.lake_dir
    pending = [b for b in lake.batches(lake_dir) if b.sequence >= at.batch and b.table in FEED_TABLES]
    for b in pending:
        start = at.row if b.sequence == at.batch else 0
        if start >= b.rows_accepted:
            continue
        if len(items) >= room:
            return items, position, True
        t = catalog.table(b.table)
        (key, *_) = t.key
        rows = (
            pl.scan_parquet(lake_dir / b.table / b.batch_id / lake.ACCEPTED)
            .slice(start, room - len(items))
            .collect()
            .to_dicts()
        )
        ids = [str(r[key]) for r in rows]
        states = _legal_states(ctx, b.table, ids)
        for offset, (row, rid) in enumerate(zip(rows, ids, strict=True)):
            position = Cursor(b.sequence, start + offset + 1, at.event, at.audit)
            state: LegalState | None = (
                states.get(rid, "in_force") if b.table in catalog.RECORD_TABLES else None
            )
            if b.table == "list_entries" and state == "in_force":
                exited = row.get("exited_on")
                if isinstance(exited, date) and exited <= ctx.today:
                    state = "exited"
            items.append(
                FeedItem(
                    cursor=str(position),
                    kind="record",
                    table=b.table,
                    id=rid,
                    uscc=row.get("uscc"),
                    legal_state=state,
                    at=b.ingested_at,
                    data=_plain(row, b.table),
                )
            )
        if start + len(rows) < b.rows_accepted:
            return items, position, True
    return items, position, False


def _list_events(ctx: Context, at: Cursor, room: int) -> tuple[list[FeedItem], Cursor, bool]:
    rows = lists.events_after(ctx.session, at.event, limit=room + 1)
    items = []
    position = at
    for row in rows[:room]:
        position = Cursor(at.batch, at.row, row.id, at.audit)
        data = row.as_dict()
        items.append(
            FeedItem(
                cursor=str(position),
                kind="list_event",
                table="list_events",
                id=str(row.id),
                uscc=row.uscc,
                legal_state="exited" if row.event == "exited" else "in_force",
                at=row.at,
                data=data,
            )
        )
    return items, position, len(rows) > room


def _decisions(ctx: Context, at: Cursor, room: int) -> tuple[list[FeedItem], Cursor, bool]:
    """Repair and publication decisions, by the audit chain's sequence, each with the object as it is now.

    A decision is the use case's own entry (written through ``ctx.audit``, so its details name the door);
    entries a domain module appends for its steps in the same transaction are not changes of their own."""
    query = (
        sa.select(AuditEntry.id, AuditEntry.action, AuditEntry.target, AuditEntry.at, AuditEntry.details)
        .where(
            AuditEntry.action.in_((*REPAIR_ACTIONS, *PUBLICATION_ACTIONS)),
            AuditEntry.result == "ok",
        )
        .order_by(AuditEntry.id)
        .limit(max(64, 2 * room))
    )
    items: list[FeedItem] = []
    position = at
    after = at.audit
    while True:
        entries = ctx.session.execute(query.where(AuditEntry.id > after)).all()
        for entry_id, action, target, when, details in entries:
            after = entry_id
            if "door" not in (details or {}):
                continue
            if len(items) == room:
                return items, position, True
            position = Cursor(at.batch, at.row, at.event, entry_id)
            item = _decision(ctx, action, target or "", when, position)
            if item is not None:
                items.append(item)
        if not entries:
            return items, position, False


def _repair_data(repair: Repair) -> dict[str, Any]:
    whole = repair.as_dict()
    data = {k: whole.get(k) for k in REPAIR_FEED_FIELDS}
    data["reasons"] = mask_free_text(data["reasons"]) if isinstance(data["reasons"], str) else None
    return data


def _decision(ctx: Context, action: str, target: str, when: datetime, position: Cursor) -> FeedItem | None:
    if action in REPAIR_ACTIONS and target.startswith("repair:"):
        repair = ctx.session.get(Repair, target.removeprefix("repair:"))
        if repair is None:
            return None
        return FeedItem(
            cursor=str(position),
            kind="repair",
            table="repairs",
            id=repair.repair_id,
            uscc=repair.uscc,
            legal_state=None,
            at=when,
            data=_repair_data(repair) | {"action": action},
        )
    parts = target.split(":", 2)
    if len(parts) == 3 and parts[0] == "disclosure":
        row = ctx.session.get(Disclosure, (parts[1], parts[2]))
        if row is None:
            return None
        data = row.as_dict()
        return FeedItem(
            cursor=str(position),
            kind="publication",
            table="disclosures",
            id=f"{parts[1]}:{parts[2]}",
            uscc=data.get("uscc"),
            legal_state=None,
            at=when,
            data=data | {"action": action},
        )
    return None


@use_case("exchange.feed", roles=(Role.SYSTEM,))
def feed(ctx: Context, *, cursor: str | None = None, limit: int = 500) -> FeedPage:
    """What changed after `cursor` (from the start without one): lake records with their legal state, list
    events, repair and publication decisions; at most `limit` items, each change exactly once across pages."""
    if not 1 <= limit <= FEED_MAX:
        raise DomainError(f"limit {limit}: must be 1 to {FEED_MAX}", field="limit")
    at = Cursor.parse(cursor)
    items: list[FeedItem] = []
    more = False
    for stream in (_records, _list_events, _decisions):
        room = limit - len(items)
        if room <= 0:
            more = True
            break
        got, at, left = stream(ctx, at, room)
        items += got
        more = more or left
    ctx.audit(
        "exchange.feed",
        target="exchange_feed",
        details={"cursor": cursor, "items": len(items), "next": str(at)},
        read=True,
    )
    return FeedPage(items=items, next_cursor=str(at), has_more=more)
