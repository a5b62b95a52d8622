"""Lexical side of retrieval: a tokenizer shared by BM25 and sentence scoring, and the BM25 index.

BM25 is `bm25s` (sparse-matrix scoring, ~10x faster than LangChain's BM25Retriever, which wraps
`rank_bm25` in pure Python); the index is rebuilt from the Chroma collection, so it can never
disagree with what was ingested.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import bm25s
import numpy as np

# bm25s forces its logger to DEBUG at import, which would print on every index build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "either",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "tell",
        "explain",
        "describe",
        "define",
        "definition",
        "mean",
        "means",
        "meaning",
        "please",
        "whats",
        "what's",
        "does",
        "do",
        "kb",
        "vs",
        "versus",
        "difference",
        "differences",
        "different",
        "between",
        "compare",
        "comparison",
    ]
)
# "it" is a stopword but "IT" (information technology) is the corpus' key term: keep uppercase IT.
_IT_TOKEN = re.compile(
    r"\bIT\b|\b[Ii][Tt](?=\s+(?:strateg|transform|department|team|professional|infrastructure"
    r"|system|operation|service|budget|modern|plan|leader|staff|function|role|initiative|project))"
)


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match plurals and -ing/-ed forms."""
    for suffix, repl in (
        ("ership", ""),
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def terms(text: str) -> list[str]:
    """Content terms of `text`: lowercased, stopwords dropped, lightly stemmed."""
    text = _IT_TOKEN.sub(" itx ", text)
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


class Bm25Index:
    """BM25 over a fixed list of texts."""

    def __init__(self, texts: list[str]) -> None:
        self.size = len(texts)
        self._model = bm25s.BM25()
        tokens = [terms(t) or ["_empty_"] for t in texts]
        if texts:
            self._model.index(tokens, show_progress=False)
        self.vocabulary = {t for doc in tokens for t in doc}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for `query` (zeros when nothing matches)."""
        query_terms = [t for t in terms(query) if t in self.vocabulary]
        if not self.size or not query_terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(query_terms), dtype=np.float32)
