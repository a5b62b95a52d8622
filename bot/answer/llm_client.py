"""Calls to an OpenAI-compatible chat server, bounded by the request's deadline.

We use the official `openai` async client directly (not `ChatOpenAI`) because the pipeline
needs what the wrapper hides: a timeout per attempt cut to the time left, our own retries that
honour `Retry-After` only while the deadline allows, the stream's `finish_reason`, the HTTP
status of a rejected `response_format`, and real cancellation. The calls run on one event
loop in a daemon thread; cancelling their task closes the upstream connection, which is how an
abandoned request stops the LLM's work (llama.cpp's server stops generating on disconnect).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.answer.deadline import POLL_SECONDS, Deadline
from bot.runtime.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_SECONDS = 0.5  # first wait before a retry without Retry-After; doubles each time
RETRYABLE = {408, 409, 429}


class LlmError(RuntimeError):
    """The LLM call failed or returned something unusable; the message is the reason."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class IncompleteStream(LlmError):
    """The stream ended without a finish reason: the answer may be cut short."""


def retry_after(headers: Any) -> float | None:
    """Seconds asked for by `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class LlmClient:
    """Chat completions (streamed or not) with deadline-bounded retries and cancellation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kb-llm", daemon=True)
        self._thread.start()
        from openai import AsyncOpenAI  # a slow first import: here, not inside a deadline

        key = settings.openai_api_key
        self._client = AsyncOpenAI(
            api_key=key.get_secret_value() if key else "not-needed",
            base_url=settings.openai_base_url,
            max_retries=0,  # retries are ours: they must fit the deadline
            timeout=settings.llm_timeout,
        )

    @property
    def configured(self) -> bool:
        """True when a key or a base URL says where the LLM is."""
        return bool(self.settings.openai_api_key or self.settings.openai_base_url)

    def _params(self) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {"model": s.openai_model, "temperature": 0}
        if s.openai_base_url and "api.openai.com" not in s.openai_base_url:
            # Compatible servers often ignore `max_completion_tokens` (llama.cpp ran on).
            params["max_tokens"] = s.llm_max_tokens
        else:
            params["max_completion_tokens"] = s.llm_max_tokens
        return params

    async def _attempts(
        self, call: Callable[[Any, float], Awaitable[Any]], deadline: Deadline
    ) -> Any:
        """`call(client, timeout)` retried on 429/5xx/connection errors while time is left."""
        import openai

        client = self._client
        attempt = 0
        while True:
            reason = deadline.stopped()
            if reason:
                raise LlmError(f"{reason} before the LLM answered")
            timeout = min(self.settings.llm_timeout, deadline.remaining())
            try:
                return await asyncio.wait_for(call(client, timeout), timeout)
            except openai.APIStatusError as exc:
                status = exc.status_code
                failure = LlmError(f"the LLM server answered HTTP {status}", status)
                if status not in RETRYABLE and status < 500:
                    raise failure from exc
                wait = retry_after(exc.response.headers)
            except (openai.APIConnectionError, TimeoutError) as exc:
                timed_out = isinstance(exc, TimeoutError | openai.APITimeoutError)
                kind = "timed out" if timed_out else "could not be reached"
                failure = LlmError(f"the LLM server {kind}")
                wait = None
            if deadline.stopped():
                raise LlmError(f"{deadline.stopped()} while the LLM was answering") from None
            if attempt >= self.settings.llm_max_retries:
                raise failure
            wait = BACKOFF_SECONDS * 2**attempt if wait is None else wait
            if wait >= deadline.remaining():
                raise LlmError(f"{failure}; a retry in {wait:.1f} s would miss the deadline")
            log.info("%s; retrying in %.2f s", failure, wait)
            await asyncio.sleep(wait)
            attempt += 1

    def _submit(self, coro: Awaitable[Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    def complete(self, messages: list[dict[str, str]], deadline: Deadline, **extra: Any) -> str:
        """The reply text of one chat completion (e.g. with a `response_format`)."""
        if not self.configured:
            raise LlmError("no LLM is configured (set OPENAI_API_KEY or OPENAI_BASE_URL)")

        async def call(client: Any, timeout: float) -> Any:
            return await client.chat.completions.create(
                messages=messages, timeout=timeout, **self._params(), **extra
            )

        future = self._submit(self._attempts(call, deadline))
        while True:
            try:
                reply = future.result(timeout=min(POLL_SECONDS, deadline.remaining() + 0.01))
                break
            except FutureTimeout:
                reason = deadline.stopped()
                if reason:
                    future.cancel()  # closes the upstream connection
                    raise LlmError(f"{reason} while the LLM was answering") from None
        if not reply.choices or not reply.choices[0].message:
            raise LlmError("the LLM server sent no choices")
        return reply.choices[0].message.content or ""

    def stream(self, messages: list[dict[str, str]], deadline: Deadline) -> ChatStream:
        """A streamed completion: iterate it for text pieces (see `ChatStream`)."""
        if not self.configured:
            raise LlmError("no LLM is configured (set OPENAI_API_KEY or OPENAI_BASE_URL)")
        return ChatStream(self, messages, deadline)


class ChatStream:
    """Text pieces of a streamed completion. Iterating raises `IncompleteStream` (after the
    pieces) when no finish reason arrived, `LlmError` on failure, deadline or cancellation;
    leaving the loop early cancels the upstream call. `finish_reason` is set at the end."""

    def __init__(self, llm: LlmClient, messages: list[dict[str, str]], deadline: Deadline) -> None:
        self.llm = llm
        self.messages = messages
        self.deadline = deadline
        self.finish_reason: str | None = None

    def __iter__(self) -> Iterator[str]:
        llm, deadline = self.llm, self.deadline
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()

        async def call(client: Any, timeout: float) -> Any:
            return await client.chat.completions.create(
                messages=self.messages, stream=True, timeout=timeout, **llm._params()
            )

        async def produce() -> None:
            try:
                stream = await llm._attempts(call, deadline)
                finish = None
                async with stream:
                    async for chunk in stream:
                        for choice in chunk.choices or []:
                            if choice.delta and choice.delta.content:
                                pieces.put(("text", choice.delta.content))
                            finish = choice.finish_reason or finish
                pieces.put(("end", finish))
            except Exception as exc:  # handed over to the consumer's thread
                pieces.put(("error", exc))

        future = llm._submit(produce())
        try:
            while True:
                try:
                    kind, value = pieces.get(timeout=min(POLL_SECONDS, deadline.remaining() + 0.01))
                except queue.Empty:
                    reason = deadline.stopped()
                    if reason:
                        raise LlmError(f"{reason} while the LLM was answering") from None
                    continue
                if kind == "text":
                    yield value
                elif kind == "end":
                    if value is None:
                        raise IncompleteStream("the LLM's stream ended without a finish reason")
                    self.finish_reason = value
                    return
                elif isinstance(value, LlmError):
                    raise value
                else:
                    raise LlmError(f"the LLM stream failed: {type(value).__name__}") from value
        finally:
            future.cancel()  # a no-op when done; otherwise closes the upstream stream
