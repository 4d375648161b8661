"""The forms of the early-warning panel on the supervisor's landing page (``/ui/entities``): acknowledge and
close a warning of the department.

Each form posts here, calls the use case of :mod:`serving.services.warnings` and comes back to the landing
page (Post/Redirect/Get). A refusal (another department's warning, no note, a closed warning) re-shows the
page with the message and the field it names, with the status of the API's answer; nothing is written then.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from serving.api.errors import KIND_STATUS
from serving.services import warnings
from serving.services.context import Context
from serving.web import auth, supervisor
from supervision.monitoring.warnings import NOTE_MAX
from supervision.platform.errors import DomainError

router = APIRouter(prefix="/ui", include_in_schema=False)

WarningId = Annotated[int, Path(ge=1, le=2**62)]


class PanelError:
    """A refusal shown on the panel: status, message, the field it names."""

    def __init__(self, status: int, message: str, field: str | None) -> None:
        self.status, self.message, self.field = status, message, field


def _act(request: Request, ctx: Context, warning_id: int, act: object) -> Response:
    try:
        act()  # type: ignore[operator]
    except DomainError as exc:
        ctx.session.rollback()  # the services refuse before writing; this only makes "nothing" certain
        error = PanelError(KIND_STATUS[exc.kind], exc.message, exc.field)
        return supervisor.landing(request, ctx, status=error.status, error=error)
    return RedirectResponse(f"/ui/entities?warning_done={warning_id}#warnings", status_code=303)


@router.post("/warnings/{warning_id}/acknowledge", dependencies=[auth.CsrfDep])
def acknowledge_warning(
    request: Request,
    warning_id: WarningId,
    ctx: Annotated[Context, auth.page_context(warnings.acknowledge, warnings.list_warnings)],
) -> Response:
    return _act(request, ctx, warning_id, lambda: warnings.acknowledge(ctx, warning_id))


@router.post("/warnings/{warning_id}/close", dependencies=[auth.CsrfDep])
def close_warning(
    request: Request,
    warning_id: WarningId,
    ctx: Annotated[Context, auth.page_context(warnings.close, warnings.list_warnings)],
    note: Annotated[str, Form(max_length=NOTE_MAX)] = "",
) -> Response:
    return _act(request, ctx, warning_id, lambda: warnings.close(ctx, warning_id, note=note))
