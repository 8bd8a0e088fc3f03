"""The project's generic top-level package names resolve to this repository, and the CLI starts light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["agent", "tools", "memory", "prompts", "store", "bots", "evals", "sales", "analytics", "app", "bench"]
HEAVY = [
    "sqlmodel",
    "sqlalchemy",
    "pandas",
    "numpy",
    "sklearn",
    "pm4py",
    "chromadb",
    "langchain_core",
    "langgraph",
    "matplotlib",
    "onnxruntime",
    "mcp",
    "uvicorn",
    "starlette",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_resolves_to_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == REPO / name


def _modules_loaded_by(argv: list[str]) -> list[str]:
    code = (
        "import json, sys\n"
        f"sys.argv = {argv!r}\n"
        "from bots.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ["salesgraph", "--help"],
        ["salesgraph", "deals", "--help"],
        ["salesgraph", "leads", "create", "--help"],
        ["salesgraph", "mcp", "serve", "--help"],
        ["salesgraph", "tokens", "create", "--help"],
        ["salesgraph", "inbox", "poll", "--help"],
    ],
)
def test_help_imports_none_of_the_heavy_libraries(argv: list[str]) -> None:
    assert _modules_loaded_by(argv) == []
