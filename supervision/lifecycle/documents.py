"""Documents an entity attaches to a filing (repair evidence, self-report proof): PDF, JPEG or PNG only.

The type is decided by the content's first bytes (``%PDF-``, ``FF D8 FF``, the PNG signature), never by the
file name or the type the browser declares, so an HTML page renamed ``.pdf`` is refused. Content is stored
once under its SHA-256 (``<root>/<aa>/<sha256>``), written to a temporary file in the same folder and renamed
into place, so a reader never sees half a file and two uploads of the same bytes share one file. The table
``documents`` records who uploaded what for which entity (one row per content and entity); the repair
application links its documents by route (``repair_documents``). Served back only with the stored media type
as an attachment (the doors add ``nosniff``), never as a page.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from supervision.platform.db import Base
from supervision.platform.errors import DomainError, NotFoundError

__all__ = [
    "MEDIA_TYPES",
    "CheckedUpload",
    "Document",
    "DocumentError",
    "RepairDocument",
    "check_upload",
    "content_path",
    "documents_of",
    "link_repair",
    "read_content",
    "repair_documents",
    "sniff",
    "store",
]

# Magic bytes → media type: the only kinds accepted (PDF, JPEG, PNG).
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
MEDIA_TYPES: tuple[str, ...] = tuple(dict.fromkeys(m for _, m in MAGIC))
EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")
FILENAME_MAX = 120


class DocumentError(DomainError, ValueError):
    """An upload refused (empty, too large, not a PDF/JPEG/PNG by its content)."""


class Document(Base):
    """One uploaded content for one entity: its hash, the type its bytes show, its size, who sent it."""

    __tablename__ = "documents"
    __table_args__ = (
        sa.CheckConstraint("media_type IN ('application/pdf', 'image/jpeg', 'image/png')", name="media_type"),
        sa.CheckConstraint("size > 0", name="size"),
        sa.UniqueConstraint("sha256", "uscc"),
    )

    document_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    media_type: Mapped[str] = mapped_column(sa.String(32))
    size: Mapped[int] = mapped_column(sa.Integer)
    filename: Mapped[str] = mapped_column(sa.String(FILENAME_MAX))
    uploaded_by: Mapped[str] = mapped_column(sa.String(200))
    uploaded_at: Mapped[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "uscc": self.uscc,
            "media_type": self.media_type,
            "size": self.size,
            "filename": self.filename,
            "uploaded_by": self.uploaded_by,
            "uploaded_at": self.uploaded_at,
        }


class RepairDocument(Base):
    """The document a repair application gives for one route (credit_training, credit_report …)."""

    __tablename__ = "repair_documents"

    repair_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("repairs.repair_id", ondelete="CASCADE"), primary_key=True
    )
    condition: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """An upload that passed the checks: its hash, type (from its bytes), size and a safe file name."""

    sha256: str
    media_type: str
    size: int
    filename: str
    content: bytes


def sniff(content: bytes) -> str | None:
    """The media type the content's first bytes show, or None (not a PDF, JPEG or PNG)."""
    return next((media for magic, media in MAGIC if content.startswith(magic)), None)


def sanitise_filename(name: str | None, media_type: str) -> str:
    """The original name reduced to a harmless label: no folders, no control or markup characters, at most
    FILENAME_MAX characters, the extension of the real type."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*&;`$')
    stem = base.rsplit(".", 1)[0].strip(" .") or "document"
    return stem[: FILENAME_MAX - 5] + EXTENSIONS[media_type]


def check_upload(
    content: bytes, filename: str | None, *, max_bytes: int, field: str = "file"
) -> CheckedUpload:
    """Check one upload: not empty, at most `max_bytes`, a PDF/JPEG/PNG by its content (the name and the
    declared type are not trusted); the error names `field` and the rule."""
    if not content:
        raise DocumentError(f"{field}: the file is empty", field=field)
    if len(content) > max_bytes:
        raise DocumentError(
            f"{field}: {len(content)} bytes, over the limit of {max_bytes} bytes (document_max_bytes)",
            field=field,
        )
    media = sniff(content)
    if media is None:
        raise DocumentError(
            f"{field} {sanitise_filename(filename, 'application/pdf')[:60]!r}: not a PDF, JPEG or PNG by its "
            "content (the file's first bytes decide, not its name or declared type)",
            field=field,
        )
    return CheckedUpload(
        sha256=hashlib.sha256(content).hexdigest(),
        media_type=media,
        size=len(content),
        filename=sanitise_filename(filename, media),
        content=content,
    )


def content_path(root: Path, sha256: str) -> Path:
    """Where the content of `sha256` lives under `root`."""
    if not SHA256.match(sha256):
        raise DocumentError(f"sha256 {sha256[:80]!r}: 64 lower-case hex digits", field="sha256")
    return root / sha256[:2] / sha256


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(
    session: Session, root: Path, upload: CheckedUpload, *, uscc: str, uploaded_by: str, at: datetime
) -> Document:
    """Keep `upload` for `uscc`: the content once under its hash (written atomically, skipped if there), one
    row per content and entity (the first upload's name and uploader kept)."""
    path = content_path(root, upload.sha256)
    if not _holds(path, upload.sha256):  # missing, or damaged: written again (the hash names the bytes)
        _write_atomically(path, upload.content)
    mine = sa.select(Document).where(Document.sha256 == upload.sha256, Document.uscc == uscc)
    row = session.scalar(mine)
    if row is None:
        row = Document(
            sha256=upload.sha256,
            uscc=uscc,
            media_type=upload.media_type,
            size=upload.size,
            filename=upload.filename,
            uploaded_by=uploaded_by,
            uploaded_at=at,
        )
        try:
            with session.begin_nested():  # the same bytes uploaded for this entity at the same moment
                session.add(row)
        except sa.exc.IntegrityError:
            row = session.scalars(mine).one()
    return row


def _holds(path: Path, sha256: str) -> bool:
    """Whether the store's file at `path` holds exactly the content `sha256` names."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except FileNotFoundError:
        return False


def documents_of(session: Session, sha256: str) -> list[Document]:
    """Every row of the content `sha256` (one per entity it was uploaded for); 404 if none."""
    content_path(Path("."), sha256)  # checks the form of the hash
    rows = list(session.scalars(sa.select(Document).where(Document.sha256 == sha256).order_by(Document.uscc)))
    if not rows:
        raise NotFoundError(f"document {sha256} not found", field="sha256")
    return rows


def read_content(root: Path, row: Document) -> bytes:
    """The stored bytes of `row`, checked against its hash (a changed file is not served)."""
    path = content_path(root, row.sha256)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"document {row.sha256}: its content is missing from the store") from None
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise DocumentError(f"document {row.sha256}: the stored content does not match its hash")
    return data


def link_repair(session: Session, repair_id: str, documents: dict[str, str]) -> None:
    """Link a repair application to its documents: route → sha256."""
    for condition, sha in sorted(documents.items()):
        session.add(RepairDocument(repair_id=repair_id, condition=condition, sha256=sha))
    session.flush()


def repair_documents(session: Session, repair_id: str) -> dict[str, str]:
    """The documents of a repair application: route → sha256."""
    rows = session.scalars(sa.select(RepairDocument).where(RepairDocument.repair_id == repair_id))
    return {r.condition: r.sha256 for r in rows}
