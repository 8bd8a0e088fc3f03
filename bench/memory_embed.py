"""Embedding throughput of the offline MiniLM backend on this machine (sentences/s), by batch size.

python -m bench.memory_embed [--n 2000]
"""

from __future__ import annotations

import argparse
import os
import time

from bench.memory_common import write_result
from bench.memory_texts import make_texts


def main() -> None:
    parser = argparse.ArgumentParser(description="MiniLM ONNX embedding throughput")
    parser.add_argument("--n", type=int, default=2000, help="texts per measurement")
    args = parser.parse_args()
    from memory.chunking import chunk_interaction
    from memory.embeddings import MiniLMOnnxEmbedder

    texts = [c.text for _, subject, body in make_texts(args.n, seed=1) for c in chunk_interaction(subject, body)]
    texts = texts[: args.n]
    embedder = MiniLMOnnxEmbedder()
    t0 = time.perf_counter()
    embedder.embed(["warm up"])
    load_seconds = time.perf_counter() - t0
    tokens = [embedder.count_tokens(t) for t in texts[:500]]
    runs = {}
    for batch in (1, 16, 32, 64):
        embedder.batch_size = batch
        sample = texts if batch > 1 else texts[:300]
        t0 = time.perf_counter()
        embedder.embed(sample)
        seconds = time.perf_counter() - t0
        runs[f"batch_{batch}"] = {
            "texts": len(sample),
            "seconds": round(seconds, 2),
            "sentences_per_s": round(len(sample) / seconds, 1),
        }
    queries = ["what did they say about pricing?", "security review SOC 2", "competitor discount"] * 50
    t0 = time.perf_counter()
    for q in queries:
        embedder.embed([q])
    query_ms = (time.perf_counter() - t0) / len(queries) * 1000
    write_result(
        "memory_embed",
        {
            "benchmark": "memory_embed",
            "model": embedder.model_id,
            "cores": os.cpu_count(),
            "load_and_verify_seconds": round(load_seconds, 2),
            "mean_tokens_per_text": round(sum(tokens) / len(tokens), 1),
            "runs": runs,
            "single_query_ms": round(query_ms, 2),
        },
    )


if __name__ == "__main__":
    main()
