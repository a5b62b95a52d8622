"""The `kb` command line: thin commands over the same pipeline the HTTP and Slack doors use."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.runtime.settings import Settings

app = typer.Typer(
    help="kb: answers questions from the knowledge base (offline by default).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
err = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    """kb: answers questions from the knowledge base (offline by default)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def run_ingest(
    settings: Settings, paths: list[Path] | None, rebuild: bool, quiet: bool = False
) -> Any:
    """Ingest with a progress bar; returns the IngestReport."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

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
        task = progress.add_task("embedding chunks", total=None)

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return ingest(paths, settings, store, rebuild=rebuild, progress=on_progress)


@app.command("ingest")
def ingest_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the corpus).")
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="Drop the index and start over.")] = False,
) -> None:
    """Load, clean, chunk and embed documents into Chroma (incrementally)."""
    from bot.runtime.store import IndexMismatchError, StoreUnavailableError
    from ingest.index import IngestError

    settings = _settings()
    try:
        report = run_ingest(settings, paths, rebuild)
    except (IngestError, IndexMismatchError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    for problem in report.problems:
        style = "red" if problem.fatal else "yellow"
        err.print(f"[{style}]skipped[/] {problem.path}: {problem.reason}" if problem.fatal
                  else f"[{style}]warning[/] {problem.path}: {problem.reason}")  # fmt: skip
    table = Table(title="Ingest", show_header=True)
    for column in (
        "files",
        "chunks",
        "added",
        "updated",
        "deleted",
        "unchanged",
        "embedded",
        "seconds",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        *(str(getattr(report, c)) for c in ("files", "chunks", "added", "updated", "deleted", "unchanged", "embedded")),
        f"{report.seconds:.2f}",
    )  # fmt: skip
    console.print(table)
    if not report.ok:
        reason = "a given path does not exist" if report.missing_paths else "nothing was ingested"
        raise _fail(reason)


def index_status(settings: Settings) -> dict[str, Any]:
    """Where the index lives and what it holds."""
    from bot.runtime.embeddings import make_embeddings
    from bot.runtime.store import open_store, paged_get

    store = open_store(settings, make_embeddings(settings))
    coll = store.collection()
    sources: dict[str, int] = {}
    if coll is not None:
        got = paged_get(coll, include=["metadatas"], page=settings.read_page_size)
        for meta in got["metadatas"]:
            sources[str(meta.get("source"))] = sources.get(str(meta.get("source")), 0) + 1
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
    }  # fmt: skip


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
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
    sources = Table("source", "chunks", title="Documents")
    for source, count in sorted(info["sources"].items()):
        sources.add_row(source, str(count))
    console.print(sources)


def _load_bot(settings: Settings, quiet: bool) -> Any:
    """A loaded bot; ingests the bundled corpus first when the index is empty."""
    from bot.answer import KnowledgeBot

    bot = KnowledgeBot(settings)
    coll = bot.store.collection()
    if coll is None or coll.count() == 0:
        if not quiet:
            err.print("[dim]No index yet: ingesting the bundled corpus first…[/]")
        report = run_ingest(settings, None, rebuild=False, quiet=quiet)
        if not report.ok:
            raise _fail("could not build the index; run `kb ingest` to see why")
    bot.load()
    return bot


def print_answer(result: Any) -> None:
    """Render an Answer with rich: text, label badge, numbered sources."""
    from rich.markup import escape
    from rich.panel import Panel

    title = "Not in the knowledge base" if result.abstained else "Answer"
    if result.degraded:
        title += " (offline fallback: the LLM failed)"
    console.print(Panel(escape(result.answer), title=title, title_align="left"))
    if result.classification:
        c = result.classification
        name = {"it": "IT", "digital": "Digital", "both": "Both (IT + digital)"}[c.label]
        console.print(f"[bold]Label:[/] {name}  [dim]confidence {c.confidence:.0%}[/]")
    if result.citations:
        heading = "Nearest material" if result.abstained else "Sources"
        console.print(f"[bold]{heading}[/]")
        for cit in result.citations:
            section = f" › {cit.section}" if cit.section else ""
            console.print(
                f" [{cit.n}] [bold]{escape(cit.title)}[/]{escape(section)} [dim]({cit.source})[/]"
            )
            console.print(f"     [italic]“{escape(cit.quote[:240])}”[/]")
    console.print(f"[dim]{result.backend} backend · {result.latency_ms:.0f} ms[/]")


def _answer_or_fail(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from bot.answer import QuestionError
    from bot.runtime.store import IndexMismatchError, StoreUnavailableError

    try:
        return fn(*args, **kwargs)
    except (QuestionError, IndexMismatchError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer JSON.")] = False,
    llm: Annotated[
        str | None, typer.Option(help="Answer backend: local or openai (default: from settings).")
    ] = None,
) -> None:
    """Answer a question from the knowledge base, with numbered sources."""
    _respond("answer", question, as_json, llm)


@app.command()
def classify(
    initiative: Annotated[str, typer.Argument(help="The initiative to classify.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer JSON.")] = False,
    llm: Annotated[str | None, typer.Option(help="local or openai.")] = None,
) -> None:
    """Is this an IT initiative, a digital initiative, or both?"""
    _respond("classify", initiative, as_json, llm)


def _respond(method: str, text: str, as_json: bool, llm: str | None) -> None:
    """Run `bot.answer` or `bot.classify` and print the result (JSON or rich)."""
    if llm not in (None, "local", "openai"):
        raise _fail("--llm must be 'local' or 'openai'", code=2)
    from bot.answer import KnowledgeBot

    settings = _settings()
    _answer_or_fail(KnowledgeBot(settings).validate, text)  # bad input fails before any loading
    bot = _answer_or_fail(_load_bot, settings, quiet=as_json)
    result = _answer_or_fail(getattr(bot, method), text, llm=llm)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print_answer(result)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API, the OpenAI-compatible endpoint and (with Slack tokens) Slack events."""
    from bot.doors.http import serve as run

    run(_settings(), host, port)


@app.command("slack")
def slack_command() -> None:
    """Run the Slack bot over Socket Mode (needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN)."""
    from bot.answer import KnowledgeBot
    from bot.doors.slack_app import SlackConfigError, run_socket_mode

    logging.getLogger("bot.doors").setLevel(logging.INFO)
    settings = _settings()
    try:
        run_socket_mode(settings, KnowledgeBot(settings))
    except SlackConfigError as exc:
        raise _fail(str(exc)) from None


@app.command("feedback")
def feedback_command(
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "json",
    as_eval: Annotated[
        bool, typer.Option("--as-eval", help="Print 👎 votes as candidate eval cases (JSONL).")
    ] = False,
) -> None:
    """Export the 👍/👎 feedback collected in Slack."""
    from bot.doors.feedback import export_feedback
    from bot.runtime.settings import PACKAGE_ROOT

    if fmt not in ("csv", "json"):
        raise _fail("--format must be csv or json", code=2)
    settings = _settings()
    sys.stdout.write(
        export_feedback(
            settings.feedback_path,
            fmt,  # type: ignore[arg-type]
            as_eval=as_eval,
            datasets_dir=PACKAGE_ROOT / "evals" / "datasets",
        )
    )


def _register_eval() -> None:
    # Typer reads the options from eval_command's own annotations, so this one line is the
    # whole wiring; the import stays at module level only for `kb eval`'s help text.
    from evals.runner import eval_command

    app.command("eval", help="Run the offline evaluation and gate on evals/thresholds.toml.")(
        eval_command
    )


_register_eval()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
