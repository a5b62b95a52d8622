"""The `kb` commands that build and inspect the index: ingest, remove and status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bot.doors.cli_common import _fail, _settings, app, console, err, flag
from bot.runtime.settings import Settings


def run_ingest(
    settings: Settings, paths: list[Path] | None, rebuild: bool, quiet: bool = False
) -> Any:
    """Ingest with a progress bar; returns the IngestReport."""

    from bot.runtime.embeddings import make_embeddings
    from bot.runtime.store import open_store
    from ingest.index import ingest

    store = open_store(settings, make_embeddings(settings))
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    ) as progress:
        task = progress.add_task("reading files", total=None)
        stages = {"load": "reading files", "chunk": "chunking", "embed": "embedding chunks"}

        def on_progress(stage: str, done: int, total: int) -> None:
            description = stages.get(stage, stage)
            progress.update(task, completed=done, total=total, description=description)

        return ingest(paths, settings, store, rebuild=rebuild, progress=on_progress)


@app.command("ingest")
def ingest_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the corpus).")
    ] = None,
    rebuild: Annotated[bool, flag("--rebuild", help="Drop the index and start over.")] = False,
) -> None:
    """Load, clean, chunk and embed documents into Chroma (incrementally)."""
    from bot.runtime.store import IndexMismatchError, StoreUnavailableError
    from ingest.index import IngestError

    settings = _settings()
    try:
        report = run_ingest(settings, paths, rebuild)
    except (IngestError, IndexMismatchError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    for problem in report.problems:  # one line per file that was not ingested (or warned)
        if problem.fatal:
            err.print(f"[red]skipped[/] {escape(problem.path)}: {escape(problem.reason)}")
        else:
            err.print(f"[yellow]warning[/] {escape(problem.path)}: {escape(problem.reason)}")
    table = Table(title="Ingest", show_header=True)
    counts = ["files", "chunks", "added", "updated", "deleted", "unchanged", "embedded"]
    if report.repaired:
        counts.insert(6, "repaired")  # documents an interrupted run had left partial
    for column in (*counts, "seconds"):
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(report, c)) for c in counts), f"{report.seconds:.2f}")
    console.print(table)
    console.print(ingest_summary(report))
    if not report.ok:
        skipped = sum(report.skipped.values())
        nothing = f"nothing was ingested ({skipped} file(s) skipped, see above)"
        raise _fail("a given path does not exist" if report.missing_paths else nothing)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items())


def ingest_summary(report: Any) -> str:
    """One line: files ingested per format, files skipped per reason."""
    ingested = sum(report.formats.values())
    line = f"ingested {ingested} file{'s' if ingested != 1 else ''}"
    if report.formats:
        line += f" ({_counts(report.formats)})"
    skipped = report.skipped
    total = sum(skipped.values())
    line += f"; skipped {total}" + (f" ({_counts(skipped)})" if skipped else "")
    return line


@app.command("remove")
def remove_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to take out of the index.")],
) -> None:
    """Remove documents from the index on purpose (e.g. ones added with `kb ingest PATH`)."""
    from bot.runtime.embeddings import make_embeddings
    from bot.runtime.store import IndexMismatchError, StoreUnavailableError, open_store
    from ingest.index import IngestError, remove

    settings = _settings()
    try:
        removed = remove(paths, settings, open_store(settings, make_embeddings(settings)))
    except (IngestError, IndexMismatchError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    if not removed:
        raise _fail("not in the index: " + ", ".join(str(p) for p in paths))
    for source in removed:
        console.print(f"removed {source}")
    inside = [
        p for p in paths if p.exists() and p.resolve().is_relative_to(settings.corpus_dir.resolve())
    ]
    if inside:
        err.print("[yellow]note[/] still in the corpus folder: the next `kb ingest` adds it back")


def index_status(settings: Settings) -> dict[str, Any]:
    """Where the index lives and what it holds (read page by page)."""
    from bot.runtime.embeddings import make_embeddings
    from bot.runtime.store import open_store
    from ingest.status import documents_overview

    store = open_store(settings, make_embeddings(settings))
    coll = store.collection()
    docs = documents_overview(settings, store) if coll is not None else []
    sources = {d["source"]: d["chunks"] for d in docs}
    meta = (coll.metadata or {}) if coll is not None else {}
    return {
        "chroma": settings.chroma_url or (
            f"{settings.chroma_server[0]}:{settings.chroma_server[1]}" if settings.chroma_server
            else str(settings.chroma_dir.resolve())
        ),
        "collection": settings.collection,
        "exists": coll is not None,
        "embedding_model": meta.get("embedding_model", store.model),
        "documents": len(sources),
        "chunks": sum(sources.values()),
        "sources": sources,
        "titles": {d["source"]: d["title"] for d in docs},
        "document_list": docs,
    }  # fmt: skip


@app.command()
def status(
    as_json: Annotated[bool, flag("--json", help="Print JSON.")] = False,
) -> None:
    """Show the data directory or server, collection, embedding model, documents and chunks."""
    from bot.runtime.store import IndexMismatchError, StoreUnavailableError

    try:
        info = index_status(_settings())
    except (IndexMismatchError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(info, indent=2))
        return
    table = Table(show_header=False, title="kb status")
    for key in ("chroma", "collection", "embedding_model", "documents", "chunks"):
        table.add_row(key, str(info[key]))
    console.print(table)
    if not info["exists"]:
        console.print("No index yet: run [bold]kb ingest[/] (or just [bold]kb ask[/]).")
        return
    listing = Table("title", "source", "chunks", title="Documents")
    for doc in info["document_list"]:
        pinned = " [dim](added by path)[/]" if doc["added_by_path"] else ""
        listing.add_row(
            escape(doc["title"] or "—"), escape(doc["source"]) + pinned, str(doc["chunks"])
        )
    console.print(listing)
