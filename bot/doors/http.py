"""The kb HTTP API: `/ask`, `/classify`, streaming, health, sources, and (from
`bot.doors.openai_compat`) an OpenAI-compatible endpoint. A thin adapter over `KnowledgeBot`.

`create_app(settings)` builds the app; `serve(settings, host, port)` runs it under uvicorn.
Other front doors mount into the same app: add routes, and add paths that must skip the
bearer check (Slack signs its own requests) to `app.state.public_paths`.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.answer import KnowledgeBot
from bot.doors import openai_compat
from bot.doors.http_middleware import KbMiddleware
from bot.doors.http_support import (
    SSE_HEADERS,
    ApiError,
    CleanText,
    get_bot,
    install_error_handlers,
    prefetched,
    ready_bot,
    request_id_of,
    run_blocking,
    sse,
)
from bot.runtime.schema import Answer, Citation, Label, Turn
from bot.runtime.settings import Settings

log = logging.getLogger("kb.http")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
# Concurrent pipeline calls: enough to overlap I/O (Chroma server, LLM), few enough that
# CPU-bound embedding on a small machine does not thrash.
DEFAULT_WORKERS = 8
# Only documents the scheme in OpenAPI (the "Authorize" button); KbMiddleware enforces it.
_bearer_doc = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer <KB_API_KEY>` when a key is set"
)


# ---------------------------------------------------------------------------------- models
class HistoryTurn(Turn):
    """An earlier message of the conversation."""

    content: CleanText


class AskRequest(BaseModel):
    """`POST /ask` (DESIGN.md), plus `stream` for Server-Sent Events."""

    question: CleanText = Field(
        description="The question (non-blank; at most KB_MAX_QUESTION_CHARS characters).",
        examples=["What is digital transformation?"],
    )
    history: list[HistoryTurn] = Field(
        default_factory=list, description="Earlier turns, oldest first."
    )
    stream: bool = Field(
        False, description="Stream Server-Sent Events (also: `Accept: text/event-stream`)."
    )


class ClassifyRequest(BaseModel):
    """`POST /classify`."""

    initiative: CleanText = Field(examples=["Migrating our data center to the cloud"])


class ClassifyResponse(BaseModel):
    """Whether an initiative is IT, digital or both, with the evidence."""

    label: Label
    confidence: float
    rationale: str
    citations: list[Citation]


class SourceInfo(BaseModel):
    """One document of the knowledge base."""

    source: str
    title: str
    chunks: int


class SourcesResponse(BaseModel):
    """The documents of the knowledge base."""

    sources: list[SourceInfo]


class ErrorBody(BaseModel):
    """`error` of an error response."""

    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """Every error: `{"error": {"code", "message", "request_id"}}`."""

    error: ErrorBody


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Invalid JSON",
        401: "Missing or wrong API key",
        413: "Body or question too long",
        422: "Empty question, invalid request, or text that is not an initiative",
        503: "Knowledge base unavailable",
    }.items()
}


# ---------------------------------------------------------------------------------- routes
health = APIRouter(tags=["health"])
api = APIRouter(tags=["knowledge base"], dependencies=[Depends(_bearer_doc)], responses=_ERRORS)


@health.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@health.get("/readyz", summary="Readiness: index present, Chroma reachable")
async def readyz(request: Request) -> JSONResponse:
    """200 with document/chunk counts and the embedding model, or 503 with the reason."""
    bot = getattr(request.app.state, "bot", None)
    if bot is None:
        info: dict[str, Any] = {"ready": False, "reason": "starting up"}
    else:
        try:
            # the default pool, not the pipeline limiter: probes must not queue behind answers
            info = await run_in_threadpool(bot.ready)
        except Exception as exc:
            log.warning("readiness check failed rid=%s: %s", request_id_of(request), exc)
            info = {"ready": False, "reason": f"readiness check failed: {exc}"}
    if info.get("ready"):
        return JSONResponse(info)
    reason = str(info.get("reason") or "not ready")
    error = {"code": "not_ready", "message": reason, "request_id": request_id_of(request)}
    return JSONResponse({**info, "error": error}, status_code=503)


def _wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "").lower()


@api.post(
    "/ask",
    response_model=Answer,
    summary="Answer a question from the knowledge base",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "The Answer; or, when streaming, `delta` events then one `answer` event",
        }
    },
)
async def ask(body: AskRequest, request: Request) -> Any:
    """Answer with citations (and a classification for "IT or digital?" questions).
    With `"stream": true` or `Accept: text/event-stream`: SSE `delta` events `{"text"}`, then one
    `answer` event holding the full Answer."""
    bot = await ready_bot(request)
    history: list[Turn] | None = list(body.history) or None
    if body.stream or _wants_sse(request):
        items = await prefetched(request, bot.stream(body.question, history))
        return StreamingResponse(
            _ask_events(request, items), media_type="text/event-stream", headers=SSE_HEADERS
        )
    return await run_blocking(request, bot.answer, body.question, history)


async def _ask_events(request: Request, items: AsyncIterator[str | Answer]) -> AsyncIterator[str]:
    try:
        async for item in items:
            if isinstance(item, Answer):
                yield sse(item.model_dump(mode="json"), "answer")
                return
            yield sse({"text": item}, "delta")
    except Exception:
        rid = request_id_of(request)
        log.exception("answer stream failed rid=%s", rid)
        yield sse(
            {
                "error": {
                    "code": "internal_error",
                    "message": f"internal error; quote request id {rid}",
                    "request_id": rid,
                }
            },
            "error",
        )


@api.post(
    "/classify", response_model=ClassifyResponse, summary="Is an initiative IT, digital, or both?"
)
async def classify(body: ClassifyRequest, request: Request) -> ClassifyResponse:
    """Classify an initiative against how the knowledge base describes IT and digital work."""
    bot = await ready_bot(request)
    result = await run_blocking(request, bot.classify, body.initiative)
    if result.classification is None:  # not an initiative: refused, with the reason
        raise ApiError(422, "not_an_initiative", result.answer)
    verdict = result.classification
    return ClassifyResponse(
        label=verdict.label,
        confidence=verdict.confidence,
        rationale=verdict.rationale,
        citations=result.citations,
    )


@api.get("/sources", response_model=SourcesResponse, summary="Documents in the knowledge base")
async def sources(request: Request) -> SourcesResponse:
    """Each document with its title and number of chunks."""
    bot = get_bot(request)
    found = await run_blocking(request, bot.sources)
    return SourcesResponse(sources=[SourceInfo(**entry) for entry in found])


# ---------------------------------------------------------------------------------- app
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kb")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(
    settings: Settings,
    bot: KnowledgeBot | None = None,
    *,
    ensure_index: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> FastAPI:
    """The kb FastAPI app. The bot (given, or built from `settings`) is `load()`ed once at
    start-up; with `ensure_index`, the bundled corpus is ingested then if the index is empty.
    `workers` bounds concurrent pipeline calls."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = bot or KnowledgeBot(settings)
        app.state.limiter = anyio.CapacityLimiter(workers)
        started = time.perf_counter()
        try:
            await run_in_threadpool(current.load)
            if ensure_index and await run_in_threadpool(current.ensure_index):
                log.info("ingested the bundled corpus into an empty index")
        except Exception:
            # stay up: /readyz reports why, and the bot retries loading on use
            log.exception("loading the knowledge bot failed")
        app.state.bot = current
        log.info(
            "kb ready to serve in %.0f ms (auth %s)",
            (time.perf_counter() - started) * 1000,
            "on" if settings.api_key else "off",
        )
        yield
        log.info("kb HTTP shutting down")

    app = FastAPI(
        title="kb",
        version=_version(),
        summary="Answers questions from the IT/digital strategy knowledge base, with citations.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bot = None
    app.state.limiter = None
    app.state.started_at = time.time()
    app.state.public_paths = set(PUBLIC_PATHS)
    install_error_handlers(app)
    app.add_middleware(KbMiddleware, settings=settings)
    app.include_router(health)
    app.include_router(api)
    app.include_router(openai_compat.router, dependencies=[Depends(_bearer_doc)])
    from bot.doors.slack_app import (
        mount_slack,  # the Slack door shares this app when tokens are set
    )

    if mount_slack(app, settings, bot):
        log.info("Slack events are served at POST /slack/events")
    return app


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    ensure_index: bool = True,
    log_level: str = "info",
    bot: KnowledgeBot | None = None,
) -> None:
    """Run the API under uvicorn until SIGINT/SIGTERM (graceful: in-flight requests finish,
    within 10 s). Ingests the bundled corpus first if the index is empty."""
    access = logging.getLogger("kb.http")
    access.setLevel(log_level.upper())
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.api_key is None and not _is_loopback(host):
        log.warning("serving on %s without KB_API_KEY: anyone who can reach it can query", host)
    config = uvicorn.Config(
        create_app(settings, bot, ensure_index=ensure_index),
        host=host,
        port=port,
        access_log=False,  # kb.http logs one line per request (with the request id)
        log_level=log_level,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
