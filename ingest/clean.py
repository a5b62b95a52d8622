"""Clean web-article text before chunking: strip boilerplate and spam, keep every real sentence.

Generic rules (any web article) live here: Unicode and whitespace normalisation, repeated
lines, near-duplicate sentences, lone punctuation/digit lines, empty bylines, blog and forum
footers, and contact sentences (e-mail addresses, phone numbers, "click here"). Corpus-specific
noise comes from `corpus/cleaning.toml` as `CleaningRules`.

The output keeps the line structure the chunker parses: one heading, list item, table row or
paragraph per line, leading indentation kept (nested sub-items), one blank line between blocks.
Kept text is never rewritten beyond whitespace, so every surviving sentence is verbatim.
"""

from __future__ import annotations

import logging
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from bot.runtime.text import split_sentences

log = logging.getLogger(__name__)

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "corpus" / "cleaning.toml"

NEAR_DUPLICATE_MIN_WORDS = 8
NEAR_DUPLICATE_RATIO = 0.9


@dataclass(frozen=True)
class CleaningRules:
    """Corpus-specific noise patterns, applied on top of the generic rules."""

    drop_lines: tuple[re.Pattern[str], ...] = ()  # fullmatch on a stripped line drops it
    drop_from: tuple[re.Pattern[str], ...] = ()  # first fullmatching line starts a dropped trailer
    inline_spam: tuple[tuple[re.Pattern[str], str], ...] = ()  # (pattern, replacement) per line
    drop_sentences: tuple[re.Pattern[str], ...] = ()  # search within a sentence drops it


EMPTY_RULES = CleaningRules()

# Invisible characters NFKC keeps: zero-width space/joiners, word joiner, BOM, soft hyphen.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

_BULLET = r"(?:[-•*·▪◦]\s*)?"
_GENERIC_DROP_LINES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"[^\w\s]|\d",  # a lone punctuation character or digit
        r"(?:(?:posted|written|published)\s+)?by\s*:?",  # a byline with no author
        r"post\s+a\s+comment|leave\s+a\s+(?:reply|comment)|(?:no|\d+)\s+comments?\s*:?",
        r"(?:(?:previous|next|older|newer)\s+posts?\s*)+(?:home)?",
        r"share\s+(?:this(?:\s+(?:post|article|page|story))?|on\s+\w+)\s*[:!]?",
        r"subscribe\s+to\s*:?\s*post\s+comments.*",
        _BULLET + r"posts\s*:\s*\d[\d,]*",  # forum footer: the poster's post count
        _BULLET + r"joined\s*:.*\d{4}.*",  # forum footer: the poster's join date
    )
)

_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_PHONE = (
    r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w-])"
    r"|\+\d{1,3}(?:[\s.-]\d{2,4}){2,4}\b"
)
_GENERIC_DROP_SENTENCES: tuple[re.Pattern[str], ...] = (
    re.compile(r"\[email\s*protected\]", re.IGNORECASE),  # Cloudflare's obfuscated address
    re.compile(_EMAIL),
    re.compile(_PHONE),
    re.compile(r"\bclick\s+here\b", re.IGNORECASE),
)

# Lines that legitimately repeat: list items, "Label:" lines, table rows, one- or two-word headings.
_LIST_ITEM = re.compile(r"(?:\d{1,2}[.)]|[-•*·▪◦])\s")

_WORD = re.compile(r"\w+")

_KNOWN_KEYS = {"drop_lines", "drop_from", "drop_sentences", "inline_spam"}


def load_rules(path: Path | None = None) -> CleaningRules:
    """Rules from a cleaning TOML file (default `corpus/cleaning.toml`); empty if it is missing.

    Raises ValueError naming the file for bad TOML, unknown keys, wrong types or bad regexes.
    """
    path = DEFAULT_RULES_PATH if path is None else Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        log.info("no cleaning rules at %s; using the generic rules only", path)
        return EMPTY_RULES
    except UnicodeDecodeError as exc:
        raise ValueError(f"malformed cleaning rules {path}: not valid UTF-8 ({exc})") from exc
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"malformed cleaning rules {path}: {exc}") from exc
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(
            f"malformed cleaning rules {path}: unknown key(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(_KNOWN_KEYS))}"
        )
    spam = []
    for i, entry in enumerate(_as_list(data, "inline_spam", path)):
        where = f"inline_spam[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"pattern", "replacement"}:
            raise ValueError(
                f"malformed cleaning rules {path}: {where} must be a table with "
                "'pattern' and optional 'replacement'"
            )
        replacement = entry.get("replacement", "")
        if not isinstance(replacement, str):
            raise ValueError(
                f"malformed cleaning rules {path}: {where}.replacement must be a string"
            )
        spam.append((_compile(entry.get("pattern"), f"{where}.pattern", path), replacement))
    rules = CleaningRules(
        drop_lines=_patterns(data, "drop_lines", path),
        drop_from=_patterns(data, "drop_from", path),
        inline_spam=tuple(spam),
        drop_sentences=_patterns(data, "drop_sentences", path),
    )
    log.debug(
        "loaded cleaning rules from %s: %d drop_lines, %d drop_from, %d inline_spam, "
        "%d drop_sentences",
        path,
        len(rules.drop_lines),
        len(rules.drop_from),
        len(rules.inline_spam),
        len(rules.drop_sentences),
    )
    return rules


def _as_list(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"malformed cleaning rules {path}: {key} must be an array")
    return value


def _patterns(data: dict[str, Any], key: str, path: Path) -> tuple[re.Pattern[str], ...]:
    return tuple(
        _compile(value, f"{key}[{i}]", path) for i, value in enumerate(_as_list(data, key, path))
    )


def _compile(value: object, where: str, path: Path) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise ValueError(f"malformed cleaning rules {path}: {where} must be a non-empty string")
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise ValueError(f"malformed cleaning rules {path}: {where} {value!r}: {exc}") from exc
    # A pattern matching "" would drop every sentence or splice its replacement everywhere.
    if pattern.search("") is not None:
        raise ValueError(f"malformed cleaning rules {path}: {where} {value!r} matches empty text")
    return pattern


def clean_text(text: str, rules: CleaningRules | None = None) -> str:
    """Cleaned text of one document: boilerplate and spam removed, structure kept.

    `rules` adds corpus-specific patterns (see `load_rules`); None applies the generic rules only.
    Returns "" when nothing is left, otherwise text ending with a single newline.
    """
    rules = rules or EMPTY_RULES
    lines = _normalise(text)
    if rules.inline_spam:
        lines = [(indent, _remove_spam(body, rules.inline_spam)) for indent, body in lines]
    lines = _cut_trailer(lines, rules.drop_from)

    drop_lines = _GENERIC_DROP_LINES + rules.drop_lines
    drop_sentences = _GENERIC_DROP_SENTENCES + rules.drop_sentences
    seen_lines: set[str] = set()
    seen_sentences: list[list[str]] = []
    out: list[str] = []
    dropped = 0
    for indent, body in lines:
        if not body:
            out.append("")
            continue
        if _line_is_noise(body, drop_lines, seen_lines):
            dropped += 1
            continue
        kept, new_sentences = body, []
        if not _is_table_row(body):
            kept, new_sentences = _filter_sentences(body, drop_sentences, seen_sentences)
            if kept != body and (not kept or _line_is_noise(kept, drop_lines, seen_lines)):
                dropped += 1
                continue
        seen_lines.update({body.casefold(), kept.casefold()})
        seen_sentences.extend(new_sentences)
        out.append(indent + kept)
    log.debug("cleaning dropped %d of %d lines", dropped, sum(1 for _, b in lines if b))
    return _join(out)


def _normalise(text: str) -> list[tuple[str, str]]:
    """(indent, body) per line: NFKC, no invisible characters, tabs and space runs collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    lines = []
    for line in text.splitlines():  # also splits "\r\n", "\r" and Unicode line separators
        line = line.expandtabs(4).rstrip()
        body = line.lstrip()
        lines.append((" " * (len(line) - len(body)), " ".join(body.split())))
    return lines


def _remove_spam(body: str, spam: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    for pattern, replacement in spam:
        body = pattern.sub(replacement, body)
    return " ".join(body.split())


def _cut_trailer(
    lines: list[tuple[str, str]], drop_from: tuple[re.Pattern[str], ...]
) -> list[tuple[str, str]]:
    """Lines before the first one that starts a trailing boilerplate block."""
    for i, (_, body) in enumerate(lines):
        if body and _fullmatch_any(body, drop_from):
            total = sum(len(b) for _, b in lines)
            cut = sum(len(b) for _, b in lines[i:])
            if cut * 2 > total:
                log.warning(
                    "trailer starting at %r removes %d of %d characters; check drop_from",
                    body,
                    cut,
                    total,
                )
            return lines[:i]
    return lines


def _fullmatch_any(body: str, patterns: Iterable[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(body) for p in patterns)


def _line_is_noise(body: str, drop_lines: tuple[re.Pattern[str], ...], seen: set[str]) -> bool:
    """Boilerplate line, or a repeat of an earlier line that is not a list item/label/row."""
    if _fullmatch_any(body, drop_lines):
        return True
    return body.casefold() in seen and not _may_repeat(body)


def _may_repeat(body: str) -> bool:
    """Lines that legitimately recur, e.g. "1. Focus:" under each of several sections."""
    return (
        len(body.split()) < 3
        or body.endswith(":")
        or _is_table_row(body)
        or _LIST_ITEM.match(body) is not None
    )


def _is_table_row(body: str) -> bool:
    return body.count("|") >= 2


def _filter_sentences(
    body: str, drop: tuple[re.Pattern[str], ...], seen: list[list[str]]
) -> tuple[str, list[list[str]]]:
    """`body` without noise sentences and near-repeats of `seen`; also the kept sentences' words."""
    kept: list[tuple[str, str]] = []
    new: list[list[str]] = []
    for sentence, sep in split_sentences(body):
        if any(p.search(sentence) for p in drop):
            continue
        words = _WORD.findall(sentence.casefold())
        if len(words) >= NEAR_DUPLICATE_MIN_WORDS and any(
            _near_duplicate(words, earlier) for earlier in (*seen, *new)
        ):
            continue
        kept.append((sentence, sep))
        new.append(words)
    # Unchanged when nothing was dropped: the last separator is "" and `body` is stripped.
    return "".join(s + sep for s, sep in kept).rstrip(), new


def _near_duplicate(words: list[str], earlier: list[str]) -> bool:
    """True when the word sequences are at least NEAR_DUPLICATE_RATIO similar."""
    total = len(words) + len(earlier)
    # ratio() is at most 2*min/total, so sentences of very different lengths never qualify.
    if not earlier or 2 * min(len(words), len(earlier)) < NEAR_DUPLICATE_RATIO * total:
        return False
    # Cheap upper bound on matching words, all in C set operations: the tokens of `words`
    # whose word also occurs in `earlier` number at most the shared distinct words plus
    # `words`' repeats. SequenceMatcher is built only for pairs that pass it.
    distinct = set(words)
    bound = len(distinct & set(earlier)) + len(words) - len(distinct)
    if 2 * bound < NEAR_DUPLICATE_RATIO * total:
        return False
    matcher = SequenceMatcher(None, earlier, words, autojunk=False)
    return matcher.quick_ratio() >= NEAR_DUPLICATE_RATIO and matcher.ratio() >= NEAR_DUPLICATE_RATIO


def similarity(a: str, b: str) -> float:
    """Similarity of two sentences' normalised word sequences (the near-duplicate measure)."""
    wa, wb = _WORD.findall(a.casefold()), _WORD.findall(b.casefold())
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def _join(lines: list[str]) -> str:
    """Lines with blank runs collapsed to one, no leading/trailing blanks, one final newline."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""
