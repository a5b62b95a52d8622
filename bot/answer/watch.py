"""Index freshness without reload storms: a background thread notices another process's
ingest and swaps in what changed, so no request ever waits on (or fails during) a reload.

Every `VERSION_CHECK_SECONDS` it reads the collection's `index_version` (one metadata read).
When it changed: embedded Chroma is reopened (an embedded client never sees another process's
writes otherwise), the read-through caches are emptied, and the document list and the
classifier are rebuilt; until the swap, requests keep using what they had. The lexical index is
checked against Chroma's chunk count and repaired in one paged pass when they stay apart.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from bot.answer.classify import InitiativeClassifier
from bot.answer.retrieve import VERSION_CHECK_SECONDS, Corpus, KnowledgeIndex
from bot.runtime.lexical_repair import repair
from bot.runtime.settings import Settings
from bot.runtime.store import Store, reopen

log = logging.getLogger(__name__)

BuildClassifier = Callable[[KnowledgeIndex], InitiativeClassifier]

# Watchers still running. A daemon thread killed mid-call into Chroma's native code at
# interpreter exit can crash the process (seen: `kb ask` exiting with SIGSEGV), so they are
# stopped cleanly first; the set is weak so it keeps no bot alive.
_LIVE: weakref.WeakSet[IndexWatcher] = weakref.WeakSet()


def _watch(ref: weakref.ref[IndexWatcher], stop: threading.Event) -> None:
    """The watch loop; it ends when stopped or when its watcher has been freed."""
    watcher = ref()
    if watcher is None:
        return
    watcher.warm()
    del watcher  # hold it only while checking
    while not stop.wait(VERSION_CHECK_SECONDS):
        watcher = ref()
        if watcher is None:
            return
        try:
            watcher.check()
        except Exception as exc:  # keep watching: Chroma may come back
            log.warning("index check failed: %s", exc)
        del watcher


@atexit.register
def _close_all() -> None:
    for watcher in list(_LIVE):
        watcher.close()


def index_version(store: Store) -> object:
    """The collection's `index_version` stamp (None when there is no collection)."""
    coll = store.collection()
    return None if coll is None else (coll.metadata or {}).get("index_version")


class IndexWatcher:
    """Holds the current store, document list and classifier; refreshes them in the background."""

    def __init__(
        self, settings: Settings, store: Store, corpus: Corpus, build: BuildClassifier
    ) -> None:
        self.settings = settings
        self.store = store
        self._corpus = corpus
        self._build = build
        self._lock = threading.Lock()
        self._sources: list[dict[str, Any]] | None = None
        self._classifier: tuple[InitiativeClassifier, KnowledgeIndex] | None = None
        # Bumped when an ingest is picked up: what was built from before it is not kept.
        self._generation = 0
        self._version: object = None
        self._apart = 0  # consecutive checks at which lexical and Chroma counts differed
        self._last_count = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Read a small collection's vectors, then start watching (a daemon thread;
        idempotent)."""
        try:
            self._version = index_version(self.store)
        except Exception as exc:  # Chroma down at start-up: the checks retry
            log.warning("cannot read the index version yet: %s", exc)
        self.prepare_exact_search()  # before the first question: answers do not depend on timing
        if self._thread is None:
            # The thread holds the watcher weakly, so a bot nobody uses any more (tests, `kb
            # eval` over several corpora) is freed with its model and store, and the thread ends.
            self._thread = threading.Thread(
                target=_watch, args=(weakref.ref(self), self._stop), name="kb-index-watch",
                daemon=True,
            )  # fmt: skip
            self._thread.start()
            _LIVE.add(self)

    def close(self, wait_seconds: float = 15.0) -> None:
        """Stop watching (and wait for a check under way to finish)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait_seconds)

    def warm(self) -> None:
        """First pass of the watch: the lexical index checked, the classifier built, so no
        request waits on building it (or on Chroma)."""
        self._check_lexical(force=True)
        try:
            if self.store.collection() is not None:
                self.classifier()
        except Exception as exc:
            log.warning("building the classifier in the background failed: %s", exc)

    def check(self) -> bool:
        """Pick up another process's ingest if there was one; True if something changed."""
        version = index_version(self.store)
        if version == self._version:
            self._check_lexical()
            self.prepare_exact_search()  # after a repair, or a failed read
            return False
        log.info("index version %s -> %s: refreshing", self._version, version)
        fresh = reopen(self.settings, self.store, version)
        self._swap(fresh, version)
        return True

    def changed(self) -> None:
        """This process changed the index itself (same Chroma client): refresh now."""
        self._swap(self.store, index_version(self.store))

    def _swap(self, store: Store, version: object) -> None:
        with self._lock:
            self._generation += 1
        self.store = store
        self._corpus.clear()
        self._version = version
        self._apart = 0
        self.prepare_exact_search()
        sources = self._load_sources()
        with self._lock:
            self._sources = sources
        # Rebuilt at once (not on the first classification), so no request waits on the store.
        built = self._new_classifier()
        with self._lock:
            self._classifier = built

    def prepare_exact_search(self) -> None:
        """Read a small collection's chunk vectors for exact dense search (best effort)."""
        try:
            self._corpus.prepare_exact_search()
        except Exception as exc:  # Chroma's index answers meanwhile
            log.warning("preparing exact search failed: %s", exc)

    def _check_lexical(self, force: bool = False) -> None:
        """Repair the lexical index when it disagrees with Chroma on two checks in a row with
        Chroma's count unchanged and no ingest running here (during an ingest Chroma runs one
        batch ahead of the lexical index, and the ingest itself brings them together)."""
        try:
            coll = self.store.collection()
            if coll is None:
                return
            count = coll.count()
            apart = count != self._corpus.lexical.size()
            steady = count == self._last_count
            self._last_count = count
            self._apart = self._apart + 1 if apart and steady else 0
            if apart and (force or self._apart >= 2) and not self._ingest_running():
                started = time.perf_counter()
                if repair(self._corpus.lexical, coll, self.settings.read_page_size):
                    self._corpus.clear()
                    with self._lock:
                        self._sources = None
                log.info("lexical index checked in %.1f s", time.perf_counter() - started)
                self._apart = 0
        except Exception as exc:
            log.warning("lexical index check failed: %s", exc)

    def _ingest_running(self) -> bool:
        """Whether an ingest holds this data dir's ingest lock right now."""
        from filelock import FileLock, Timeout

        path = self.settings.data_dir / "ingest.lock"
        if not path.exists():
            return False
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    # ------------------------------------------------------------------ what requests read
    def _load_sources(self) -> list[dict[str, Any]]:
        listed = self._corpus.lexical.sources()
        chunks = self._corpus.chunks([cid for _, _, cid in listed])
        return [
            {"source": source, "title": chunks[cid].title if cid in chunks else "", "chunks": n}
            for source, n, cid in listed
        ]

    def sources(self) -> list[dict[str, Any]]:
        """Documents with titles and chunk counts (from the lexical index; cached)."""
        with self._lock:
            cached, generation = self._sources, self._generation
        if cached is None:
            cached = self._load_sources()
            with self._lock:
                if generation == self._generation:  # else built mid-ingest: not kept
                    self._sources = cached
        return cached

    def document_count(self) -> int:
        """Number of documents, without reading their titles (readiness at any corpus size)."""
        with self._lock:
            cached = self._sources
        return len(cached) if cached is not None else self._corpus.lexical.size(documents=True)

    def _new_classifier(self) -> tuple[InitiativeClassifier, KnowledgeIndex]:
        index = KnowledgeIndex(self._corpus)
        return self._build(index), index

    def classifier(self) -> InitiativeClassifier:
        """The classifier; built on first use, then rebuilt in the background after ingests."""
        return self.classifier_and_index()[0]

    def classifier_and_index(self) -> tuple[InitiativeClassifier, KnowledgeIndex]:
        """The classifier and the working set its prototypes were read into."""
        with self._lock:
            cached, generation = self._classifier, self._generation
        if cached is None:
            cached = self._new_classifier()
            with self._lock:
                # Built while an ingest was being picked up (the first `kb ask` builds the
                # index while this thread warms up): the swap's own classifier wins.
                if generation == self._generation:
                    self._classifier = cached
                cached = self._classifier or cached
        return cached
