"""The one settings object: environment variables (`KB_` prefix, plus the standard OpenAI and
Slack names) and an optional `.env` file. Defaults give the embedded, offline mode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_CORPUS = PACKAGE_ROOT / "corpus"


class Settings(BaseSettings):
    """Every option of kb. The README's configuration table is generated from these fields."""

    model_config = SettingsConfigDict(
        env_prefix="KB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -----------------------------------------------------------------------------
    data_dir: Path = Field(
        Path(".kb"), description="Directory for the embedded Chroma index, locks and feedback."
    )
    corpus_dir: Path = Field(
        BUNDLED_CORPUS, description="Corpus ingested by default (and on first use of `kb ask`)."
    )
    chroma_url: str | None = Field(
        None, description="Chroma server URL (e.g. http://127.0.0.1:8000); unset = embedded."
    )
    chroma_host: str | None = Field(None, description="Chroma server host (alternative to URL).")
    chroma_port: int = Field(8000, description="Chroma server port, with `KB_CHROMA_HOST`.")
    collection: str = Field("kb_corpus", min_length=3, description="Chroma collection name.")
    chroma_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds before a call to a Chroma server times out, so a frozen server "
        "fails a request instead of hanging it (generous: ingest sends large batches).",
    )
    read_page_size: int = Field(
        5000,
        ge=1,
        le=30_000,
        description="Records per Chroma read: every full read is paged (Chroma's SQLite "
        "refuses more than ~32k variables in one statement).",
    )
    exact_search_chunks: int = Field(
        2048,
        ge=0,
        le=20_000,
        description="Up to this many chunks, a question's dense search is one matrix product "
        "in memory (~0.03 ms) instead of a query to Chroma's index (~0.9 ms); 0: always Chroma.",
    )

    # --- embeddings --------------------------------------------------------------------------
    embedder: Literal["onnx", "sentence-transformers", "openai"] = Field(
        "onnx",
        description="Embedding backend: bundled int8 ONNX MiniLM (default, torch-free), "
        "sentence-transformers (extra `[torch]`), or OpenAI.",
    )
    st_model: str | None = Field(
        None,
        description="Local sentence-transformers folder; default: the packaged fp32 MiniLM.",
    )
    openai_embedding_model: str = Field(
        "text-embedding-3-small", description="OpenAI embedding model, with `KB_EMBEDDER=openai`."
    )

    # --- ingestion ---------------------------------------------------------------------------
    chunk_tokens: int = Field(256, ge=32, le=2048, description="Target chunk size in tokens.")
    chunk_overlap: int = Field(32, ge=0, le=512, description="Token overlap between chunks.")
    tokenizer_encoding: str = Field(
        "cl100k_base", description="tiktoken encoding used to size chunks."
    )
    max_file_bytes: int = Field(
        10_000_000, ge=1, description="Files larger than this are skipped at ingest."
    )

    # --- answering ---------------------------------------------------------------------------
    llm: Literal["auto", "local", "openai"] = Field(
        "auto",
        description="Answer backend. `auto` = OpenAI when a key or base URL is set, else local.",
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "KB_OPENAI_API_KEY"),
        description="OpenAI API key; setting it selects the OpenAI backend (with `auto`).",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "KB_OPENAI_BASE_URL"),
        description="Any OpenAI-compatible server (llama.cpp, vLLM, Ollama…); selects OpenAI.",
    )
    openai_model: str = Field("gpt-4o-mini", description="Chat model for the OpenAI backend.")
    llm_timeout: float = Field(
        20.0, gt=0, description="Seconds one LLM call may take (never beyond the deadline)."
    )
    llm_max_retries: int = Field(
        2,
        ge=0,
        description="Retries on 429/5xx/connection errors, honouring `Retry-After`, only while "
        "the request's deadline allows.",
    )
    deadline_llm: float = Field(
        15.0,
        gt=0,
        description="Seconds a request answered by the LLM may take in all (Chroma, LLM calls, "
        "retries); when it runs out the local answer is returned, marked degraded.",
    )
    deadline_local: float = Field(
        5.0,
        gt=0,
        description="Seconds a request answered locally may take (Chroma calls included).",
    )
    llm_max_tokens: int = Field(512, ge=16, description="Maximum tokens in an LLM answer.")
    context_tokens: int = Field(
        2500, ge=200, description="Token budget for retrieved context sent to the LLM."
    )
    top_k: int = Field(6, ge=1, le=50, description="Chunks retrieved per question.")
    max_question_chars: int = Field(
        2000, ge=10, description="Longest question accepted (characters)."
    )

    # --- HTTP --------------------------------------------------------------------------------
    api_key: SecretStr | None = Field(
        None, description="When set, the HTTP API requires `Authorization: Bearer <key>`."
    )
    max_body_bytes: int = Field(64_000, ge=1024, description="Largest HTTP request body.")
    http_workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Questions the HTTP API answers at once (default with the local backend, "
        "which is CPU-bound: cores + 1, or 2 × cores + 1 with a Chroma server; 32 with an LLM, "
        "whose answers wait on the network).",
    )
    deadline_llm: float = Field(
        15.0,
        gt=0,
        description="Seconds an HTTP request may take with the LLM backend; past it the work "
        "is cancelled and the local answer returned (`degraded`).",
    )
    deadline_local: float = Field(
        5.0,
        gt=0,
        description="Seconds an HTTP request may take with the local backend (and the local "
        "fallback after an LLM deadline); past it, `503 deadline_exceeded`.",
    )

    # --- Slack -------------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "KB_SLACK_BOT_TOKEN"),
        description="Slack bot token (`xoxb-…`); with the signing secret, mounts Slack in `kb serve`.",
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "KB_SLACK_SIGNING_SECRET"),
        description="Slack signing secret: every Slack request's signature is verified with it.",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "KB_SLACK_APP_TOKEN"),
        description="Slack app-level token (`xapp-…`) for Socket Mode (`kb slack`).",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (tests, proxies)."
    )
    slack_channels: Path | None = Field(
        None,
        description="TOML file of per-channel behaviour: `mention` (default), `auto` or "
        "`ignore`, private answers, a reaction when `auto` stays silent (README, Connect to Slack).",
    )
    slack_private_answers: bool = Field(
        False,
        description="Answer in channels privately (only visible to the asker, with a "
        '"Share in channel" button) unless the channel file says otherwise.',
    )
    slack_rate_limit: int = Field(
        10, ge=0, description="Questions per user per minute in Slack (0 = no limit)."
    )
    slack_stream: bool = Field(
        True,
        description="Stream LLM answers with chat.startStream/appendStream/stopStream where the "
        "workspace supports them (else a placeholder replaced by the answer).",
    )
    slack_max_body_bytes: int = Field(
        2_000_000,
        ge=64_000,
        description="Largest Slack request body on /slack/events (a 40,000-character message "
        "of emoji is ~0.5 MB of JSON); larger ones are refused with a logged warning.",
    )
    database_url: str | None = Field(
        None,
        description="State database shared by replicas (Slack retry de-duplication, feedback, "
        "document registry): a SQLAlchemy URL such as `postgresql://user:pw@host/kb` (psycopg 3); "
        "default SQLite `<data_dir>/kb.sqlite3`.",
    )
    feedback_db: Path | None = Field(
        None,
        description="Deprecated, use `KB_DATABASE_URL`: a SQLite file for Slack's votes and "
        "retry claims, used only when `KB_DATABASE_URL` is unset.",
    )
    feedback_ranking: bool = Field(
        True,
        description="Demote documents voted 👎 for similar past questions (bounded; "
        "`false` ranks without votes).",
    )

    @field_validator("chroma_url")
    @classmethod
    def _strip_url(cls, value: str | None) -> str | None:
        return value.strip().rstrip("/") or None if value else None

    @property
    def chroma_server(self) -> tuple[str, int, bool] | None:
        """(host, port, ssl) of a configured Chroma server, or None for embedded mode."""
        if self.chroma_url:
            from urllib.parse import urlparse

            parsed = urlparse(self.chroma_url)
            ssl = parsed.scheme == "https"
            return parsed.hostname or "localhost", parsed.port or (443 if ssl else 8000), ssl
        if self.chroma_host:
            return self.chroma_host, self.chroma_port, False
        return None

    @property
    def chroma_dir(self) -> Path:
        """Where the embedded Chroma index lives."""
        return self.data_dir / "chroma"

    @property
    def database(self) -> str:
        """The state database URL (SQLite in the data dir unless `KB_DATABASE_URL` is set)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'kb.sqlite3').resolve()}"

    @property
    def feedback_path(self) -> Path:
        """The feedback SQLite file."""
        return self.feedback_db or self.data_dir / "feedback.sqlite3"

    @property
    def llm_missing(self) -> str | None:
        """Why the OpenAI backend cannot be used (None when a key or base URL is set)."""
        if self.openai_api_key or self.openai_base_url:
            return None
        return "no LLM is configured: set OPENAI_API_KEY or OPENAI_BASE_URL"

    @property
    def workers(self) -> int:
        """Concurrent pipeline calls of the HTTP API (see `http_workers`). The local backend
        is CPU-bound, so more threads only contend for the cores; with a Chroma server part of
        each request waits on it. Measured at 31 chunks, concurrency 8, on 2 cores: embedded,
        2-3 workers served 95 requests/s, 4 served 86 and 8 served 80; with `chroma run`, 3
        served 60, 5 served 90 and 8 served 84."""
        if self.http_workers:
            return self.http_workers
        if self.llm_backend != "local":
            return 32
        cores = os.cpu_count() or 1
        return 2 * cores + 1 if self.chroma_server else cores + 1

    @property
    def llm_backend(self) -> Literal["local", "openai"]:
        """The answer backend after resolving `auto`."""
        if self.llm != "auto":
            return self.llm
        return "openai" if (self.openai_api_key or self.openai_base_url) else "local"


def config_table() -> str:
    """The README's configuration table, generated from the fields above."""
    rows = ["| variable | default | description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else f"KB_{name.upper()}"
        default = field.default
        if default == BUNDLED_CORPUS:
            shown = "the bundled `corpus/`"
        else:
            shown = "—" if default is None else f"`{default}`"
        rows.append(f"| `{env}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)
