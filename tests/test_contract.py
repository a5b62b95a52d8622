"""The OpenAPI document matches what the server does: a bounded schemathesis run with every
check (schema-valid requests accepted, schema-invalid ones refused, every documented status and
body shape, auth) against a real uvicorn server with authentication on.

Bounded: a few examples per operation and a fixed seed, so it takes well under a minute. For a
deeper probe run the same command by hand with a larger `--max-examples` (see README).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.doors.http import create_app
from bot.doors.http_middleware import kb_http_protocol
from bot.runtime.settings import Settings
from tests.live_server import running

KEY = "contract-test-key-93b1"


@pytest.fixture(scope="module")
def url(indexed_settings: Settings, kb: KnowledgeBot) -> Iterator[str]:
    settings = indexed_settings.model_copy(update={"api_key": SecretStr(KEY)})
    with running(create_app(settings, kb), http=kb_http_protocol()) as base:
        yield base


def test_schemathesis_with_all_checks_finds_nothing(url: str, tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "schemathesis"
    done = subprocess.run(
        [
            str(cli),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {KEY}",
            "--checks",
            "all",
            "--max-examples",
            "5",
            "--seed",
            "20261124",
            "--workers",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout


def test_the_schema_refuses_what_the_server_refuses(url: str) -> None:
    """The three inputs that once passed the schema and then failed with 422."""
    auth = {"Authorization": f"Bearer {KEY}"}
    schema = httpx.get(f"{url}/openapi.json", headers=auth, timeout=30).json()
    models = schema["components"]["schemas"]
    assert models["AskRequest"]["properties"]["question"]["pattern"]
    assert models["AskRequest"]["properties"]["question"]["maxLength"] == 2000
    assert models["ClassifyRequest"]["properties"]["initiative"]["pattern"]
    assert "contains" in models["ChatCompletionRequest"]["properties"]["messages"]
    for path in ("/ask", "/classify", "/v1/chat/completions", "/v1/models"):
        operation = next(iter(schema["paths"][path].values()))
        assert {"401", "422"} <= set(operation["responses"]) or path == "/v1/models"
        assert "401" in operation["responses"]
    for path, body in (
        ("/ask", {"question": ""}),
        ("/classify", {"initiative": ""}),
        ("/v1/chat/completions", {"messages": [{"role": "system", "content": "hi"}]}),
    ):
        response = httpx.post(f"{url}{path}", json=body, headers=auth, timeout=30)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "empty_question"
