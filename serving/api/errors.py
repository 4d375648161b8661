"""Errors as HTTP: every failure becomes ``{"error": {"type", "message", "field"?}}`` with its status, here
only.

Routers raise :class:`ApiError` subclasses or domain exceptions; :data:`KIND_STATUS` is the one table that
maps a domain exception to a status and a type. Bad input is always a 4xx; anything unexpected is a 500
whose body says nothing about the internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from supervision.platform.errors import DomainError, ErrorKind

log = logging.getLogger("creditwatch.api")


class ApiError(Exception):
    """An error the client can act on: a status, a stable type, a message and optionally the field."""

    status = 400
    type = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


class Unauthenticated(ApiError):
    status, type = 401, "unauthenticated"

    def __init__(
        self, message: str = "a valid API token is required (Authorization: Bearer <token>)"
    ) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status, type = 403, "forbidden"


class NotFound(ApiError):
    status, type = 404, "not_found"


class Conflict(ApiError):
    status, type = 409, "conflict"


class RateLimited(ApiError):
    status, type = 429, "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many requests: retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


# The domain's refusals (supervision.platform.errors.DomainError) by kind: the one table of their statuses.
KIND_STATUS: dict[ErrorKind, int] = {
    ErrorKind.VALIDATION: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.BUSY: 503,
}

STATUS_TYPES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation",
    429: "rate_limited",
}


class ErrorDetail(BaseModel):
    """The error itself; a validation error adds ``errors`` (each ``field``, ``message``, ``rule``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="stable machine-readable kind, e.g. `validation`, `not_found`")
    message: str = Field(description="what went wrong, naming the field and the rule where there is one")
    field: str | None = Field(None, description="the offending input, e.g. `path.uscc`, `body.reason`")


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"type", "message", "field"?}}``."""

    error: ErrorDetail


# Status → description of the common error responses; the app factory declares them on each route (OpenAPI).
ERROR_STATUSES: dict[int, str] = {
    400: "malformed request (e.g. a Content-Length that is not a number)",
    401: "no valid API token (missing, invalid, revoked or expired)",
    403: "the token's role may not use this route",
    404: "the object named in the request does not exist",
    409: "the request conflicts with the object's current state",
    413: "the request body exceeds the size limit",
    422: "invalid input: the field and the rule it breaks",
    429: "over the caller's rate limit (see Retry-After)",
    503: "the database, the model registry or the serving model is busy or unavailable (retry later)",
}


def openapi_responses(*, authenticated: bool, has_input: bool, has_body: bool) -> dict[int | str, Any]:
    """The error responses a route can give, for its ``responses=`` (all with the :class:`ErrorBody`
    model)."""
    statuses = [503]
    if authenticated:
        statuses += [401, 403, 429]
    if has_input:
        statuses += [404, 409, 422]
    if has_body:
        statuses += [400, 413]
    return {s: {"model": ErrorBody, "description": ERROR_STATUSES[s]} for s in sorted(statuses)}


def error_body(type_: str, message: str, *, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_, "message": message}
    if field is not None:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def error_response(
    status: int,
    type_: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        error_body(type_, message, field=field, **extra), status_code=status, headers=dict(headers or {})
    )


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.type, exc.message, field=exc.field, headers=exc.headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = KIND_STATUS[exc.kind]
    headers = {"Retry-After": "1"} if status == 503 else None
    return error_response(status, exc.kind.value, str(exc), field=exc.field, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": _location(err.get("loc", ())), "message": str(err.get("msg", "")), "rule": err.get("type")}
        for err in exc.errors()
    ]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    return error_response(422, "validation", message, field=first["field"], errors=problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = STATUS_TYPES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
    return error_response(exc.status_code, type_, str(exc.detail), headers=exc.headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Locks held too long, a lost connection: the request may succeed later. The SQL stays in the log.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503, "unavailable", "the database is busy or unreachable; retry shortly", headers={"Retry-After": "1"}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    """Register every handler on `app`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa.exc.OperationalError, _database_unavailable)
    # Every pooled connection busy for the pool's timeout: the same "retry shortly", not a 500.
    app.add_exception_handler(sa.exc.TimeoutError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
