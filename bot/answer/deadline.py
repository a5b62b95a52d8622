"""One deadline per request: an absolute `time.monotonic()` instant plus an optional
"the client has gone" event. Every slow call of the pipeline (Chroma, each LLM attempt, the
wait before a retry) is bounded by what is left of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.05  # how often a waiting call looks at the cancelled event

# Bounded on purpose: a frozen Chroma server keeps these threads until its own client timeout;
# once all are stuck, further calls wait in the queue and simply run out of deadline.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kb-bounded")


class DeadlineExceeded(RuntimeError):
    """The request's deadline ran out, or its client went away; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Deadline:
    """When a request must be answered by, and whether its client is still there."""

    at: float
    cancelled: threading.Event | None = None

    @classmethod
    def start(
        cls, at: float | None, seconds: float, cancelled: threading.Event | None = None
    ) -> Deadline:
        """`at` if given, else `seconds` from now."""
        return cls(time.monotonic() + seconds if at is None else at, cancelled)

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def is_cancelled(self) -> bool:
        """True once the client has gone."""
        return self.cancelled is not None and self.cancelled.is_set()

    def stopped(self) -> str | None:
        """Why no more work should start (cancelled or out of time), or None."""
        if self.is_cancelled:
            return "the client went away: the request was cancelled"
        if self.remaining() <= 0:
            return "the request's deadline ran out"
        return None

    def check(self, what: str) -> None:
        """Raise `DeadlineExceeded` before starting `what` if the request is over."""
        reason = self.stopped()
        if reason:
            raise DeadlineExceeded(f"{reason} before {what}")

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cancellation; False if cancelled."""
        if self.cancelled is None:
            time.sleep(max(0.0, seconds))
            return True
        return not self.cancelled.wait(max(0.0, seconds))


def bounded(fn: Callable[[], T], deadline: Deadline, what: str) -> T:
    """Run a blocking call (e.g. Chroma) in a worker, waiting only as long as the deadline
    allows; `DeadlineExceeded` names `what` when it did not finish in time."""
    deadline.check(what)
    future = _POOL.submit(fn)
    while True:
        step = min(POLL_SECONDS, deadline.remaining()) if deadline.cancelled else None
        try:
            return future.result(timeout=deadline.remaining() if step is None else step)
        except FutureTimeout:
            reason = deadline.stopped()
            if reason:
                future.cancel()  # only helps while it is queued; a running call finishes alone
                raise DeadlineExceeded(f"{reason} while waiting for {what}") from None


def direct(fn: Callable[[], T], deadline: Deadline, what: str) -> T:
    """Like `bounded`, in the caller's thread: for in-process (embedded) Chroma, which cannot
    freeze the way a server can, and where a thread hop only adds scheduling delay."""
    deadline.check(what)
    return fn()
