"""The HTTP door's one ASGI middleware: request ids, the access log, bearer auth and the
body-size limit (and the last-resort 500 in kb's error shape); and the uvicorn protocol that
answers requests too malformed to reach the app in the same error shape."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.doors.http_support import (
    SANE_REQUEST_ID,
    error_response,
    printable,
)
from bot.runtime.settings import Settings

log = logging.getLogger("kb.http")


class KbMiddleware:
    """Request id, access log, bearer auth and the body-size limit, as one pure ASGI layer.

    Also the last-resort handler: an unexpected exception becomes a 500 in the error shape
    carrying the request id (the traceback goes to the log, never to the client).
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self._key = key.encode("utf-8") if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = self._request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            refusal = self._refuse(scope)
            if refusal is None:
                receive, refusal = await self._buffer_body(scope, receive)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unhandled error in %s %s rid=%s", scope["method"], printable(scope["path"]), rid
            )
            if status:
                raise  # the response has started: all we can do is let the server drop it
            await error_response(
                500, "internal_error", f"internal error; quote request id {rid}", rid
            )(scope, receive, send_with_id)
        finally:
            latency = (time.perf_counter() - started) * 1000
            log.info(
                "%s %s %d %.1fms rid=%s",
                scope["method"],
                printable(scope["path"]),
                status,
                latency,
                rid,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round(latency, 1),
                    "request_id": rid,
                },
            )

    @staticmethod
    def _request_id(scope: Scope) -> str:
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                candidate = value.decode("latin-1").strip()
                if SANE_REQUEST_ID.fullmatch(candidate):
                    return candidate
                break
        return uuid.uuid4().hex

    def _refuse(self, scope: Scope) -> JSONResponse | None:
        """A 401 or 413 decided from the headers alone, or None to go on."""
        rid = scope["state"]["request_id"]
        headers = dict(scope.get("headers", []))
        if self._key is not None and scope["path"] not in _public_paths(scope):
            scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
            # compare_digest on bytes: constant time, and no str/ASCII pitfalls
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
                return error_response(
                    401,
                    "unauthorized",
                    "missing or wrong API key: send `Authorization: Bearer <KB_API_KEY>`",
                    rid,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return error_response(400, "bad_request", "invalid Content-Length header", rid)
            if declared > _body_limit(scope, self.max_body):
                return self._too_large(scope)
        return None

    def _too_large(self, scope: Scope) -> JSONResponse:
        limit = _body_limit(scope, self.max_body)
        # a refused Slack event means a user gets no answer: say so in the log
        log.warning("refused %s: body over %d bytes", printable(scope["path"]), limit)
        return error_response(
            413,
            "body_too_large",
            f"the request body is larger than {limit:,} bytes"
            + (" (KB_MAX_BODY_BYTES)" if limit == self.max_body else ""),
            scope["state"]["request_id"],
            headers={"Connection": "close"},
        )

    async def _buffer_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[Receive, JSONResponse | None]:
        """Read the whole body (counting bytes, for chunked uploads too) before any parsing."""
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive, None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # disconnect: let the app see it
            body = message.get("body", b"")
            size += len(body)
            if size > _body_limit(scope, self.max_body):
                return receive, self._too_large(scope)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay: list[Message] = [
            {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]

        async def replaying_receive() -> Message:
            return replay.pop() if replay else await receive()

        return replaying_receive, None


def _body_limit(scope: Scope, default: int) -> int:
    """The body limit of this path: `app.state.body_limits` (e.g. Slack's) or the default."""
    limits = getattr(getattr(scope.get("app"), "state", None), "body_limits", None) or {}
    return int(limits.get(scope["path"], default))


def _public_paths(scope: Scope) -> set[str]:
    app = scope.get("app")
    return getattr(getattr(app, "state", None), "public_paths", set())


def _malformed_request(msg: str) -> tuple[bytes, bytes]:
    """(request id, JSON body) of the 400 for a request uvicorn could not parse."""
    rid = uuid.uuid4().hex
    error = {
        "code": "bad_request",
        "message": f"malformed HTTP request (e.g. a bad Content-Length): {msg}",
        "request_id": rid,
    }
    return rid.encode("ascii"), json.dumps({"error": error}).encode("ascii")


def kb_http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, as uvicorn's "auto" picks, else h11)
    with its 400 for unparseable requests (bad Content-Length, broken headers) in kb's JSON
    error shape: uvicorn writes those itself, before any app or middleware runs, as text."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        import h11
        from uvicorn.protocols.http.h11_impl import H11Protocol

        class KbH11Protocol(H11Protocol):
            def send_400_response(self, msg: str) -> None:
                rid, body = _malformed_request(msg)
                headers = [
                    (b"content-type", b"application/json"),
                    (b"x-request-id", rid),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"connection", b"close"),
                ]
                for event in (
                    h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                    h11.Data(data=body),
                    h11.EndOfMessage(),
                ):
                    self.transport.write(self.conn.send(event) or b"")
                self.transport.close()

        return KbH11Protocol

    class KbHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            rid, body = _malformed_request(msg)
            head = (
                b"HTTP/1.1 400 Bad Request\r\n"
                b"content-type: application/json\r\n"
                b"x-request-id: " + rid + b"\r\n"
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n"
                b"connection: close\r\n\r\n"
            )
            self.transport.write(head + body)
            self.transport.close()

    return KbHttpToolsProtocol
