"""The written example initiatives (`exemplars`) as vectors, and the linear separator of IT
from digital learnt from them: computed once per embedding model, and read from the shipped
`exemplars.npz` when it was made by the running model from the current texts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bot.answer.exemplars import DIGITAL_EXAMPLES, IT_EXAMPLES, NOT_INITIATIVES

RIDGE_L2 = 0.3  # dev: 0.3 best of 0.1, 0.3, 1, 3


def separate(vectors: np.ndarray, sides: list[str], l2: float = RIDGE_L2) -> np.ndarray:
    """A linear separator of IT (+1) from digital (-1) over the examples' embeddings: ridge
    regression, solved in closed form (milliseconds, deterministic; hand-written because numpy
    is already here and scikit-learn would be a large dependency for one linear model).
    Unlike the mean of the nearest examples, the line it learns weighs what tells the sides
    apart (whom the work serves, what it is for) over what they share (systems, apps, data)."""
    x = np.hstack([vectors.astype(np.float64), np.ones((len(vectors), 1))])
    y = np.array([1.0 if s == "it" else -1.0 for s in sides])
    penalty = l2 * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    return np.linalg.solve(x.T @ x + penalty, x.T @ y).astype(np.float32)


_EXAMPLES_CACHE: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
# The examples embedded by the bundled model, shipped so that the first classifier of a process
# does not spend seconds embedding them (`save_example_vectors` writes it; used only when the
# texts are unchanged and the running model gives the same vector for the first example).
EXAMPLE_VECTORS = Path(__file__).with_name("exemplars.npz")


def _example_texts() -> list[str]:
    return [*IT_EXAMPLES, *DIGITAL_EXAMPLES, *NOT_INITIATIVES]


def _digest(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def save_example_vectors(embed) -> Path:  # type: ignore[no-untyped-def]
    """Embed the examples with `embed` and store them next to this module."""
    texts = _example_texts()
    vectors = np.asarray(embed(texts), dtype=np.float32)
    np.savez_compressed(EXAMPLE_VECTORS, vectors=vectors.astype(np.float16), digest=_digest(texts))
    return EXAMPLE_VECTORS


def _stored_vectors(first: np.ndarray) -> np.ndarray | None:
    """The shipped example vectors when they fit the texts and the running model."""
    try:
        with np.load(EXAMPLE_VECTORS) as stored:
            if str(stored["digest"]) != _digest(_example_texts()):
                return None
            vectors = stored["vectors"].astype(np.float32)
    except (OSError, KeyError, ValueError):
        return None
    if vectors.shape[1] != first.shape[0]:  # another embedding model
        return None
    return vectors if float(vectors[0] @ first) > 0.999 else None


def examples(embed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """The examples' vectors, the non-initiatives' vectors and the separator, computed once
    per embedding model (identified by the vector it gives the first example): a classifier
    is rebuilt after every ingest, and embedding the examples costs seconds on a busy CPU."""
    first = np.asarray(embed([IT_EXAMPLES[0]]), dtype=np.float32)[0]
    key = first.round(4).tobytes()
    if key not in _EXAMPLES_CACHE:
        texts = _example_texts()
        vectors = _stored_vectors(first)
        if vectors is None:
            vectors = np.asarray(embed(texts), dtype=np.float32)
        n = len(IT_EXAMPLES) + len(DIGITAL_EXAMPLES)
        sides = ["it"] * len(IT_EXAMPLES) + ["digital"] * len(DIGITAL_EXAMPLES)
        _EXAMPLES_CACHE[key] = (vectors[:n], vectors[n:], separate(vectors[:n], sides))
    return _EXAMPLES_CACHE[key]
