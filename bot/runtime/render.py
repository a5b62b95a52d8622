"""One `Answer` text, three formats: the pipeline writes neutral text (sentences with [n]
markers, "• " list items, "Label: " line openings, no markup); each front door renders it —
Slack mrkdwn, Markdown for the OpenAI-compatible reply, rich text in the terminal."""

from __future__ import annotations

import re

from bot.runtime.schema import Answer

# "IT transformation: …" or "Techniques used for assessment: [3]" opening a line.
_LABEL = re.compile(r"(?m)^(?P<label>[A-Z][^:\n.!?\[\]*_`]{0,60}?):(?=\s|$)")
_BULLET = re.compile(r"(?m)^• ")
LABEL_NAMES = {"it": "IT", "digital": "Digital", "both": "Both (IT and digital)"}
MAX_LABEL_WORDS = 6


def _bold_labels(text: str, before: str, after: str) -> str:
    def bold(match: re.Match[str]) -> str:
        label = match.group("label")
        if len(label.split()) > MAX_LABEL_WORDS:
            return match.group(0)
        return f"{before}{label}:{after}"

    return _LABEL.sub(bold, text)


def classification_line(answer: Answer) -> str:
    """ "Label: IT · confidence 82%" (the one place the confidence is shown), or ""."""
    c = answer.classification
    if c is None:
        return ""
    return f"Label: {LABEL_NAMES.get(c.label, c.label)} · confidence {c.confidence:.0%}"


def as_markdown(answer: Answer) -> str:
    """The answer as Markdown: bold line labels, "- " list items, the label line."""
    text = re.sub(r"([\\`*_#<>])", r"\\\1", answer.answer)  # corpus text is not markup
    text = _BULLET.sub("- ", _bold_labels(text, "**", "**"))
    line = classification_line(answer)
    return f"{text}\n\n**{line}**" if line else text


def as_mrkdwn(escaped: str) -> str:
    """Slack mrkdwn from answer text already escaped for Slack: bold line labels."""
    return _bold_labels(escaped, "*", "*")


def as_rich_markup(escaped: str) -> str:
    """rich console markup from answer text already escaped for rich: bold line labels."""
    return _bold_labels(escaped, "[bold]", "[/bold]")
