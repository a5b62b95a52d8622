"""Block Kit rendering of an `Answer`: text, classification badge, sources, feedback and share.

Slack's limits: 3,000 characters per section text, 50 blocks per message, 10 elements per
context block, 5 per context_actions block, and about 13,000 characters of text per message
(longer messages fail with `msg_blocks_too_long`). A long answer becomes several messages
(`render_messages`), each within every limit; nothing here produces a payload Slack rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.runtime.render import as_mrkdwn
from bot.runtime.schema import Answer, Citation

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
CONTEXT_ELEMENTS = 10
MESSAGE_CHARS = 12_000  # text per message, safely under Slack's ~13k
MAX_MESSAGES = 4  # an answer longer than this many messages is cut (and says so)
MAX_SOURCES = 20  # lines in the Sources block; also keeps click payloads small
QUOTE_CHARS = 160
FALLBACK_TEXT_CHARS = 3000
FEEDBACK = "kb_feedback"  # Slack's own feedback_buttons element (context_actions block)
FEEDBACK_UP = "kb_feedback_up"  # the classic buttons, where context_actions is not accepted
FEEDBACK_DOWN = "kb_feedback_down"
SHARE = "kb_share"
THINKING = ":hourglass_flowing_sand: thinking…"
APOLOGY = (
    ":warning: Sorry, I couldn't answer that just now. The problem has been logged; "
    "please try again in a few minutes."
)
BADGES = {
    "it": ":gear: *IT initiative*",
    "digital": ":iphone: *Digital initiative*",
    "both": ":link: *Both IT and Digital*",
}
BlockList = list[dict[str, Any]]


@dataclass(frozen=True)
class DocInfo:
    """What the index knows about a cited document beyond the citation (may be empty)."""

    url: str = ""
    modified: str = ""  # a date, YYYY-MM-DD


def escape(text: str) -> str:
    """Escape the three characters Slack treats as markup (also defuses <!channel> pings)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(text: str) -> str:
    """Markdown-ish answer text as Slack mrkdwn: escaped, **bold** → *bold*, # headings bold."""
    text = as_mrkdwn(escape(text))  # the shared render step: line labels bold
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    return re.sub(r"(?m)^#{1,6}\s+(.+)$", r"*\1*", text)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces of at most `limit` chars, cut at a paragraph, line, sentence or word if possible."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep)
            if at > limit // 2:
                cut = at + len(sep)
                break
        if cut <= 0:
            cut = limit
        # never cut inside an escape such as &amp; (it would render as garbage)
        amp = window.rfind("&", max(0, cut - 5), cut)
        if amp != -1 and ";" not in window[amp:cut]:
            cut = amp or limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}


def _context(texts: list[str]) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": t[:SECTION_LIMIT]} for t in texts[:CONTEXT_ELEMENTS]
        ],
    }


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _link(url: str, label: str) -> str:
    """A mrkdwn link for an http(s) URL (label already escaped), or just the label."""
    if not re.match(r"https?://[^\s|<>]+$", url):
        return label
    return f"<{url.replace('&', '&amp;')}|{label}>"


def citation_line(citation: Citation, info: DocInfo | None = None) -> str:
    """`[n] *Title* › Section · updated 2025-01-31 — “short quote”` (title linked if known)."""
    info = info or DocInfo()
    title = _link(info.url, f"*{escape(_shorten(citation.title or citation.source, 120))}*")
    line = f"[{citation.n}] {title}"
    if citation.section:
        line += f" › {escape(_shorten(citation.section, 80))}"
    if info.modified:
        line += f" · updated {escape(info.modified)}"
    quote = escape(_shorten(citation.quote, QUOTE_CHARS))
    return f"{line} — “{quote}”" if quote else line


def badge(answer: Answer) -> str | None:
    """The classification badge text (label and confidence), or None."""
    c = answer.classification
    if c is None:
        return None
    return f"{BADGES.get(c.label, c.label)} · confidence {c.confidence:.0%}"


def feedback_block(answer_id: str, *, classic: bool = False) -> dict[str, Any]:
    """👍 / 👎 for a stored answer: Slack's feedback_buttons, or classic buttons as a fallback.

    Values carry the stored answer id (feedback_buttons: `up:<id>` / `down:<id>`).
    """
    if classic:
        return {
            "type": "actions",
            "block_id": "kb_feedback",
            "elements": [
                {
                    "type": "button",
                    "action_id": FEEDBACK_UP,
                    "text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True},
                    "value": answer_id,
                },
                {
                    "type": "button",
                    "action_id": FEEDBACK_DOWN,
                    "text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True},
                    "value": answer_id,
                },
            ],
        }
    return {
        "type": "context_actions",
        "block_id": f"kb_feedback_{answer_id}",  # unique per message, as Slack asks
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "👍"},
                    "accessibility_label": "This answer was helpful",
                    "value": f"up:{answer_id}",
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "👎"},
                    "accessibility_label": "This answer was not helpful",
                    "value": f"down:{answer_id}",
                },
            }
        ],
    }


def share_block(answer_id: str, thread_ts: str | None) -> dict[str, Any]:
    """The "Share in channel" button of a private answer (value: `<id>:<thread_ts>`)."""
    return {
        "type": "actions",
        "block_id": "kb_share",
        "elements": [
            {
                "type": "button",
                "action_id": SHARE,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Share in channel", "emoji": True},
                "value": f"{answer_id}:{thread_ts or ''}",
            }
        ],
    }


def notes(answer: Answer, *, private: bool = False) -> BlockList:
    """The badge and the notes shown above an answer (abstained, degraded, only visible to you)."""
    head: BlockList = []
    if (text := badge(answer)) is not None:
        head.append(_section(text))
    if answer.abstained:
        head.append(_context([":grey_question: *Not in the knowledge base*"]))
    if answer.degraded:
        head.append(
            _context(
                [":warning: The language model is unavailable, so this is the offline answer."]
            )
        )
    if private:
        head.append(_context([":lock: Only visible to you"]))
    return head


def sources_blocks(citations: list[Citation], docs: dict[str, DocInfo] | None = None) -> BlockList:
    """A "Sources" heading and the citations packed into context blocks (≤ MAX_SOURCES lines)."""
    if not citations:
        return []
    docs = docs or {}
    lines = [citation_line(c, docs.get(c.source)) for c in citations]
    if len(lines) > MAX_SOURCES:
        lines = [*lines[: MAX_SOURCES - 1], f"…and {len(lines) - MAX_SOURCES + 1} more"]
    blocks: BlockList = [_context(["*Sources*"])]
    for start in range(0, len(lines), CONTEXT_ELEMENTS):
        blocks.append(_context(lines[start : start + CONTEXT_ELEMENTS]))
    return blocks


def block_chars(block: dict[str, Any]) -> int:
    """Characters of text a block carries (what Slack's per-message text limit counts)."""
    total = len((block.get("text") or {}).get("text", ""))
    for element in block.get("elements", []):
        text = element.get("text")
        total += len(text.get("text", "") if isinstance(text, dict) else text or "")
    return total


def _pack(blocks: BlockList) -> list[BlockList]:
    """Blocks into messages of ≤ MAX_BLOCKS blocks and ≤ MESSAGE_CHARS characters, in order."""
    messages: list[BlockList] = [[]]
    size = 0
    for block in blocks:
        chars = block_chars(block)
        if messages[-1] and (len(messages[-1]) >= MAX_BLOCKS or size + chars > MESSAGE_CHARS):
            messages.append([])
            size = 0
        messages[-1].append(block)
        size += chars
    return messages


def render_messages(
    answer: Answer,
    answer_id: str | None = None,
    *,
    docs: dict[str, DocInfo] | None = None,
    private: bool = False,
    thread_ts: str | None = None,
    classic_feedback: bool = False,
) -> list[BlockList]:
    """An answer as one or more messages, each within Slack's limits.

    The notes lead the first message; sources, feedback (and, for a private answer, the
    "Share in channel" button) close the last one.
    """
    sections = [_section(p) for p in split_text(to_mrkdwn(answer.answer))]
    tail: BlockList = sources_blocks(answer.citations, docs)
    if answer_id:
        tail.append(feedback_block(answer_id, classic=classic_feedback))
        if private:
            tail.append(share_block(answer_id, thread_ts))
    body = notes(answer, private=private) + (sections or [_section("_(no answer)_")])
    messages = _pack(body + tail)
    if len(messages) > MAX_MESSAGES:
        # keep the first messages of text and the closing sources and buttons
        cut = _pack(body)[: MAX_MESSAGES - 1]
        cut[-1] = [*cut[-1][: MAX_BLOCKS - 1], _section("_(answer truncated)_")]
        messages = cut + _pack(tail)[:1]
    return messages


def render_answer(answer: Answer, answer_id: str | None = None, **kw: Any) -> BlockList:
    """The blocks of an answer that fits one message (the first message otherwise)."""
    return render_messages(answer, answer_id, **kw)[0]


def fallback_text(answer: Answer) -> str:
    """Plain notification text for the message (also what thread history reads back)."""
    return _shorten(answer.answer, FALLBACK_TEXT_CHARS) if answer.answer else "(no answer)"


def render_apology() -> BlockList:
    """Blocks for the short apology posted when answering failed."""
    return [_section(APOLOGY)]


def render_thinking() -> BlockList:
    """Blocks for the placeholder the answer replaces."""
    return [_context([THINKING])]
