"""HTTP plumbing shared by the kb routers: the error shape, request ids, access log, auth,
the body-size limit, and running the blocking pipeline off the event loop."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from bot.answer import KnowledgeBot, QuestionError
from bot.runtime.store import IndexMismatchError, StoreUnavailableError

log = logging.getLogger("kb.http")
T = TypeVar("T")

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[\w.:/+=-]{1,128}", re.ASCII)
# 422 for all: the schema publishes these limits, and schema-invalid input is a 422 (or 400)
_QUESTION_STATUS = {"empty_question": 422, "question_too_long": 422, "invalid_question": 422}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


# ---------------------------------------------------------------------------------- text
def scrub(text: Any) -> Any:
    """Replace lone surrogates (legal in JSON escapes, unencodable in UTF-8) with U+FFFD.
    Runs before validation, so constraints (a pattern) see encodable text; non-text passes."""
    if not isinstance(text, str):
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


CleanText = Annotated[str, BeforeValidator(scrub)]


def printable(text: str, limit: int = 200) -> str:
    """Text safe for one log line (no control characters, bounded)."""
    text = text[:limit]
    return text if text.isascii() and text.isprintable() else json.dumps(text)[1:-1]


# ---------------------------------------------------------------------------------- errors
def request_id_of(scope_or_request: Scope | Request) -> str:
    """The request id assigned by the middleware ("-" outside a request)."""
    scope = scope_or_request.scope if isinstance(scope_or_request, Request) else scope_or_request
    return str(scope.get("state", {}).get("request_id", "-"))


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str = "-",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The one error shape: `{"error": {"code", "message", "request_id", …}}`."""
    body = {"error": {"code": code, "message": message, "request_id": request_id, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(Exception):
    """An error with an HTTP status and a stable code, rendered in the error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    rid = request_id_of(request)
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "malformed")
            return error_response(
                400, "invalid_json", f"the request body is not valid JSON: {detail}", rid
            )
    content_type = request.headers.get("content-type", "")
    body_sent = bool(content_type) or int(request.headers.get("content-length") or 0) > 0
    body_unread = any(tuple(e.get("loc", ())) == ("body",) for e in errors)
    if body_unread and body_sent and not _is_json(content_type):
        return error_response(
            415,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
            rid,
        )
    # Never echo `input`: it is user text (possibly huge, or unencodable).
    details = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": _message(e),
            "type": str(e.get("type", "")),
        }
        for e in errors[:10]
    ]
    summary = "; ".join(f"{'.'.join(d['loc'][1:] or d['loc'])}: {d['msg']}" for d in details[:3])
    blank = any(_is_blank_question(e) for e in errors)
    code = "empty_question" if blank else "invalid_request"
    return error_response(422, code, f"invalid request: {summary}", rid, details=details)


def _message(error: Any) -> str:
    if error.get("type") == "string_pattern_mismatch":  # the one pattern: a visible character
        return "must contain a letter or digit (it is blank or only symbols)"
    return str(error.get("msg", ""))


def _is_blank_question(error: Any) -> bool:
    """A question/initiative without a letter or digit, or a chat with no user question."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "string_pattern_mismatch":
        return loc[-1:] in (("question",), ("initiative",))
    return error.get("type") == "empty_question"


async def _on_question_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QuestionError)
    status = _QUESTION_STATUS.get(exc.code, 422)
    return error_response(status, exc.code, str(exc), request_id_of(request))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    if exc.status_code == 400:  # raised by FastAPI only when the body cannot be decoded
        code, message = "invalid_json", await _why_not_json(request)
    elif exc.status_code == 404:
        message = f"no such endpoint: {request.method} {printable(request.url.path)}"
    return error_response(
        exc.status_code, code, message, request_id_of(request), headers=exc.headers
    )


async def _why_not_json(request: Request) -> str:
    """Why FastAPI could not decode the body (it reports every cause as one generic 400)."""
    body = await request.body()  # buffered by KbMiddleware: bounded by KB_MAX_BODY_BYTES
    try:
        json.loads(body)
    except RecursionError:
        return "the request body is JSON nested too deeply to parse"
    except UnicodeDecodeError:
        return "the request body is not valid UTF-8"
    except ValueError as exc:
        return f"the request body is not valid JSON: {exc}"
    return "the request body could not be decoded as JSON"


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, request_id_of(request))


async def _on_store_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable rid=%s: %s", request_id_of(request), exc)
    return error_response(
        503, "unavailable", f"the knowledge base is not available: {exc}", request_id_of(request)
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render every anticipated failure in the error shape."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(QuestionError, _on_question_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StoreUnavailableError, _on_store_error)
    app.add_exception_handler(IndexMismatchError, _on_store_error)


# ---------------------------------------------------------------------------------- threads
def get_bot(request: Request) -> KnowledgeBot:
    """The bot loaded at start-up."""
    bot = getattr(request.app.state, "bot", None)
    if bot is None:
        raise ApiError(503, "not_ready", "the knowledge bot is not loaded yet")
    return bot  # type: ignore[no-any-return]


async def run_blocking(request: Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking pipeline call in the worker pool, bounded by the app's limiter."""
    limiter = getattr(request.app.state, "limiter", None)
    return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs), limiter=limiter)


_DONE = object()


async def prefetched(request: Request, items: Iterator[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterator from async code, each step in the worker pool.

    The first item is pulled before returning, so input errors (QuestionError) surface while
    a proper 4xx can still be sent, not after a streaming response has started.
    """
    limiter = getattr(request.app.state, "limiter", None)
    first = await anyio.to_thread.run_sync(next, items, _DONE, limiter=limiter)

    async def iterate() -> AsyncIterator[T]:
        try:
            item = first
            while item is not _DONE:
                yield item  # type: ignore[misc]
                # not abandoned on cancel: the step finishes, so close() below cannot race it
                item = await anyio.to_thread.run_sync(next, items, _DONE, limiter=limiter)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    return iterate()


def sse(data: Any, event: str | None = None) -> str:
    """One Server-Sent Event (JSON data on a single line; ASCII-escaped, so never unencodable)."""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {payload}\n\n" if event else f"data: {payload}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
