"""The public 双公示 page (/ui/public/decisions): search the published decisions of the ten kinds, no sign-in.

The page calls the API's public search (:func:`serving.services.disclosure.search`, ``GET
/disclosure/search``) as the anonymous public, so it shows exactly what the API shows, masked the same way.
The form is a GET (a search changes nothing, and a link to a result page can be shared); its fields arrive
as text so that an empty field is "no filter" and a malformed one is answered on the page, naming the field,
instead of with a bare error page.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from serving.api.deps import public_context
from serving.services import disclosure
from serving.services.context import Context
from serving.web import i18n
from serving.web.render import page
from supervision.lifecycle.disclosure import KINDS
from supervision.platform.errors import DomainError

router = APIRouter(prefix="/ui/public", include_in_schema=False)

PER_PAGE = 20
# Longer than the service allows, so that the service's own message (naming the field) answers it.
FIELD_MAX = 1000


class _FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _day(value: str, field: str, lang: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _FormError(field, i18n.t("publicity.decisions.bad_date", lang)) from None


def _number(value: str, field: str, lang: str, default: int) -> int:
    text = value.strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise _FormError(field, i18n.t("publicity.decisions.bad_number", lang))
    return int(text)


@router.get("/decisions")
def decisions(
    request: Request,
    ctx: Annotated[Context, public_context(disclosure.search)],
    q: Annotated[str, Query(max_length=FIELD_MAX)] = "",
    kind: Annotated[str, Query(max_length=FIELD_MAX)] = "",
    department: Annotated[str, Query(max_length=FIELD_MAX)] = "",
    decided_from: Annotated[str, Query(max_length=FIELD_MAX)] = "",
    decided_to: Annotated[str, Query(max_length=FIELD_MAX)] = "",
    page_no: Annotated[str, Query(alias="page", max_length=FIELD_MAX)] = "",
    per_page: Annotated[str, Query(max_length=FIELD_MAX)] = "",
) -> HTMLResponse:
    """The search form and one page of results (newest first); a bad field is named on the page (422)."""
    lang = i18n.language(request)
    form = {
        "q": q,
        "kind": kind,
        "department": department,
        "decided_from": decided_from,
        "decided_to": decided_to,
    }
    context: dict[str, Any] = {"form": form, "kinds": list(KINDS.items()), "result": None, "error": None}
    try:
        result = disclosure.search(
            ctx,
            kind=kind.strip() or None,
            q=q or None,
            department=department or None,
            decided_from=_day(decided_from, "decided_from", lang),
            decided_to=_day(decided_to, "decided_to", lang),
            page=_number(page_no, "page", lang, 1),
            per_page=_number(per_page, "per_page", lang, PER_PAGE),
        )
    except _FormError as exc:
        context["error"] = {"field": exc.field, "message": exc.message}
        return page(request, "public/decisions.html", status=422, **context)
    except DomainError as exc:
        context["error"] = {"field": exc.field, "message": exc.message}
        return page(request, "public/decisions.html", status=422, **context)
    pages = max(1, math.ceil(result.total / result.per_page))
    base = request.url.path

    def link(n: int) -> str:
        url = request.url.include_query_params(page=n)
        return f"{base}?{url.query}"

    return page(
        request,
        "public/decisions.html",
        **context
        | {
            "result": result,
            "pages": pages,
            "prev_url": link(result.page - 1) if result.page > 1 else None,
            "next_url": link(result.page + 1) if result.page < pages else None,
        },
    )
