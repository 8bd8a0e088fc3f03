"""The offline embedder: verified files, sentence-transformers' pipeline, agreement with the reference model."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import SecretStr

from bench.memory_reference import DEFAULT_REF_PYTHON, SAMPLE, reference_vectors
from memory.config import MemorySettings
from memory.embeddings import (
    MINILM_DIMENSION,
    EmbeddingUnavailable,
    MiniLMOnnxEmbedder,
    OpenAICompatibleEmbedder,
    default_model_path,
    default_tokenizer_path,
    embedder_from_settings,
)
from tests.unit.test_memory_world import embedder


def test_vectors_are_normalised_deterministic_and_meaningful() -> None:
    texts = [
        "Can you match the discount the other vendor offered?",
        "They asked for a lower price to beat the competitor's offer.",
        "Our data center migration finishes in March.",
    ]
    a = embedder().embed(texts)
    b = embedder().embed(list(reversed(texts)))[::-1]
    assert a.shape == (3, MINILM_DIMENSION)
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)  # batch order and padding do not change a text's vector
    similar, unrelated = float(a[0] @ a[1]), float(a[0] @ a[2])
    assert similar > unrelated + 0.3


def test_long_text_is_truncated_not_rejected() -> None:
    long = "pricing discussion " * 600
    vector = embedder().embed([long, ""])
    assert np.isfinite(vector).all()
    assert embedder().count_tokens(long) == 256


def test_a_file_that_is_not_the_pinned_release_is_refused(tmp_path: Path) -> None:
    tokenizer = tmp_path / "tokenizer.json"
    shutil.copy(default_tokenizer_path(), tokenizer)
    with tokenizer.open("a") as handle:
        handle.write(" ")
    tampered = MiniLMOnnxEmbedder(model_path=default_model_path(), tokenizer_path=tokenizer)
    with pytest.raises(EmbeddingUnavailable, match="sha256"):
        tampered.embed(["hello"])
    missing = MiniLMOnnxEmbedder(model_path=tmp_path / "nope.onnx")
    with pytest.raises(EmbeddingUnavailable, match="not found"):
        missing.embed(["hello"])


@pytest.mark.skipif(
    not DEFAULT_REF_PYTHON.exists(), reason="reference environment .venv-ref absent (see README, Memory)"
)
def test_vectors_agree_with_the_reference_sentence_transformers_model() -> None:
    reference = reference_vectors(SAMPLE)
    assert reference is not None
    cosines = (embedder().embed(SAMPLE) * reference).sum(axis=1)
    assert cosines.min() > 0.98, cosines.round(4).tolist()


class _FakeEmbeddingsAPI(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"model exploded")
            return
        # Unnormalised, reversed order: the client must sort by index and normalise.
        data = [{"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(body["input"])][::-1]
        payload = json.dumps({"data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeEmbeddingsAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeEmbeddingsAPI.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_compatible_backend_by_configuration(fake_api: str) -> None:
    settings = MemorySettings(
        embeddings="openai:text-embedding-3-small", embeddings_base_url=fake_api, embeddings_api_key=SecretStr("sk-x")
    )
    chosen = embedder_from_settings(settings)
    assert isinstance(chosen, OpenAICompatibleEmbedder)
    vectors = chosen.embed(["ab", "abcd"])
    assert chosen.dimension == 3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors[0][0] < vectors[1][0]  # order restored from "index"
    call = _FakeEmbeddingsAPI.seen[0]
    assert call["path"] == "/v1/embeddings"
    assert call["auth"] == "Bearer sk-x"
    assert call["body"] == {"model": "text-embedding-3-small", "input": ["ab", "abcd"]}
    assert chosen.model_id == "openai-text-embedding-3-small"


def test_backend_errors_say_what_is_wrong(fake_api: str) -> None:
    with pytest.raises(EmbeddingUnavailable, match="answered 500"):
        OpenAICompatibleEmbedder("broken", base_url=fake_api).embed(["x"])
    with pytest.raises(EmbeddingUnavailable, match="unknown embedding backend"):
        embedder_from_settings(MemorySettings(embeddings="word2vec"))
    with pytest.raises(EmbeddingUnavailable, match="needs a model name"):
        embedder_from_settings(MemorySettings(embeddings="openai:"))
    assert isinstance(embedder_from_settings(MemorySettings()), MiniLMOnnxEmbedder)
