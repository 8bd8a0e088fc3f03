"""`salesgraph model` and `salesgraph forecast` as a user drives them, on a seeded demo workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("analytics") / "home"
    env = {**os.environ, "SALESGRAPH_HOME": str(home), "COLUMNS": "200"}
    env.pop("SALESGRAPH_DATABASE_URL", None)
    env.pop("SALESGRAPH_USER", None)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
        )
        if ok:
            assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result

    run.home = home  # type: ignore[attr-defined]
    run("seed", "--demo", "--seed", "7", "--anchor", "2026-11-01")
    return run


def test_model_train_show_score(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = cli("model", "show", ok=False)
    assert missing.returncode == 1 and "salesgraph model train" in missing.stderr
    refused = cli("model", "train", "--as", "sam.rivera@demo.example", ok=False)
    assert refused.returncode == 1 and "for managers and admins" in refused.stderr

    trained = cli("model", "train")
    assert "lead-score-v1" in trained.stdout and "ROC AUC" in trained.stdout
    assert (cli.home / "models" / "lead-score-v1.card.md").is_file()
    assert "Holdout" in cli("model", "show").stdout

    one = cli("model", "score", "1")
    assert "lead 1:" in one.stdout and "receipt: audit #" in one.stdout and "Next:" in one.stdout
    chart = tmp_path / "scores.png"
    batch = cli("model", "score", "--chart", str(chart))
    assert "Scored" in batch.stdout and "lead-score-v1" in batch.stdout
    assert chart.read_bytes().startswith(PNG)


def test_forecast_table_chart_errors_and_backtest(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    chart = tmp_path / "q4.png"
    result = cli("forecast", "2026-Q4", "--by", "owner", "--today", "2026-11-01", "--chart", str(chart))
    assert "Forecast Q4 2026" in result.stdout and "Jordan Blake" in result.stdout and "80% interval" in result.stdout
    # the method is stated: which forecaster the figure is and its backtest WAPE against the others
    assert "Why: lowest WAPE in a backtest over 6 past months" in result.stdout and "run rate" in result.stdout
    snapshot = cli("forecast", "snapshot", "--today", "2026-11-02")
    again = cli("forecast", "snapshot", "--today", "2026-11-02")
    assert "open deals and 2 forecasts recorded" in snapshot.stdout and "already taken" in again.stdout
    assert chart.read_bytes().startswith(PNG)
    bad = cli("forecast", "someday", ok=False)
    assert bad.returncode == 1 and "not a period" in bad.stderr
    deals = cli("forecast", "deals", "--today", "2026-11-01", "--as", "maria.chen@demo.example")
    assert "P(win)" in deals.stdout
    backtest = cli("forecast", "backtest", "--count", "2", "--simulations", "500")
    assert "WAPE" in backtest.stdout and "stage-weighted baseline" in backtest.stdout
