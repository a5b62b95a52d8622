"""The README stays true: its configuration table and its test command are checked."""

from __future__ import annotations

import re

from bot.runtime.settings import PACKAGE_ROOT, config_table

README = (PACKAGE_ROOT / "README.md").read_text(encoding="utf-8")


def test_configuration_table_matches_the_settings_object() -> None:
    table = README.split("<!-- config:start -->\n", 1)[1].split("\n<!-- config:end -->", 1)[0]
    assert table == config_table(), (
        "regenerate with: python -c 'from bot.runtime.settings import config_table; print(config_table())'"
    )


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = re.findall(r"```bash\n\s*(python3 -m venv [^\n]+)\n", README)
    assert len(commands) == 2, "the README gives exactly two set-up commands"
    ci = (PACKAGE_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1].strip() in ci.splitlines()
    assert "pytest" in commands[1] and "kb ask" in commands[0]
