"""The embedding port: the bundled ONNX model and the optional OpenAI embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.runtime.embeddings import EmbeddingModelError, OnnxMiniLM
from bot.runtime.store import IndexMismatchError
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI


def test_onnx_vectors_are_normalised_and_semantic() -> None:
    model = OnnxMiniLM()
    vectors = model.embed_array(
        [
            "IT strategy covers infrastructure and security",
            "the IT strategy is about infrastructure",
            "a recipe for lasagna",
        ]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.7 > vectors[0] @ vectors[2]
    # batching and padding do not change a text's vector
    assert np.allclose(model.embed_array(["a recipe for lasagna"])[0], vectors[2], atol=1e-5)


def test_a_tampered_model_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(EmbeddingModelError, match="sha256"):
        OnnxMiniLM(model_path=fake).embed_query("hello")


def test_openai_embeddings_index_and_answer_then_refuse_another_model(tmp_path: Path) -> None:
    with FakeOpenAI(embedding_dim=16) as fake:
        settings = make_settings(
            tmp_path / "data",
            embedder="openai",
            openai_base_url=fake.base_url,
            openai_api_key=SecretStr("test"),
            llm="local",
        )
        bot = KnowledgeBot(settings)
        assert bot.ensure_index()
        assert fake.embedding_requests, "chunks were embedded through the OpenAI API"
        assert fake.embedding_requests[0].json["model"] == "text-embedding-3-small"
        assert bot.ready()["embedding_model"] == "openai:text-embedding-3-small"
        answer = bot.answer("What is IT strategy?")
        assert answer.citations  # retrieval ran on the OpenAI vectors
    with pytest.raises(IndexMismatchError, match="rebuild"):
        KnowledgeBot(make_settings(tmp_path / "data")).answer("What is IT strategy?")
