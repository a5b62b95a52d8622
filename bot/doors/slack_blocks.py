"""Block Kit rendering of an `Answer`: text, classification badge, sources and feedback buttons.

Slack limits: 3,000 characters per section text, 50 blocks per message, 10 elements per
context block. Everything here splits or trims to fit; it never produces a payload Slack
would reject.
"""

from __future__ import annotations

import re
from typing import Any

from bot.runtime.render import as_mrkdwn
from bot.runtime.schema import Answer, Citation

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
CONTEXT_ELEMENTS = 10
MAX_ANSWER_CHARS = 12_000  # past this a message is unreadable (and 👍 payloads get large)
MAX_SOURCES = 20  # lines in the Sources block; also keeps 👍 payloads under the HTTP body limit
QUOTE_CHARS = 160
FALLBACK_TEXT_CHARS = 3000
FEEDBACK_UP = "kb_feedback_up"
FEEDBACK_DOWN = "kb_feedback_down"
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


def citation_line(citation: Citation) -> str:
    """`[n] *Title* — “short quote”` for the Sources block."""
    title = escape(_shorten(citation.title or citation.source, 120))
    quote = escape(_shorten(citation.quote, QUOTE_CHARS))
    return f"[{citation.n}] *{title}* — “{quote}”" if quote else f"[{citation.n}] *{title}*"


def badge(answer: Answer) -> str | None:
    """The classification badge text (label and confidence), or None."""
    c = answer.classification
    if c is None:
        return None
    return f"{BADGES.get(c.label, c.label)} · confidence {c.confidence:.0%}"


def feedback_actions(answer_id: str) -> dict[str, Any]:
    """The 👍 / 👎 buttons; their value is the stored answer id."""
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


def render_answer(answer: Answer, answer_id: str | None = None) -> BlockList:
    """Blocks for an answer, always within Slack's block and section limits."""
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
    tail: BlockList = [feedback_actions(answer_id)] if answer_id else []

    body = answer.answer
    if len(body) > MAX_ANSWER_CHARS:
        body = body[:MAX_ANSWER_CHARS].rstrip() + "…\n_(answer truncated)_"
    sections = [_section(p) for p in split_text(to_mrkdwn(body))] or [_section("_(no answer)_")]
    room = MAX_BLOCKS - len(head) - len(tail)
    if len(sections) > room:
        sections = [*sections[: room - 1], _section("_(answer truncated)_")]

    sources = _sources(answer.citations, MAX_BLOCKS - len(head) - len(sections) - len(tail))
    return head + sections + sources + tail


def _sources(citations: list[Citation], room: int) -> BlockList:
    """A "Sources" heading and the citations packed into context blocks, within `room` blocks."""
    if not citations or room < 2:
        return []
    lines = [citation_line(c) for c in citations]
    blocks: BlockList = [_context(["*Sources*"])]
    capacity = min((room - 1) * CONTEXT_ELEMENTS, MAX_SOURCES)
    if len(lines) > capacity:
        hidden = len(lines) - capacity + 1
        lines = [*lines[: capacity - 1], f"…and {hidden} more"]
    for start in range(0, len(lines), CONTEXT_ELEMENTS):
        blocks.append(_context(lines[start : start + CONTEXT_ELEMENTS]))
    return blocks


def fallback_text(answer: Answer) -> str:
    """Plain notification text for the message (also what thread history reads back)."""
    return _shorten(answer.answer, FALLBACK_TEXT_CHARS) if answer.answer else "(no answer)"


def render_apology() -> BlockList:
    """Blocks for the short apology posted when answering failed."""
    return [_section(APOLOGY)]


def render_thinking() -> BlockList:
    """Blocks for the placeholder the answer replaces."""
    return [_context([THINKING])]
