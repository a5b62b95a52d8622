"""Shared state in the state database, on SQLite and on a real PostgreSQL server: Slack retry
claims, votes with a reason, the old feedback file, and votes that change ranking."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine

from bot.answer import KnowledgeBot
from bot.doors.feedback import export_feedback
from bot.doors.http import create_app
from bot.runtime.feedback_store import FeedbackStore, open_feedback_store
from bot.runtime.schema import Answer, Citation
from bot.runtime.settings import Settings
from bot.runtime.state import load_question_vectors
from tests.conftest import make_settings
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack, signed_headers
from tests.live_server import free_port, running
from tests.postgres import create_database, postgres_bindir, postgres_server
from tests.test_server_mode import chroma_server  # noqa: F401  (the `chroma run` fixture)

SECRET = "state-signing-secret"

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL on loopback for the session (skipped only if it is not installed)."""
    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty state database: a SQLite file, or a new database on the PostgreSQL server
    given as a bare `postgresql://` URL (kb must pick the psycopg driver itself)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite3'}"
    server = request.getfixturevalue("postgres")
    return create_database(server, f"kb_test_{next(_databases)}")


def an_answer(*sources: str) -> Answer:
    citations = [
        Citation(n=n, source=s, title=s, quote="quoted text", score=0.5)
        for n, s in enumerate(sources, start=1)
    ]
    return Answer(answer="An answer [1].", citations=citations, backend="local")


# ------------------------------------------------------------------------------ retry claims
def test_a_key_is_claimed_once_across_connections_and_again_after_it_expires(
    state_url: str,
) -> None:
    first = FeedbackStore(state_url)
    # a second replica: its own engine and connection pool on the same database
    url = state_url.replace("postgresql://", "postgresql+psycopg://")
    second = FeedbackStore(create_engine(url))
    assert first.claim("slack:event:Ev1", 60) is True
    assert second.claim("slack:event:Ev1", 60) is False
    assert first.claim("slack:event:Ev1", 60) is False
    assert second.claim("slack:event:Ev2", 60) is True
    assert first.claim("slack:event:gone", 0.0) is True
    assert second.claim("slack:event:gone", 60) is True  # the first claim had expired


def test_concurrent_claims_of_one_key_have_exactly_one_winner(state_url: str) -> None:
    url = state_url.replace("postgresql://", "postgresql+psycopg://")
    # two engines, as two replicas would have; SQLite writers wait for the lock as kb's own do
    wait = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
    stores = [FeedbackStore(create_engine(url, **wait)) for _ in range(2)]
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def race(store: FeedbackStore) -> None:
        barrier.wait()
        results.append(store.claim("slack:message:C1:1700000000.000100", 60))

    threads = [threading.Thread(target=race, args=(stores[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


# ------------------------------------------------------------------------------ votes
def test_a_vote_keeps_its_question_answer_sources_reason_and_comment(
    state_url: str, tmp_path: Path
) -> None:
    store = FeedbackStore(state_url)
    answer_id = store.save_answer(
        "Who owns it?", an_answer("corpus/a.txt", "corpus/b.txt"), channel="C1", thread_ts="1.0"
    )
    assert store.answered_in_thread("C1", "1.0") and not store.answered_in_thread("C1", "2.0")
    store.record(answer_id, "U1", "down", reason="outdated", comment="that changed in 2024")
    again = store.record(answer_id, "U1", "down")  # the click again: reason and comment stay
    assert (again.reason, again.comment) == ("outdated", "that changed in 2024")
    assert again.question == "Who owns it?" and again.answer == "An answer [1]."
    assert [c["source"] for c in again.citations] == ["corpus/a.txt", "corpus/b.txt"]
    assert again.channel == "C1" and again.thread_ts == "1.0"
    store.record(answer_id, "U2", "up")
    assert [(r.user, r.vote, r.reason) for r in store.records()] == [
        ("U1", "down", "outdated"),
        ("U2", "up", None),
    ]
    # changing one's mind to 👍 clears the reason
    assert store.record(answer_id, "U1", "up").reason is None

    store.record(answer_id, "U3", "down", reason="off-topic")
    exported = export_feedback(store, "csv")
    assert exported.splitlines()[0].endswith(",comment,reason")
    assert "off-topic" in exported
    (case,) = store.as_eval_cases()
    assert case["feedback"]["reason"] == "off-topic" and case["expected_sources"] == [
        "corpus/a.txt",
        "corpus/b.txt",
    ]
    # `kb feedback --as-eval` reads the same database from its URL
    env = {**os.environ, "KB_DATABASE_URL": state_url, "KB_DATA_DIR": str(tmp_path / "cli")}
    cli = subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", "feedback", "--as-eval"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    (line,) = cli.stdout.splitlines()
    printed = json.loads(line)
    assert printed["question"] == "Who owns it?" and printed["feedback"]["reason"] == "off-topic"


def test_an_unknown_reason_or_vote_is_refused_and_stores_nothing(state_url: str) -> None:
    store = FeedbackStore(state_url)
    answer_id = store.save_answer("Q?", an_answer("corpus/a.txt"), channel="C1", thread_ts=None)
    with pytest.raises(ValueError, match="wrong, incomplete, outdated, off-topic"):
        store.record(answer_id, "U1", "down", reason="boring")
    with pytest.raises(ValueError, match="'up' or 'down'"):
        store.record(answer_id, "U1", "meh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="👎"):
        store.record(answer_id, "U1", "up", reason="wrong")
    assert store.records() == []


# ------------------------------------------------------------------------------ upgrades
OLD_SCHEMA = """
CREATE TABLE answers (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, channel TEXT,
    thread_ts TEXT, question TEXT NOT NULL, history TEXT NOT NULL DEFAULT '[]',
    answer TEXT NOT NULL, citations TEXT NOT NULL DEFAULT '[]', classification TEXT,
    abstained INTEGER NOT NULL DEFAULT 0, degraded INTEGER NOT NULL DEFAULT 0, backend TEXT);
CREATE TABLE votes (answer_id TEXT NOT NULL, user TEXT NOT NULL, channel TEXT, thread_ts TEXT,
    vote TEXT NOT NULL, voted_at TEXT NOT NULL, comment TEXT, PRIMARY KEY (answer_id, user));
INSERT INTO answers (id, created_at, channel, question, answer, citations)
    VALUES ('old1', '2026-01-02T03:04:05+00:00', 'C9', 'Old question?', 'Old answer.',
            '[{"n": 1, "source": "corpus/a.txt"}]');
INSERT INTO votes VALUES ('old1', 'U9', 'C9', NULL, 'down', '2026-01-02T03:05:00+00:00', 'meh');
"""


def test_votes_in_an_old_feedback_file_move_to_the_state_database_untouched(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    old = data / "feedback.sqlite3"
    with sqlite3.connect(old) as conn:
        conn.executescript(OLD_SCHEMA)
    before = hashlib.sha256(old.read_bytes()).hexdigest()
    settings = Settings(data_dir=data)
    for _ in range(2):  # every start imports; a second import adds nothing
        (record,) = open_feedback_store(settings).records()
    assert (record.user, record.vote, record.comment) == ("U9", "down", "meh")
    assert record.question == "Old question?" and record.citations[0]["source"] == "corpus/a.txt"
    assert hashlib.sha256(old.read_bytes()).hexdigest() == before
    assert (data / "kb.sqlite3").is_file()

    # the deprecated KB_FEEDBACK_DB still names the file kb keeps votes in
    legacy = tmp_path / "elsewhere.sqlite3"
    store = open_feedback_store(Settings(data_dir=tmp_path / "d2", feedback_db=legacy))
    store.record(
        store.save_answer("Q?", an_answer("corpus/a.txt"), channel=None, thread_ts=None), "U1", "up"
    )
    assert [r.user for r in FeedbackStore(legacy).records()] == ["U1"]


# ------------------------------------------------------------------------------ ranking
def test_a_document_voted_down_for_a_question_drops_below_its_peers_for_similar_ones(
    indexed_settings: Settings, state_url: str
) -> None:
    settings = indexed_settings.model_copy(update={"database_url": state_url})
    bot = KnowledgeBot(settings)
    asked, similar, unrelated = (
        "What is an IT strategy?",
        "whats IT strategy actually about",
        "Who owns digital transformation?",
    )

    def order(question: str) -> list[str]:
        return list(dict.fromkeys(h.chunk.source for h in bot.retrieve(question)))

    answer = bot.answer(asked)
    # the document the answer leans on most is the one its 👎 weighs on
    voted = Counter(c.source for c in answer.citations).most_common(1)[0][0]
    before, unrelated_before, asked_before = order(similar), order(unrelated), order(asked)
    assert voted in before[:-1], (voted, before)  # it has a peer below it to drop beneath
    peer = before[before.index(voted) + 1]

    store = open_feedback_store(settings)
    answer_id = store.save_answer(asked, answer, channel="C1", thread_ts="1.1")
    store.record(answer_id, "U1", "down", reason="wrong")
    # a server notices new votes within seconds, in the background; here, at once
    bot.prior.refresh()
    after_one = order(similar)
    for user in ("U2", "U3"):  # others in the channel vote the same answer down too
        store.record(answer_id, user, "down", reason="outdated", comment="old figures")

    bot.prior.refresh()
    after = order(similar)
    assert after.index(peer) < after.index(voted), (before, after)
    assert voted in after  # demoted, never removed
    assert after_one.index(voted) <= after.index(voted)  # repeated votes weigh more
    assert order(unrelated) == unrelated_before  # other questions rank as before
    assert order(asked).index(voted) > asked_before.index(voted)  # the asker's question too

    # the voted question's embedding is shared through the database: a replica that starts
    # later (or a restart) reads it instead of embedding every voted question again
    (stored,) = load_question_vectors(store.engine, bot.store.model, [asked]).values()
    assert float(stored @ bot.embed([asked])[0]) > 0.999
    replica = KnowledgeBot(settings)
    replica.prior.refresh()
    assert list(dict.fromkeys(h.chunk.source for h in replica.retrieve(similar))) == after

    # with the signal turned off, ranking ignores the votes
    off = KnowledgeBot(settings.model_copy(update={"feedback_ranking": False}))
    assert list(dict.fromkeys(h.chunk.source for h in off.retrieve(similar))) == before


# ------------------------------------------------------------------------------ replicas
def test_two_replicas_answer_a_slack_event_and_its_retry_once(
    request: pytest.FixtureRequest, postgres: str, tmp_path: Path
) -> None:
    """Two `kb serve` apps (uvicorn on two ports, each with its own bot and Slack listeners)
    over one `chroma run` server and one PostgreSQL: Slack delivers an event to one, and its
    retry to the other while the first is still answering."""
    chroma = request.getfixturevalue("chroma_server")
    database = create_database(postgres, f"kb_replicas_{next(_databases)}")
    with FakeSlack() as fake:
        replicas = [
            make_settings(
                tmp_path / name,
                chroma_url=chroma,
                database_url=database,
                slack_bot_token=SecretStr("xoxb-fake"),
                slack_signing_secret=SecretStr(SECRET),
                slack_api_url=fake.base_url,
            )
            for name in ("a", "b")
        ]
        assert KnowledgeBot(replicas[0]).ensure_index() is True  # one ingest, seen by both
        with running(create_app(replicas[0])) as first, running(create_app(replicas[1])) as second:
            ts = "1700009000.000100"
            event = {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@{BOT_USER_ID}> What is an IT strategy?",
                "ts": ts,
                "channel": "C900",
                "event_ts": ts,
            }
            body = json.dumps(
                {
                    "token": "legacy",
                    "team_id": "T1",
                    "api_app_id": "AAPP",
                    "event": event,
                    "type": "event_callback",
                    "event_id": "Ev0REPLICA1",
                    "event_time": int(time.time()),
                    "authorizations": [{"team_id": "T1", "user_id": BOT_USER_ID, "is_bot": True}],
                }
            )
            retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            with httpx.Client(timeout=10) as http:
                for base, extra in ((first, {}), (second, retry), (first, retry)):
                    headers = {**signed_headers(SECRET, body), **extra}
                    response = http.post(f"{base}/slack/events", content=body, headers=headers)
                    assert response.status_code == 200
            fake.wait_for("chat.update", 1, timeout=30)
            with pytest.raises(TimeoutError):  # no second answer arrives later either
                fake.wait_for("chat.postMessage", 2, timeout=1.5)
            (posted,) = [c.params for c in fake.calls_to("chat.postMessage")]
            assert posted["channel"] == "C900" and posted["thread_ts"] == ts
            (update,) = [c.params for c in fake.calls_to("chat.update")]
            assert "Sources" in json.dumps(update["blocks"])


def test_with_the_state_database_down_slack_still_answers_once_per_delivery(
    indexed_settings: Settings, tmp_path: Path
) -> None:
    """PostgreSQL unreachable (nothing listens on its port): the app starts, a mention is
    answered with sources, and the ranking runs without votes instead of failing."""
    down = f"postgresql://kb@127.0.0.1:{free_port()}/kb"
    with FakeSlack() as fake:
        settings = indexed_settings.model_copy(
            update={
                "database_url": down,
                "slack_bot_token": SecretStr("xoxb-fake"),
                "slack_signing_secret": SecretStr(SECRET),
                "slack_api_url": fake.base_url,
            }
        )
        bot = KnowledgeBot(settings)
        bot.prior.refresh()  # fails quietly: no votes
        assert bot.retrieve("What is an IT strategy?")
        with running(create_app(settings, bot)) as base:
            ts = "1700009100.000100"
            event = {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@{BOT_USER_ID}> What is an IT strategy?",
                "ts": ts,
                "channel": "C901",
                "event_ts": ts,
            }
            body = json.dumps(
                {
                    "team_id": "T1",
                    "api_app_id": "AAPP",
                    "event": event,
                    "type": "event_callback",
                    "event_id": "Ev0DOWN1",
                    "event_time": int(time.time()),
                    "authorizations": [{"team_id": "T1", "user_id": BOT_USER_ID, "is_bot": True}],
                }
            )
            with httpx.Client(timeout=10) as http:
                response = http.post(
                    f"{base}/slack/events", content=body, headers=signed_headers(SECRET, body)
                )
            assert response.status_code == 200
            (update,) = fake.wait_for("chat.update", 1, timeout=30)
            assert "Sources" in json.dumps(update.params["blocks"])
