"""The `kb` command line: thin commands over the same pipeline the HTTP and Slack doors use."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from bot.doors import cli_index  # noqa: F401  (registers ingest, remove and status)
from bot.doors.cli_common import _fail, _settings, app, console, err, flag
from bot.doors.cli_index import run_ingest
from bot.runtime.settings import BUNDLED_CORPUS, Settings


@app.callback()
def main(
    verbose: Annotated[bool, flag("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    """kb: answers questions from the knowledge base (offline by default)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _load_bot(settings: Settings, quiet: bool) -> Any:
    """A loaded bot; ingests the bundled corpus first when the index is empty."""
    from bot.answer import KnowledgeBot

    bot = KnowledgeBot(settings)
    coll = bot.store.collection()
    if coll is None or coll.count() == 0:
        corpus = settings.corpus_dir
        what = "the bundled corpus" if corpus == BUNDLED_CORPUS else escape(str(corpus))
        if not quiet:
            err.print(f"[dim]No index yet: ingesting {what} first…[/]")
        report = run_ingest(settings, None, rebuild=False, quiet=quiet)
        if not report.ok:
            raise _fail(f"could not build the index: {_why_not_ingested(report, str(corpus))}")
    bot.load()
    return bot


def _why_not_ingested(report: Any, corpus: str) -> str:
    """One line saying why an ingest of the corpus folder left nothing to answer from."""
    if report.missing_paths:
        return f"the corpus folder {corpus} does not exist (set KB_CORPUS_DIR)"
    skipped = ", ".join(f"{n} {kind}" for kind, n in report.skipped.items())
    if skipped:
        return f"no file in {corpus} could be read ({skipped}); `kb ingest` lists each one"
    return f"{corpus} holds no documents (set KB_CORPUS_DIR, or add files and run `kb ingest`)"


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary (never mid-word) with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def print_answer(result: Any) -> None:
    """Render an Answer with rich: text, label badge, numbered sources."""
    from rich.panel import Panel

    from bot.runtime.render import as_rich_markup

    title = "Not in the knowledge base" if result.abstained else "Answer"
    if result.degraded:
        title += " (offline fallback: the LLM failed)"
    body = as_rich_markup(escape(result.answer))
    console.print(Panel(body, title=title, title_align="left"))
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
            console.print(f"     [italic]“{escape(_shorten(cit.quote, 240))}”[/]")
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
    as_json: Annotated[bool, flag("--json", help="Print the Answer JSON.")] = False,
    llm: Annotated[
        str | None, typer.Option(help="Answer backend: local or openai (default: from settings).")
    ] = None,
) -> None:
    """Answer a question from the knowledge base, with numbered sources."""
    _respond("answer", question, as_json, llm)


@app.command()
def classify(
    initiative: Annotated[str, typer.Argument(help="The initiative to classify.")],
    as_json: Annotated[bool, flag("--json", help="Print the Answer JSON.")] = False,
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
    if (llm or settings.llm_backend) == "openai" and settings.llm_missing:
        raise _fail(settings.llm_missing)  # at once, not after minutes of retries
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
        bool, flag("--as-eval", help="Print 👎 votes as candidate eval cases (JSONL).")
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
            settings,
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
