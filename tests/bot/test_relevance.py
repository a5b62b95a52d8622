"""Abstention checks that the evidence answers the ask, not only that it shares the topic:
over a small reference corpus written here (a file-based database that compares itself with
server databases and spreadsheets), questions that only share words with it are declined,
its own questions are answered, and a company document added later brings its questions into
scope. Real embedder, real embedded Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from ingest.index import ingest
from tests.conftest import make_settings

REFERENCE = {
    "storage.md": """# How Quillbase stores data

Quillbase keeps a whole database in one ordinary file on disk. There is no server process to
install, start or configure: the application opens the file directly. Client/server engines
such as PostgreSQL or MySQL run a separate server that applications reach over the network,
which suits many concurrent writers; Quillbase suits an application that owns its data.

## Journal

Every change is first written to a journal file next to the database. If the computer loses
power during a write, the journal lets Quillbase roll the database back to its last complete
state when it is opened again. The journal is deleted once the change is committed.

## Spreadsheets

People often keep records in a spreadsheet such as Excel before they move to a database.
Quillbase can import a CSV file exported from a spreadsheet with the import command, one
table per file, taking the column names from the first line.
""",
    "servers.md": """# Quillbase compared with server databases

PostgreSQL and MySQL are client/server database engines. A PostgreSQL server runs as a process
of its own, manages users and roles, and accepts connections from clients over the network.
A MySQL server likewise authenticates every user who connects to it. Both suit a company
where many users on different machines write to the same database at the same time.

Quillbase has no users, no network listener and no server settings: whoever can open the
database file can read it. Choose PostgreSQL or MySQL for many concurrent writers on a
network; choose Quillbase for one application, a device or a desktop program.

## Spreadsheets compared

An Excel workbook is fine for a small table that one person edits by hand. Once several
tables refer to each other, or the data has to be checked on every change, a database with
column types and constraints keeps it consistent where a spreadsheet cannot.
""",
    "limits.md": """# Limits of Quillbase

A Quillbase database file can grow to 140 terabytes. A single row may hold up to one
gigabyte. A table can have at most 2,000 columns, and a query can join at most 64 tables.
These limits exist so that the engine can be tested at its edges: every limit is exercised
by the test suite before a release.

## Concurrency

Many readers may read the database at the same time, but only one writer can change it at
any moment. A second writer waits until the first one commits or rolls back.
""",
}

COMPANY_DOC = """# Warehouse scanner rollout

Project charter, approved in March.

## People

The sponsor of the warehouse scanner rollout is Ingrid Halvorsen, head of logistics.
The project lead is Tomasz Brandt.

## Scope

Every picker in the two warehouses gets a handheld barcode scanner that books stock
movements straight into the inventory system. The rollout starts in the northern warehouse.
"""

OFF_TOPIC = [
    "How do I configure replication in PostgreSQL?",  # names a server engine the docs mention
    "What is the default port of a MySQL server?",
    "How do I make a pivot table in Excel?",  # the docs mention Excel and tables
    "What is the company's VPN password?",
]
IN_SCOPE = [
    ("Is there a server process to configure for Quillbase?", "no server process"),
    ("How large can a Quillbase database file get?", "140 terabytes"),
    ("What happens if the power fails during a write?", "journal"),
    ("Can two writers change the database at the same time?", "one writer"),
]
COMPANY_QUESTION = ("Who sponsors our warehouse scanner rollout?", "Ingrid Halvorsen")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBot:
    """A bot over the reference documents alone."""
    corpus = tmp_path_factory.mktemp("reference")
    for name, text in REFERENCE.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = make_settings(tmp_path_factory.mktemp("data"), corpus_dir=corpus)
    bot = KnowledgeBot(settings)
    bot.ensure_index()
    return bot


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_a_question_sharing_only_words_with_the_documents_is_declined(
    reference: KnowledgeBot, question: str
) -> None:
    answer = reference.answer(question)
    assert answer.abstained, answer.answer


@pytest.mark.parametrize(("question", "fact"), IN_SCOPE)
def test_questions_the_documents_answer_are_answered(
    reference: KnowledgeBot, question: str, fact: str
) -> None:
    answer = reference.answer(question)
    assert not answer.abstained, answer.answer
    assert fact in answer.answer.lower()


def test_a_company_question_comes_into_scope_once_its_document_is_ingested(
    reference: KnowledgeBot, tmp_path: Path
) -> None:
    bot = reference
    question, fact = COMPANY_QUESTION
    assert bot.answer(question).abstained
    (tmp_path / "scanner-rollout.md").write_text(COMPANY_DOC, encoding="utf-8")
    ingest([tmp_path / "scanner-rollout.md"], bot.settings, bot.store)
    answer = KnowledgeBot(bot.settings).answer(question)
    assert not answer.abstained, answer.answer
    assert fact in answer.answer
    # the reference questions keep their answers, the off-topic ones stay declined
    assert not KnowledgeBot(bot.settings).answer(IN_SCOPE[1][0]).abstained
    assert KnowledgeBot(bot.settings).answer(OFF_TOPIC[0]).abstained
