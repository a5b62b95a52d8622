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

READY_WAIT_S = 1.0
# After the deadline the pipeline still gets this long to hand back what it has (it answers
# locally once the deadline has passed) before the door gives up on it.
GRACE_S = 1.0


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


async def run_guarded(request: Request, func: Callable[..., T], *args: Any) -> T:
    """`func(*args, deadline=…, cancelled=…)` in the worker pool, bounded by the app's limiter.

    Raises `ApiError` 503 `deadline_exceeded` when the call has not returned by the deadline
    (plus `GRACE_S`), or when the client disconnected; in both cases `cancelled` is set and the
    worker is left to stop at its next stage boundary.
    """
    deadline = new_deadline(request)
    cancelled = threading.Event()
    call = partial(func, *args, deadline=deadline, cancelled=cancelled)
    limiter = getattr(request.app.state, "limiter", None)
    outcome: dict[str, Any] = {}

    async with anyio.create_task_group() as group:

        async def work() -> None:
            with anyio.move_on_after(max(0.0, deadline - time.monotonic()) + GRACE_S):
                try:
                    outcome["value"] = await anyio.to_thread.run_sync(
                        call, abandon_on_cancel=True, limiter=limiter
                    )
                except Exception as exc:  # re-raised below, outside the task group
                    outcome["error"] = exc
            group.cancel_scope.cancel()

        async def watch() -> None:
            await _until_disconnect(request)
            outcome["gone"] = True
            group.cancel_scope.cancel()

        group.start_soon(work)
        group.start_soon(watch)

    if "error" in outcome:
        raise outcome["error"]
    if "value" in outcome:
        return outcome["value"]  # type: ignore[no-any-return]
    cancelled.set()
    rid = request_id_of(request)
    if outcome.get("gone"):
        log.info("client disconnected: request cancelled rid=%s", rid)
        raise ApiError(503, "cancelled", "the client disconnected; the request was cancelled")
    log.warning("deadline exceeded rid=%s", rid)
    seconds = budget(request.app.state.settings)
    raise ApiError(
        503,
        "deadline_exceeded",
        f"no answer within the {seconds:g} s deadline; the knowledge base may be overloaded "
        "or unreachable: try again",
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
            return {"ready": False, "reason": f"Chroma did not answer within {limit:g} s"}
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
