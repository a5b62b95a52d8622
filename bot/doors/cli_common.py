"""What every `kb` command shares: the Typer app, the consoles, plain flags and failing with one
clear line."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from bot.runtime.settings import Settings

app = typer.Typer(
    help="kb: answers questions from the knowledge base (offline by default).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
err = Console(stderr=True)


def flag(*names: str, help: str) -> Any:
    """A boolean option shown as a plain flag: typer's help would print `<bool>` after it,
    which reads as if it took a value (`kb ask --json true …` then fails)."""
    return typer.Option(*names, help=help, metavar="")


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
