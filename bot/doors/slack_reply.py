"""Delivering an answer to Slack: streamed (chat.startStream/appendStream/stopStream), as a
placeholder replaced by one or more messages, or privately (ephemeral) with a share button."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import KnowledgeBot
from bot.doors.slack_blocks import (
    FALLBACK_TEXT_CHARS,
    MAX_BLOCKS,
    BlockList,
    DocInfo,
    escape,
    fallback_text,
    feedback_block,
    notes,
    sources_blocks,
)
from bot.runtime.schema import Answer, Citation

log = logging.getLogger(__name__)

STREAM_INTERVAL = 1.0  # seconds between chat.appendStream calls (Slack rate-limits appends)
STREAM_TEXT = 12_000  # markdown_text per stream call
FIRST_APPEND_CHARS = 40  # the first append goes as soon as this much text is written
# keys an ingest may record in chunk metadata for the document's last change
MODIFIED_KEYS = ("modified", "last_modified", "modified_at", "updated", "updated_at", "mtime")
Render = Callable[[bool], list[BlockList]]  # classic_feedback -> messages


def doc_info(bot: KnowledgeBot, citations: list[Citation]) -> dict[str, DocInfo]:
    """URL and last-modified date of the cited documents, from their chunks' metadata.

    Whatever the index lacks is left empty (the citation then shows without it); a failure
    here never costs the answer.
    """
    sources = sorted({c.source for c in citations if c.source})
    if not sources:
        return {}
    try:
        coll = bot.store.collection()
        if coll is None:
            return {}
        got = coll.get(where={"source": {"$in": sources}}, include=["metadatas"])
    except Exception as exc:
        log.info("document metadata unavailable for citations: %s", exc)
        return {}
    found: dict[str, DocInfo] = {}
    for meta in got.get("metadatas") or []:
        source = str(meta.get("source", ""))
        if source in found:
            continue
        url = str(meta.get("url") or meta.get("source_url") or "")
        found[source] = DocInfo(url=url, modified=_date(meta))
    return found


def _date(meta: Any) -> str:
    """A YYYY-MM-DD date from the first last-modified key present (ISO text or epoch)."""
    for key in MODIFIED_KEYS:
        value = meta.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC).date().isoformat()
        match = re.match(r"\d{4}-\d{2}-\d{2}", str(value))
        if match:
            return match.group(0)
    return ""


def message_text(blocks: BlockList, default: str) -> str:
    """Notification text for one message of an answer: its own text, shortened."""
    texts = [b["text"]["text"] for b in blocks if b.get("type") == "section"]
    text = " ".join(" ".join(texts).split())
    if not text:
        return default
    return text if len(text) <= FALLBACK_TEXT_CHARS else text[: FALLBACK_TEXT_CHARS - 1] + "…"


def invalid_blocks(exc: SlackApiError) -> bool:
    """Whether Slack refused a message's blocks (e.g. no feedback_buttons in this workspace)."""
    return exc.response.get("error") in ("invalid_blocks", "invalid_blocks_format")


def post_messages(
    client: WebClient,
    channel: str,
    thread_ts: str | None,
    placeholder_ts: str | None,
    render: Render,
    text: str,
) -> None:
    """The answer's messages: the first replaces the placeholder, the rest follow in order.

    If Slack refuses the blocks (a workspace without feedback_buttons), the classic
    buttons are used instead.
    """
    try:
        _post_all(client, channel, thread_ts, placeholder_ts, render(False), text)
    except SlackApiError as exc:
        if not invalid_blocks(exc):
            raise
        log.info("Slack refused the blocks (%s); using classic feedback buttons", exc)
        _post_all(client, channel, thread_ts, placeholder_ts, render(True), text)


def _post_all(
    client: WebClient,
    channel: str,
    thread_ts: str | None,
    placeholder_ts: str | None,
    messages: list[BlockList],
    text: str,
) -> None:
    for number, blocks in enumerate(messages):
        body = message_text(blocks, text) if number else text
        if number == 0 and placeholder_ts:
            try:
                client.chat_update(channel=channel, ts=placeholder_ts, text=body, blocks=blocks)
                continue
            except SlackApiError as exc:
                if invalid_blocks(exc):
                    raise
                log.warning("chat.update failed (%s); posting the answer instead", exc)
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=body, blocks=blocks)


def post_private(
    client: WebClient, channel: str, user: str, thread_ts: str | None, render: Render, text: str
) -> None:
    """The answer as ephemeral messages, only visible to `user`."""
    try:
        messages = render(False)
        for number, blocks in enumerate(messages):
            body = message_text(blocks, text) if number else text
            client.chat_postEphemeral(
                channel=channel, user=user, thread_ts=thread_ts, text=body, blocks=blocks
            )
    except SlackApiError as exc:
        if not invalid_blocks(exc):
            raise
        for number, blocks in enumerate(render(True)):
            body = message_text(blocks, text) if number else text
            client.chat_postEphemeral(
                channel=channel, user=user, thread_ts=thread_ts, text=body, blocks=blocks
            )


def safe_markdown(text: str) -> str:
    """Streamed markdown with Slack's special links (<!channel>, <@U…>) defused.

    A zero-width space after `<` keeps the text readable while Slack no longer parses a ping.
    """
    return re.sub(r"<(?=[!@#])", "<\u200b", text)


def stream_closing_blocks(
    answer: Answer, answer_id: str, docs: dict[str, DocInfo], *, classic: bool = False
) -> BlockList:
    """What closes a streamed answer: notes, sources and the feedback buttons (≤ 50 blocks)."""
    blocks = notes(answer) + sources_blocks(answer.citations, docs)
    return [*blocks[: MAX_BLOCKS - 1], feedback_block(answer_id, classic=classic)]


class Streamer:
    """One streamed answer: opens the stream, appends at most once per STREAM_INTERVAL."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts: str | None = None
        self.broken = False  # an append failed: the rest goes in the final stop call
        self._buffer = ""
        self._last = 0.0
        self._appends = 0

    def open(self, user: str | None, team: str | None) -> bool:
        """Start the stream; False where the workspace does not support streaming."""
        try:
            started = self.client.chat_startStream(
                channel=self.channel,
                thread_ts=self.thread_ts,
                recipient_user_id=user,
                recipient_team_id=team,
            )
        except SlackApiError as exc:
            log.info("streaming unavailable (%s); using a placeholder", exc.response.get("error"))
            return False
        self.ts = str(started["ts"])
        self._last = time.monotonic()
        return True

    def feed(self, pieces: Iterable[str | Answer]) -> Answer:
        """Append the text pieces as they come (buffered); returns the final `Answer`."""
        for piece in pieces:
            if isinstance(piece, Answer):
                return piece
            self._buffer += piece
            if self.broken:
                continue
            if self._appends == 0:
                # the first words show at once (after a few, not one); then ≤ 1 append/s
                if len(self._buffer) >= FIRST_APPEND_CHARS or self._waited():
                    self._flush()
            elif self._waited():
                self._flush()
        raise RuntimeError("the answer stream ended without an Answer")

    def _waited(self) -> bool:
        return time.monotonic() - self._last >= STREAM_INTERVAL

    def _flush(self) -> None:
        text, self._buffer = self._buffer[:STREAM_TEXT], self._buffer[STREAM_TEXT:]
        if not text.strip():
            self._buffer = text + self._buffer
            return
        try:
            self.client.chat_appendStream(
                channel=self.channel, ts=str(self.ts), markdown_text=safe_markdown(text)
            )
        except SlackApiError as exc:
            log.warning("chat.appendStream failed (%s); finishing in one go", exc)
            self._buffer = text + self._buffer
            self.broken = True
        self._appends += 1
        self._last = time.monotonic()

    def close(self, blocks: BlockList | None, extra: str = "") -> None:
        """Stop the stream with what is still buffered (and `extra`) and the closing blocks."""
        text = safe_markdown(self._buffer + extra)
        if len(text) > STREAM_TEXT:
            text = text[: STREAM_TEXT - 20].rstrip() + "… _(truncated)_"
        self.client.chat_stopStream(
            channel=self.channel, ts=str(self.ts), markdown_text=text or None, blocks=blocks
        )
        self._buffer = ""  # only once Slack took it: a retry sends it again

    def fail(self, message: str) -> None:
        """End the stream with a failure message (or post it if the stream cannot take it)."""
        try:
            self.close(None, f"\n\n{message}")
        except SlackApiError:
            self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=message
            )


def plain_answer_text(answer: Answer) -> str:
    """The notification text of an answer's first message."""
    return escape(fallback_text(answer))
