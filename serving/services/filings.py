"""Documents of the service zone's filings: checking and keeping uploads, serving one back, and the records an
entity may apply to repair.

An upload is checked before anything is written (empty, over ``document_max_bytes``, not a PDF/JPEG/PNG by its
first bytes: refused naming the form field); the filing's use case keeps it only once its own checks pass,
so a refused filing leaves no document behind. A document is served to staff who handle filings (supervisor,
inspector) and to the entity it was uploaded for, never to another entity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from serving.services.context import ENTITY_SCOPE, Context, own_entity, use_case
from supervision.lifecycle import documents
from supervision.lifecycle.repairs import REPAIRABLE_TABLES, check_conditions, repair_rules
from supervision.platform.access import Role
from supervision.platform.errors import DomainError, ForbiddenError

__all__ = [
    "DocumentFile",
    "DocumentView",
    "RepairableRecord",
    "Upload",
    "check_uploads",
    "get_document",
    "keep_uploads",
    "repairable_records",
]

DOCUMENT_READERS = (Role.SUPERVISOR, Role.INSPECTOR, Role.ENTITY)


@dataclass(frozen=True, slots=True)
class Upload:
    """One file as a door received it: the name and type the client sent (not trusted) and the bytes."""

    filename: str | None
    content: bytes
    declared_type: str | None = None


class DocumentView(BaseModel):
    """A stored document: its hash (its address), the type its bytes show, its size and name."""

    model_config = ConfigDict(frozen=True)

    sha256: str = Field(description="SHA-256 of the content: GET /documents/{sha256}")
    media_type: str = Field(
        description="application/pdf, image/jpeg or image/png, from the content's first bytes"
    )
    size: int
    filename: str = Field(description="the original name, sanitised, with the extension of the real type")

    @classmethod
    def of(cls, checked: documents.CheckedUpload) -> DocumentView:
        return cls(
            sha256=checked.sha256, media_type=checked.media_type, size=checked.size, filename=checked.filename
        )


@dataclass(frozen=True, slots=True)
class DocumentFile:
    """A document's bytes to serve, with its stored type and name."""

    sha256: str
    media_type: str
    filename: str
    content: bytes


def check_uploads(ctx: Context, uploads: Mapping[str, Upload]) -> dict[str, documents.CheckedUpload]:
    """Check every upload (field name → file); the first refused names its field. Nothing is written."""
    limit = ctx.settings.document_max_bytes
    return {
        field: documents.check_upload(upload.content, upload.filename, max_bytes=limit, field=field)
        for field, upload in uploads.items()
    }


def keep_uploads(ctx: Context, checked: Mapping[str, documents.CheckedUpload], *, uscc: str) -> None:
    """Keep checked uploads for `uscc` (content once by hash, one row per content and entity)."""
    for upload in checked.values():
        documents.store(
            ctx.session,
            ctx.settings.documents_dir,
            upload,
            uscc=uscc,
            uploaded_by=ctx.actor.actor,
            at=ctx.clock.now(),
        )


@use_case("documents.get", roles=DOCUMENT_READERS, target="document:{sha256}")
def get_document(ctx: Context, sha256: str) -> DocumentFile:
    """One document's bytes: staff who handle filings read any; an entity reads only its own uploads."""
    rows = documents.documents_of(ctx.session, sha256)
    if ctx.actor.role is Role.ENTITY:
        mine = [r for r in rows if r.uscc == ctx.actor.uscc]
        if not mine:
            # Another entity's document: refused without naming whose it is.
            raise ForbiddenError(f"document {sha256}: {ENTITY_SCOPE}", field="uscc")
        row = mine[0]
    else:
        row = rows[0]
    content = documents.read_content(ctx.settings.documents_dir, row)
    ctx.audit("documents.get", target=f"document:{sha256}", details={"uscc": row.uscc}, read=True)
    return DocumentFile(sha256=row.sha256, media_type=row.media_type, filename=row.filename, content=content)


class RepairableRecord(BaseModel):
    """One of the entity's records a repair may be applied for (a penalty or a list entry)."""

    model_config = ConfigDict(frozen=True)

    record_table: str
    record_id: str
    label: str = Field(description="what the record is (violation and kind, or the list)")
    dated: date | None = Field(description="decided on (penalty) or listed on (list entry)")
    authority: str | None
    required: list[str] = Field(
        default_factory=list,
        description="the repair routes its regime requires today: a document of each must be attached",
    )


@use_case("filings.repairable", roles=(Role.ENTITY, Role.SUPERVISOR))
def repairable_records(ctx: Context, *, uscc: str) -> list[RepairableRecord]:
    """The penalties and list entries of `uscc` in the lake (an entity: its own only)."""
    own_entity(ctx, uscc)
    sources = ctx.sources()
    policy = ctx.policy()
    routes = set(repair_rules(policy).catalog)

    def required(table: str, record_id: str) -> list[str]:
        try:
            conditions = check_conditions(
                sources,
                uscc=uscc,
                record_table=table,
                record_id=record_id,
                on=ctx.today,
                commitment=None,
                obligations_evidence=None,
                policy=policy,
            )
        except DomainError:  # a record no rule covers: the application says why
            return []
        return [c.name for c in conditions if c.name in routes]

    out: list[RepairableRecord] = []
    for table in REPAIRABLE_TABLES:
        frame = sources[table].filter(pl.col("uscc") == uscc).collect()
        for row in frame.to_dicts():
            if table == "penalties":
                out.append(
                    RepairableRecord(
                        record_table=table,
                        record_id=row["decision_no"],
                        label=f"{row.get('violation_type') or ''} · {row.get('penalty_kind') or ''} · "
                        f"{row.get('severity') or ''}",
                        dated=row.get("decided_on"),
                        authority=row.get("authority"),
                        required=required(table, row["decision_no"]),
                    )
                )
            else:
                out.append(
                    RepairableRecord(
                        record_table=table,
                        record_id=row["entry_id"],
                        label=str(row.get("list_type") or ""),
                        dated=row.get("listed_on"),
                        authority=row.get("authority"),
                        required=required(table, row["entry_id"]),
                    )
                )
    ctx.audit("filings.repairable", target=f"uscc:{uscc}", details={"rows": len(out)}, read=True)
    return sorted(out, key=lambda r: (r.dated or date.min, r.record_id), reverse=True)
