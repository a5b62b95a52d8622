"""A recording stand-in for the Slack Web API, plus Slack request-signing helpers.

Usage::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        (method, params), = fake.wait_for("chat.postMessage")

Requests are decoded the way slack_sdk sends them: the sync WebClient always POSTs,
with a JSON body for chat.* / assistant.* and a form body for the others (even
"GET" methods such as conversations.replies); AsyncWebClient uses real GETs with
a query string. Query string, form and JSON parameters are all merged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "FakeSlack", "SlackCall", "signed_headers"]

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"

# Parameters Slack clients send as JSON-encoded strings inside form bodies.
JSON_PARAMS = frozenset(
    {
        "blocks",
        "user_auth_blocks",
        "attachments",
        "metadata",
        "view",
        "prompts",
        "unfurls",
        "chunks",
        "loading_messages",
        "user_auth_message",
    }
)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def signed_headers(
    signing_secret: str,
    body: str | bytes,
    timestamp: int | None = None,
    *,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Headers Slack sends with a v0-signed request for ``body`` (timestamp defaults to now)."""
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    raw = body.encode() if isinstance(body, str) else bytes(body)
    base = b"v0:" + ts.encode("ascii") + b":" + raw
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


class SlackCall(tuple):
    """A recorded Web API call: unpacks as ``(method, params)``; has ``.headers`` and ``.token``."""

    headers: dict[str, str]
    token: str | None

    def __new__(
        cls, method: str, params: dict[str, Any], headers: dict[str, str], token: str | None
    ) -> SlackCall:
        obj = super().__new__(cls, (method, params))
        obj.headers = headers
        obj.token = token
        return obj

    @property
    def method(self) -> str:
        """Slack method name, e.g. ``chat.postMessage``."""
        return str(self[0])

    @property
    def params(self) -> dict[str, Any]:
        """Decoded parameters (token removed)."""
        return dict(self[1])


def _decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in JSON_PARAMS & out.keys():
        value = out[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(value)
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeSlack


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass

    def _params(self, raw: bytes) -> tuple[dict[str, Any], Any]:
        url = urlsplit(self.path)
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        parsed: Any = None
        if raw:
            text = raw.decode("utf-8", "replace")
            if ctype == "application/json" or (not ctype and text.lstrip()[:1] in "{["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    params.update(parsed)
            elif ctype.startswith("multipart/"):
                params["_multipart"] = raw  # file uploads: kept raw, not decoded
            else:
                params.update(parse_qsl(text, keep_blank_values=True))
        return params, parsed

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        params, parsed = self._params(raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = self.server.owner
        if path.startswith("/response/"):
            body = parsed if parsed is not None else params
            owner._record_response(path.removeprefix("/response/"), body)
            self._send(200, b"ok", "text/plain; charset=utf-8", None)
            return
        if not path.startswith("/api/"):
            self._send(404, b"Not Found", "text/plain", None)
            return
        method = path.removeprefix("/api/").strip("/")
        status, payload, extra = owner._handle(method, params, headers)
        data = json.dumps(payload).encode()
        self._send(status, data, "application/json; charset=utf-8", extra)

    def do_GET(self) -> None:
        """Handle GET requests."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST requests."""
        self._dispatch()


class FakeSlack:
    """Real HTTP server on 127.0.0.1 answering Slack Web API methods and recording every call."""

    def __init__(self, *, tokens: Collection[str] | None = None) -> None:
        """``tokens``: if given, any other token gets ``invalid_auth`` (none: ``not_authed``)."""
        self.tokens = set(tokens) if tokens is not None else None
        self._cond = threading.Condition()
        self._calls: list[SlackCall] = []
        self._responses: list[tuple[str, Any]] = []
        self._scripted: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._posted: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._users: dict[str, dict[str, Any]] = {}
        self._handlers: dict[str, Handler] = {}
        self._failures: dict[str, deque[tuple[str, int, dict[str, str] | None]]] = defaultdict(
            deque
        )
        self._ts_counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeSlack:
        """Start serving on a free port in a daemon thread."""
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.owner = self
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="FakeSlack",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the server thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/`` — pass as ``WebClient(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "default") -> str:
        """A ``response_url`` pointing at this fake; posts land in ``responses_posted``."""
        return f"http://127.0.0.1:{self.port}/response/{name}"

    # -- scripting
    def set_replies(self, channel: str, thread_ts: str, messages: list[dict[str, Any]]) -> None:
        """Script the messages conversations.replies returns for a thread (before bot posts)."""
        with self._cond:
            self._scripted[(channel, thread_ts)] = [dict(m) for m in messages]

    def set_user(self, user_id: str, **fields: Any) -> None:
        """Override/extend the users.info ``user`` object for ``user_id``."""
        with self._cond:
            self._users[user_id] = fields

    def on(self, method: str, handler: Handler | None) -> None:
        """Answer ``method`` with ``handler(params) -> response dict`` (None removes it)."""
        with self._cond:
            if handler is None:
                self._handlers.pop(method, None)
            else:
                self._handlers[method] = handler

    def fail_next(
        self,
        method: str,
        error: str = "internal_error",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next call to ``method`` answer ``{"ok": false, "error": error}``.

        Use ``status=429, headers={"Retry-After": "1"}`` for a rate limit.
        """
        with self._cond:
            self._failures[method].append((error, status, headers))

    def reset(self) -> None:
        """Forget recorded calls/responses and scripted state (ts keep increasing)."""
        with self._cond:
            self._calls.clear()
            self._responses.clear()
            self._scripted.clear()
            self._posted.clear()
            self._users.clear()
            self._handlers.clear()
            self._failures.clear()

    # -- recording
    @property
    def calls(self) -> list[SlackCall]:
        """Snapshot of all recorded Web API calls as ``(method, params)`` tuples."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        """Recorded calls to one method, oldest first."""
        with self._cond:
            return [c for c in self._calls if c[0] == method]

    @property
    def responses_posted(self) -> list[Any]:
        """JSON bodies POSTed to ``response_url(...)`` URLs, oldest first."""
        with self._cond:
            return [body for _, body in self._responses]

    def responses_to(self, name: str) -> list[Any]:
        """Bodies posted to ``response_url(name)``."""
        with self._cond:
            return [body for n, body in self._responses if n == name]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[SlackCall]:
        """Block until ``count`` calls to ``method`` are recorded; return all calls to it."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for c in self._calls if c[0] == method) >= count, timeout
            )
            calls = [c for c in self._calls if c[0] == method]
            if not ok:
                seen = [c[0] for c in self._calls]
                raise TimeoutError(
                    f"waited {timeout}s for {count} call(s) to {method}, got {len(calls)}; "
                    f"calls so far: {seen}"
                )
            return calls

    def wait_for_responses(self, count: int = 1, timeout: float = 5.0) -> list[Any]:
        """Block until ``count`` response_url posts are recorded; return their bodies."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._responses) >= count, timeout):
                raise TimeoutError(
                    f"waited {timeout}s for {count} response_url post(s), "
                    f"got {len(self._responses)}"
                )
            return [body for _, body in self._responses]

    # -- internals (handler threads)
    def _record_response(self, name: str, body: Any) -> None:
        with self._cond:
            self._responses.append((name, body))
            self._cond.notify_all()

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = 1_700_000_000_000_000 + self._ts_counter * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        auth = headers.get("authorization", "")
        token: str | None = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        body_token = params.pop("token", None)
        token = token or body_token or None
        params = _decode_json_params(params)
        with self._cond:
            self._calls.append(SlackCall(method, params, headers, token))
            self._cond.notify_all()
            if not token:
                return 200, {"ok": False, "error": "not_authed"}, None
            if self.tokens is not None and token not in self.tokens:
                return 200, {"ok": False, "error": "invalid_auth"}, None
            if self._failures.get(method):
                error, status, extra = self._failures[method].popleft()
                return status, {"ok": False, "error": error}, extra
            handler = self._handlers.get(method)
            if handler is None:
                builtin = getattr(self, "_m_" + method.replace(".", "_"), None)
                if builtin is None:
                    return 200, {"ok": False, "error": "unknown_method"}, None
                return 200, builtin(params), None
        # custom handlers run outside the lock so they may call back into the fake
        return 200, handler(params), None

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": "AAPP",
            "team": TEAM_ID,
            "text": params.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if params.get(key) not in (None, ""):
                msg[key] = params[key]
        return msg

    # -- built-in methods (called with the lock held)
    def _m_api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "args": params}

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "kb",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        msg = self._message(params, ts)
        thread_ts = str(params.get("thread_ts") or "")
        if thread_ts:
            self._posted[(channel, thread_ts)].append(msg)
        else:
            self._posted[(channel, ts)].append(msg)  # becomes the parent of its own thread
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        updated: dict[str, Any] | None = None
        for msgs in self._posted.values():
            for msg in msgs:
                if msg["ts"] == ts:
                    for key in ("text", "blocks", "attachments", "metadata"):
                        if key in params:
                            msg[key] = params[key]
                    msg["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
                    updated = msg
        message = updated or self._message(params, str(ts))
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": params.get("text", message.get("text", "")),
            "message": message,
        }

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        for key, msgs in self._posted.items():
            self._posted[key] = [m for m in msgs if m["ts"] != ts]
        return {"ok": True, "channel": channel, "ts": ts}

    def _m_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel", ""), str(params.get("message_ts", ""))
        link = f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _m_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("name"):
            return {"ok": False, "error": "invalid_name"}
        return {"ok": True}

    def _m_reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._m_reactions_add(params)

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if not channel or not ts:
            return {"ok": False, "error": "invalid_arguments"}
        messages = [dict(m) for m in self._scripted.get((channel, ts), [])]
        messages += [dict(m) for m in self._posted.get((channel, ts), [])]
        limit = int(params.get("limit") or 0)
        has_more = bool(limit) and len(messages) > limit
        if limit:
            messages = messages[:limit]
        return {
            "ok": True,
            "messages": messages,
            "has_more": has_more,
            "response_metadata": {"next_cursor": ""},
        }

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_im": channel.startswith("D"),
                "is_channel": channel.startswith("C"),
                "is_private": channel.startswith("G"),
            },
        }

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user", ""))
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        name = user_id.lower()
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": f"User {user_id}",
            "deleted": False,
            "is_bot": user_id == BOT_USER_ID,
            "is_admin": False,
            "tz": "UTC",
            "profile": {"real_name": f"User {user_id}", "display_name": name},
        }
        user.update(self._users.get(user_id, {}))
        return {"ok": True, "user": user}

    def _m_assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _m_assistant_threads_setSuggestedPrompts(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _m_assistant_threads_setTitle(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}
