"""Never down, never late: the HTTP door's deadlines, cancellation and bounded readiness.

- `run_guarded` runs one pipeline call with a deadline (a setting) and a `cancelled` Event that
  is set when the client disconnects or the deadline has passed, so abandoned work stops at the
  pipeline's next stage boundary instead of making more Chroma and LLM calls.
- `ReadinessProbe` runs `KnowledgeBot.ready()` in one worker at a time and waits for it at most
  a second: `/readyz` answers promptly whatever Chroma does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import anyio
from fastapi import Request

from bot.answer import KnowledgeBot
from bot.doors.http_support import ApiError, request_id_of
from bot.runtime.settings import Settings

log = logging.getLogger("kb.http")
T = TypeVar("T")

# /readyz waits this long for the check, so with HTTP overhead it answers within a second.
READY_WAIT_S = 0.8
# The pipeline's own deadline comes this much before the door's hard stop, so it can still
# hand back what it has (it answers locally once its deadline has passed).
GRACE_S = 0.5
# With an LLM backend, this much of the request's budget (at most KB_DEADLINE_LOCAL) is kept
# for the local answer should the LLM path not finish: the whole request stays within budget.
LOCAL_SHARE = 1 / 3


def budget(settings: Settings) -> float:
    """Seconds a request may take with the configured answer backend."""
    return settings.deadline_llm if settings.llm_backend == "openai" else settings.deadline_local


def new_deadline(request: Request) -> float:
    """This request's deadline, an absolute `time.monotonic()` instant."""
    return time.monotonic() + budget(request.app.state.settings)


async def _until_disconnect(request: Request) -> None:
    """Return when the client has gone. The body has been read by then (KbMiddleware buffers
    it), so the next ASGI message is `http.disconnect`, sent when the connection drops."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _race(
    request: Request, call: Callable[[], T], seconds: float
) -> tuple[str, T | Exception | None]:
    """Run `call` in the worker pool against the client's disconnect and a time limit:
    ("value", result), ("error", exception), ("gone", None) or ("late", None)."""
    limiter = getattr(request.app.state, "limiter", None)
    outcome: list[tuple[str, Any]] = []

    async with anyio.create_task_group() as group:

        async def work() -> None:
            with anyio.move_on_after(seconds):
                try:
                    value = await anyio.to_thread.run_sync(
                        call, abandon_on_cancel=True, limiter=limiter
                    )
                    outcome.append(("value", value))
                except Exception as exc:  # re-raised by the caller, outside the task group
                    outcome.append(("error", exc))
            group.cancel_scope.cancel()

        async def watch() -> None:
            await _until_disconnect(request)
            outcome.append(("gone", None))
            group.cancel_scope.cancel()

        group.start_soon(work)
        group.start_soon(watch)
    return outcome[0] if outcome else ("late", None)


async def run_guarded(request: Request, func: Callable[..., T], *args: Any) -> T:
    """`func(*args, deadline=…, cancelled=…)` in the worker pool, bounded by the app's limiter.

    `cancelled` is set, and the worker left to stop at its next stage boundary, when the client
    disconnects or the call has not returned in time. With an LLM backend, a late call is then
    answered locally (`func(..., llm="local")`, flagged `degraded`) in the part of the budget
    kept for it; when nothing came in time, `ApiError` 503 `deadline_exceeded`. Either way the
    request ends within its budget (`KB_DEADLINE_LLM` or `KB_DEADLINE_LOCAL`).
    """
    settings: Settings = request.app.state.settings
    total = budget(settings)
    attempts: list[tuple[float, dict[str, Any]]] = [(total, {})]
    if settings.llm_backend != "local":
        reserve = min(settings.deadline_local, total * LOCAL_SHARE)
        attempts = [(total - reserve, {}), (reserve, {"llm": "local"})]
    for seconds, extra in attempts:
        cancelled = threading.Event()
        deadline = time.monotonic() + max(seconds - GRACE_S, seconds / 2)
        call = partial(func, *args, deadline=deadline, cancelled=cancelled, **extra)
        kind, result = await _race(request, call, seconds)
        if kind == "error":
            raise result  # type: ignore[misc]
        if kind == "value":
            if extra and hasattr(result, "degraded"):
                result.degraded = True  # type: ignore[union-attr]
            return result  # type: ignore[return-value]
        cancelled.set()
        rid = request_id_of(request)
        if kind == "gone":
            log.info("client disconnected: request cancelled rid=%s", rid)
            raise ApiError(503, "cancelled", "the client disconnected; the request was cancelled")
        log.warning("no answer within %g s rid=%s", seconds, rid)
    raise ApiError(
        503,
        "deadline_exceeded",
        f"no answer within the {total:g} s deadline; the knowledge base may be "
        "overloaded or unreachable: try again",
    )


class ReadinessProbe:
    """`KnowledgeBot.ready()` in one worker at a time, awaited for at most `wait` seconds.

    A probe still running (Chroma frozen; it ends at the Chroma client's timeout) is shared by
    later checks instead of starting another, so a hung store cannot pile up threads.
    """

    def __init__(self, wait: float = READY_WAIT_S) -> None:
        self.wait = wait
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-ready")
        self._lock = threading.Lock()
        self._running: Future[dict[str, Any]] | None = None

    async def check(self, bot: KnowledgeBot, wait: float | None = None) -> dict[str, Any]:
        """`bot.ready()`'s answer, or not ready when it takes longer than `wait` seconds."""
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._pool.submit(bot.ready)
            running = self._running
        limit = self.wait if wait is None else wait
        try:
            # shield: a timed-out wait must not cancel the probe other checks share
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(running)), limit)
        except TimeoutError:
            reason = f"no answer from Chroma (or the index still loading) within {limit:g} s"
            return {"ready": False, "reason": reason}
        except Exception as exc:
            return {"ready": False, "reason": f"readiness check failed: {exc}"}

    def close(self) -> None:
        """Stop the probe's worker (a running probe finishes on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


async def ready_bot(request: Request) -> KnowledgeBot:
    """The bot, once its index is known to be present (503 `not_ready` until then).

    An empty index would otherwise yield hollow abstentions and evidence-free verdicts.
    Once ready, not re-checked: that would cost a Chroma round trip per request.
    """
    bot = getattr(request.app.state, "bot", None)
    if bot is None:
        raise ApiError(503, "not_ready", "the knowledge bot is not loaded yet")
    if not getattr(request.app.state, "index_ready", False):
        probe: ReadinessProbe = request.app.state.readiness
        info = await probe.check(bot, wait=budget(request.app.state.settings))
        if not info.get("ready"):
            raise ApiError(
                503,
                "not_ready",
                f"the knowledge base is not ready: {info.get('reason') or 'unknown'}",
            )
        request.app.state.index_ready = True
    return bot  # type: ignore[no-any-return]
