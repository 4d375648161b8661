"""The department's queue page (``/ui/queues``): what entities and others filed, each with its clock in
working days and, for a supervisor, the form of its decision.

The page shows what ``GET /queues`` returns (:func:`serving.services.queues.list_queue`); each form posts to
a route here that calls the decision's existing use case — objections mark and decide, repairs accept,
approve and reject, self-reports verify and reject — and comes back to the page (Post/Redirect/Get). A
refusal re-shows the queue with the message beside the item and the field it names, with the status of
the API's answer; nothing is written then.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.api.errors import KIND_STATUS
from serving.api.routers.filings import document_response
from serving.services import filings, objections, queues, repairs, self_reports
from serving.services.context import Context
from serving.web import auth
from serving.web.render import page
from supervision.platform.access import Role
from supervision.platform.errors import DomainError

router = APIRouter(prefix="/ui", include_in_schema=False)

ItemId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
Text = Annotated[str, Form(max_length=4000)]


@dataclass(frozen=True)
class ItemError:
    """A refusal shown beside its item: status, message, the field it names."""

    item_id: str
    status: int
    message: str
    field: str | None = None
    values: dict[str, str] = dataclasses.field(default_factory=dict)


def _show(request: Request, ctx: Context, error: ItemError | None = None) -> HTMLResponse:
    queue = queues.list_queue(ctx)
    return page(
        request,
        "queues/queue.html",
        status=error.status if error is not None else 200,
        queue=queue,
        error=error,
        can_decide=ctx.actor.role is Role.SUPERVISOR,
        done=request.query_params.get("done"),
    )


@router.get("/queues")
def queue_page(
    request: Request, ctx: Annotated[Context, auth.page_context(queues.list_queue)]
) -> HTMLResponse:
    """The department's open filings, the most urgent first."""
    return _show(request, ctx)


def _decide(
    request: Request,
    ctx: Context,
    item_id: str,
    act: Any,
    values: dict[str, str] | None = None,
) -> Response:
    try:
        act()
    except DomainError as exc:
        ctx.session.rollback()  # the services refuse before writing; this only makes "nothing" certain
        error = ItemError(item_id, KIND_STATUS[exc.kind], exc.message, exc.field, values or {})
        return _show(request, ctx, error)
    return RedirectResponse(f"/ui/queues?done={quote(item_id)}#notice", status_code=303)


def _required(item_id: str, name: str, value: str) -> ItemError | None:
    if value.strip():
        return None
    return ItemError(item_id, 422, f"{name}: required", name, {name: value})


@router.post("/queues/objections/{item_id}/mark", dependencies=[auth.CsrfDep])
def mark_objection(
    request: Request,
    item_id: ItemId,
    ctx: Annotated[Context, auth.page_context(objections.mark, queues.list_queue)],
) -> Response:
    return _decide(request, ctx, item_id, lambda: objections.mark(ctx, item_id))


@router.post("/queues/objections/{item_id}/decide", dependencies=[auth.CsrfDep])
def decide_objection(
    request: Request,
    item_id: ItemId,
    ctx: Annotated[Context, auth.page_context(objections.decide, queues.list_queue)],
    outcome: Annotated[str, Form(max_length=16)] = "",
    reasons: Text = "",
    resolution: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    values = {"reasons": reasons, "resolution": resolution}
    if outcome not in ("uphold", "reject"):
        return _show(request, ctx, ItemError(item_id, 422, "outcome: uphold or reject", "outcome", values))
    missing = _required(item_id, "reasons", reasons)
    if missing is not None:
        return _show(request, ctx, missing)
    return _decide(
        request,
        ctx,
        item_id,
        lambda: objections.decide(
            ctx,
            item_id,
            upheld=outcome == "uphold",
            reasons=reasons,
            resolution=(resolution or None) if outcome == "uphold" else None,
        ),
        values,
    )


@router.post("/queues/repairs/{item_id}/accept", dependencies=[auth.CsrfDep])
def accept_repair(
    request: Request,
    item_id: ItemId,
    ctx: Annotated[Context, auth.page_context(repairs.accept, queues.list_queue)],
) -> Response:
    return _decide(request, ctx, item_id, lambda: repairs.accept(ctx, item_id))


@router.post("/queues/repairs/{item_id}/approve", dependencies=[auth.CsrfDep])
def approve_repair(
    request: Request,
    item_id: ItemId,
    ctx: Annotated[Context, auth.page_context(repairs.approve, queues.list_queue)],
) -> Response:
    return _decide(request, ctx, item_id, lambda: repairs.approve(ctx, item_id))


@router.post("/queues/repairs/{item_id}/reject", dependencies=[auth.CsrfDep])
def reject_repair(
    request: Request,
    item_id: ItemId,
    ctx: Annotated[Context, auth.page_context(repairs.reject, queues.list_queue)],
    reasons: Text = "",
) -> Response:
    missing = _required(item_id, "reasons", reasons)
    if missing is not None:
        return _show(request, ctx, missing)
    return _decide(
        request, ctx, item_id, lambda: repairs.reject(ctx, item_id, reasons=reasons), {"reasons": reasons}
    )


@router.post("/queues/self-reports/{item_id}/verify", dependencies=[auth.CsrfDep])
def verify_self_report(
    request: Request,
    item_id: ItemId,
    ctx: Annotated[Context, auth.page_context(self_reports.verify, queues.list_queue)],
) -> Response:
    return _decide(request, ctx, item_id, lambda: self_reports.verify(ctx, item_id))


@router.post("/queues/self-reports/{item_id}/reject", dependencies=[auth.CsrfDep])
def reject_self_report(
    request: Request,
    item_id: ItemId,
    ctx: Annotated[Context, auth.page_context(self_reports.reject, queues.list_queue)],
    reason: Text = "",
) -> Response:
    return _decide(
        request, ctx, item_id, lambda: self_reports.reject(ctx, item_id, reason=reason), {"reason": reason}
    )


@router.get("/documents/{sha256}")
def document(
    sha256: Annotated[str, Path(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")],
    ctx: Annotated[Context, auth.page_context(filings.get_document)],
) -> Response:
    """A document for the signed-in visitor, as the API serves it (an attachment, never a page)."""
    return document_response(filings.get_document(ctx, sha256))
