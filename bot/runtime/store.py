"""The vector-store port: a Chroma client (embedded on disk, or a server) and our collection.

The collection is always opened with an explicit embedding function wrapping our embedder, so
no code path can reach Chroma's default function (which downloads a model). The collection's
metadata records which embedding model built it; opening it with another is an error.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.api.types import Embeddings as ChromaEmbeddings
from langchain_core.embeddings import Embeddings

from bot.runtime.embeddings import embed_array, model_name
from bot.runtime.settings import Settings

log = logging.getLogger(__name__)


class IndexMismatchError(RuntimeError):
    """The collection was built with a different embedding model."""


class StoreUnavailableError(RuntimeError):
    """Chroma cannot be reached or opened."""


class KbEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma's view of our embedder, so Chroma never falls back to its own default."""

    def __init__(self, embeddings: Embeddings) -> None:
        self._embeddings = embeddings

    def __call__(self, input: Documents) -> ChromaEmbeddings:
        return list(embed_array(self._embeddings, list(input)))

    @staticmethod
    def name() -> str:
        return "kb"

    def get_config(self) -> dict[str, Any]:
        return {"model": model_name(self._embeddings)}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> KbEmbeddingFunction:
        raise NotImplementedError("kb opens its collection with an explicit embedding function")

    def is_legacy(self) -> bool:
        # Non-legacy functions get their config persisted and rebuilt via a registry; ours is
        # always passed explicitly, so Chroma must treat it as a plain callable.
        return True

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


def make_client(settings: Settings) -> ClientAPI:
    """A Chroma client: `HttpClient` when a server is configured, else `PersistentClient`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    server = settings.chroma_server
    try:
        if server:
            host, port, ssl = server
            _heartbeat(host, port, ssl, settings.chroma_timeout)
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
            _bound_requests(client, settings.chroma_timeout)
            return client
        settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
    except Exception as exc:
        where = settings.chroma_url or (
            f"{server[0]}:{server[1]}" if server else settings.chroma_dir
        )
        raise StoreUnavailableError(f"cannot open Chroma at {where}: {exc}") from exc


def _heartbeat(host: str, port: int, ssl: bool, timeout: float) -> None:
    """Fail fast when the server does not answer: `HttpClient()` itself makes its first
    requests with no timeout, so a frozen server would hang the constructor forever."""
    import httpx

    scheme = "https" if ssl else "http"
    httpx.get(f"{scheme}://{host}:{port}/api/v2/heartbeat", timeout=timeout).raise_for_status()


def _bound_requests(client: ClientAPI, timeout: float) -> None:
    """Give the client's HTTP session a timeout. chromadb 1.x builds it with `timeout=None`
    and has no setting for it (chroma-core/chroma#5805), so set it on the session."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout)
    else:  # a chromadb upgrade moved it: say so rather than hang silently later
        log.warning("cannot set a timeout on the Chroma client; a frozen server may hang kb")


@dataclass
class Store:
    """Our Chroma collection plus the embedder that built it."""

    client: ClientAPI
    embeddings: Embeddings
    name: str

    @property
    def model(self) -> str:
        """Name of the embedding model this store embeds with."""
        return model_name(self.embeddings)

    def collection(self, create: bool = False) -> Collection | None:
        """The collection (created if `create`), checked against our embedding model."""
        ef = KbEmbeddingFunction(self.embeddings)
        try:
            if create:
                coll = self.client.get_or_create_collection(
                    self.name,
                    embedding_function=ef,  # type: ignore[arg-type]
                    metadata={
                        "hnsw:space": "cosine",
                        "embedding_model": self.model,
                        "embedding_dimension": int(getattr(self.embeddings, "dimension", 0)),
                    },
                )
            else:
                coll = self.client.get_collection(self.name, embedding_function=ef)  # type: ignore[arg-type]
        except Exception as exc:
            if not create and _is_not_found(exc):
                return None
            raise StoreUnavailableError(f"cannot open collection {self.name!r}: {exc}") from exc
        built_with = (coll.metadata or {}).get("embedding_model")
        if built_with and built_with != self.model:
            raise IndexMismatchError(
                f"collection {self.name!r} was built with embedding model {built_with!r} but kb "
                f"is configured for {self.model!r}; run `kb ingest --rebuild` "
                "(or set KB_EMBEDDER back)"
            )
        return coll

    @property
    def legacy_units_name(self) -> str:
        """Name of the companion collection that held sentence units before the sentence
        store (indexes built by earlier kb versions; `kb ingest` moves them)."""
        return f"{self.name}_units"

    def legacy_units(self) -> Collection | None:
        """The legacy companion collection of sentence units, if this index still has it."""
        try:
            return self.client.get_collection(
                self.legacy_units_name,
                embedding_function=KbEmbeddingFunction(self.embeddings),  # type: ignore[arg-type]
            )
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise StoreUnavailableError(
                f"cannot open collection {self.legacy_units_name!r}: {exc}"
            ) from exc

    def drop(self) -> None:
        """Delete the collections if they exist."""
        for name in (self.name, self.legacy_units_name):
            try:
                self.client.delete_collection(name)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise


def _is_not_found(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "notfound" in text or "does not exist" in text or "not found" in text


READ_PAGE = 5000  # Chroma's SQLite refuses ~32k variables in one statement; stay far below


def paged_get(
    collection: Collection,
    *,
    ids: list[str] | None = None,
    where: dict[str, Any] | None = None,
    include: list[str] | None = None,
    page: int = READ_PAGE,
) -> dict[str, list[Any]]:
    """`collection.get(...)` in pages of `page` records, merged: every unbounded read uses it.

    With `ids`, the ids are sent `page` at a time; otherwise `limit`/`offset` walk the
    collection. Returns `ids` plus one list per included field (`embeddings` as lists).
    """
    fields = list(include if include is not None else ["metadatas"])
    out: dict[str, list[Any]] = {"ids": [], **{f: [] for f in fields}}

    def take(got: Any) -> int:
        out["ids"].extend(got["ids"])
        for f in fields:
            values = got.get(f)
            out[f].extend(list(values) if values is not None else [None] * len(got["ids"]))
        return len(got["ids"])

    if ids is not None:
        for start in range(0, len(ids), page):
            take(collection.get(ids=ids[start : start + page], where=where, include=fields))  # type: ignore[arg-type]
        return out
    offset = 0
    while True:
        n = take(collection.get(where=where, include=fields, limit=page, offset=offset))  # type: ignore[arg-type]
        if n < page:
            return out
        offset += n


_reopen_lock = threading.Lock()
_opened_for: dict[str, object] = {}  # path -> index version the cached System was opened at


def reopen(settings: Settings, store: Store, version: object) -> Store:
    """A Store whose embedded Chroma client sees the collection as of `version`.

    Measured with chromadb 1.5: an embedded client keeps its vector index in memory and never
    sees another process's upserts/deletes (queries return deleted ids with no documents and
    miss new ones) until a new `System` is opened. Chroma caches one `System` per path, so our
    path's entry is dropped and a new one opened, once per version per process (several bots
    in one process share it); collections opened from the old client keep working on the old
    System, which is freed when the last of them goes. Server mode needs none of this.
    """
    if settings.chroma_server:
        return store
    from chromadb.api.shared_system_client import SharedSystemClient

    path = str(settings.chroma_dir)
    with _reopen_lock:
        if _opened_for.get(path) != version:
            SharedSystemClient._identifier_to_system.pop(path, None)
            _opened_for[path] = version
        return Store(client=make_client(settings), embeddings=store.embeddings, name=store.name)


def open_store(settings: Settings, embeddings: Embeddings) -> Store:
    """Our store from settings."""
    return Store(client=make_client(settings), embeddings=embeddings, name=settings.collection)
