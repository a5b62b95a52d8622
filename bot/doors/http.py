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
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from bot.answer import KnowledgeBot
from bot.doors import openai_compat
from bot.doors.http_guard import ReadinessProbe, new_deadline, ready_bot, run_guarded
from bot.doors.http_middleware import KbMiddleware, kb_http_protocol
from bot.doors.http_models import (
    AskRequest,
    ClassifyRequest,
    ClassifyResponse,
    Readiness,
    SourceInfo,
    SourcesResponse,
    error_responses,
)
from bot.doors.http_support import (
    SSE_HEADERS,
    get_bot,
    install_error_handlers,
    prefetched,
    request_id_of,
    run_blocking,
    sse,
)
from bot.runtime.schema import Answer, Turn
from bot.runtime.settings import Settings

log = logging.getLogger("kb.http")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
# Only documents the scheme in OpenAPI (the "Authorize" button); KbMiddleware enforces it.
_bearer_doc = HTTPBearer(auto_error=False, description="`Authorization: Bearer <KB_API_KEY>`")
_READY_COUNTS = ("ready", "documents", "chunks")


# ---------------------------------------------------------------------------------- routes
health = APIRouter(tags=["health"])
api = APIRouter(tags=["knowledge base"], responses=error_responses(400, 413, 415, 422, 503))


@health.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@health.get(
    "/readyz",
    summary="Readiness: index present, Chroma reachable",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "Not ready, with the reason"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 with document/chunk counts, or 503; answers within about a second whatever Chroma
    does. With `KB_API_KEY` set it shows only `ready` and the counts (it is public)."""
    bot = getattr(request.app.state, "bot", None)
    if bot is None:
        info: dict[str, Any] = {"ready": False, "reason": "starting up"}
    else:
        info = await request.app.state.readiness.check(bot)
    if not info.get("ready"):
        log.warning("not ready rid=%s: %s", request_id_of(request), info.get("reason"))
    if request.app.state.settings.api_key is not None:  # no paths, no exception text
        info = {k: v for k, v in info.items() if k in _READY_COUNTS}
    info = {k: v for k, v in info.items() if v is not None}
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
        deadline = new_deadline(request)
        items = await prefetched(request, bot.stream(body.question, history, deadline=deadline))
        return StreamingResponse(
            _ask_events(request, items), media_type="text/event-stream", headers=SSE_HEADERS
        )
    return await run_guarded(request, bot.answer, body.question, history)


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
    result = await run_guarded(request, bot.classify, body.initiative)
    verdict = result.classification
    if verdict is None:  # not an initiative: no label, and a plain sentence saying so
        return ClassifyResponse(label=None, confidence=0.0, rationale=result.answer, citations=[])
    return ClassifyResponse(
        label=verdict.label,
        confidence=verdict.confidence,
        rationale=verdict.rationale,
        citations=result.citations,
        degraded=result.degraded,
        degraded_reason=result.degraded_reason,
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
    workers: int | None = None,
) -> FastAPI:
    """The kb FastAPI app. The bot (given, or built from `settings`) is `load()`ed once at
    start-up; with `ensure_index`, the bundled corpus is ingested then if the index is empty.
    `workers` bounds concurrent pipeline calls (default: `settings.workers`). An empty `KB_API_KEY` is refused (ValueError):
    it would silently turn authentication off."""
    if settings.api_key is not None and not settings.api_key.get_secret_value().strip():
        raise ValueError(
            "KB_API_KEY is set but empty, which would turn authentication off: "
            "set a key, or unset KB_API_KEY to serve without authentication"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = bot or KnowledgeBot(settings)
        app.state.limiter = anyio.CapacityLimiter(workers or settings.workers)
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
        app.state.readiness.close()
        log.info("kb HTTP shutting down")

    # Swagger UI and ReDoc from files shipped in the fastapi-offline package: no CDN
    app = FastAPIOffline(
        title="kb",
        version=_version(),
        summary="Answers questions from the IT/digital strategy knowledge base, with citations.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bot = None
    app.state.limiter = None
    app.state.readiness = ReadinessProbe()
    app.state.started_at = time.time()
    app.state.public_paths = set(PUBLIC_PATHS)
    install_error_handlers(app)
    app.add_middleware(KbMiddleware, settings=settings)
    # the scheme is published only when enforced, so the document matches the behaviour
    auth = [Depends(_bearer_doc)] if settings.api_key else []
    refused = error_responses(401) if settings.api_key else {}
    app.include_router(health)
    app.include_router(api, dependencies=auth, responses=refused)
    openai_errors = error_responses(400, 404, 413, 415, 422, 503)
    app.include_router(
        openai_compat.router, dependencies=auth, responses={**openai_errors, **refused}
    )
    _publish_limits(app, settings)
    from bot.doors.slack_app import (
        mount_slack,  # the Slack door shares this app when tokens are set
    )

    if mount_slack(app, settings, bot):
        log.info("Slack events are served at POST /slack/events")
    return app


def _publish_limits(app: FastAPI, settings: Settings) -> None:
    """Put the configured question limit (a setting, so not in the static models) into the
    OpenAPI document as `maxLength`; the pipeline enforces it with 422 `question_too_long`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            models = schema.get("components", {}).get("schemas", {})
            for model, field in (("AskRequest", "question"), ("ClassifyRequest", "initiative")):
                prop = models.get(model, {}).get("properties", {}).get(field)
                if prop is not None:
                    prop["maxLength"] = settings.max_question_chars
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
    try:
        app = create_app(settings, bot, ensure_index=ensure_index)
    except ValueError as exc:  # a configuration kb refuses to serve with
        raise SystemExit(f"kb serve: {exc}") from None
    config = uvicorn.Config(
        app,
        host=host,
        http=kb_http_protocol(),
        port=port,
        access_log=False,  # kb.http logs one line per request (with the request id)
        log_level=log_level,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
