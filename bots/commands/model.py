"""``salesgraph model``: train, evaluate and inspect the lead-scoring model, and score leads with it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from analytics.scoring import Metrics

app = typer.Typer(
    help=(
        "Lead scoring. The model learns from leads whose outcome is known (converted / lost), is checked on the "
        "most recent 20 % of them, and is saved with a model card under $SALESGRAPH_HOME/models/. With fewer than "
        "200 known outcomes, scores come from transparent rules (fit, engagement, recency) and say so."
    ),
    no_args_is_help=True,
)


class Kind(StrEnum):
    auto = "auto"
    logistic = "logistic"
    gbm = "gbm"


KindOption = Annotated[
    Kind,
    typer.Option(
        "--kind",
        help="logistic regression (default: fast, explainable, extrapolates on drifting data), gradient-boosted "
        "trees, or auto: the better of the two on a time-ordered "
        "validation slice (logistic unless the trees win by more than 0.02 AUC).",
        case_sensitive=False,
    ),
]


def _metrics_table(title: str, metrics: Metrics) -> object:
    from rich.table import Table

    table = Table(title=title)
    for column in ("ROC AUC", "PR AUC", "Brier", "calibration error", "conversion rate", "mean predicted", "leads"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{metrics.roc_auc:.3f}",
        f"{metrics.pr_auc:.3f}",
        f"{metrics.brier:.4f}",
        f"{metrics.calibration_error:.3f}",
        f"{metrics.base_rate:.1%}",
        f"{metrics.mean_predicted:.1%}",
        f"{metrics.rows:,}",
    )
    return table


def _calibration_table(metrics: Metrics) -> object:
    from rich.table import Table

    table = Table(title="Calibration on the holdout (predicted vs observed conversion per score bin)")
    for column in ("score bin", "leads", "predicted", "observed"):
        table.add_column(column, justify="right")
    for row in metrics.calibration:
        table.add_row(str(row["bin"]), f"{row['count']:,}", f"{row['predicted']:.1%}", f"{row['observed']:.1%}")
    return table


@app.command("train")
def train_cmd(kind: KindOption = Kind.logistic, as_: AsOption = None) -> None:
    """Train on every lead with a known outcome, report the holdout metrics, save the next model version."""
    from analytics.scoring import train_lead_model
    from bots.common import console, resolve_actor, services, session

    out = console()
    with out.status("training: fit on the earliest 80 %, check on the latest 20 %, refit on all..."), session() as s:
        card = train_lead_model(s, resolve_actor(s, as_), settings=services().settings, kind=kind.value)
    out.print(
        f"[bold]{card.version}[/] ({card.kind}) trained on {card.labelled:,} leads ({card.positives:,} converted), "
        f"created {card.date_range[0]} to {card.date_range[1]}."
    )
    from analytics.scoring import Metrics

    metrics = Metrics(**card.holdout)
    chunks = ", ".join(f"{c['roc_auc']:.3f}" if c.get("roc_auc") is not None else "one class" for c in card.rolling_auc)
    out.print(
        f"Rolling-origin ROC AUC per chunk (each fitted on every earlier lead; the headline): {chunks}",
        highlight=False,
    )
    out.print(_metrics_table(f"Holdout: the latest {card.holdout_rows:,} leads", metrics))
    out.print("Top features: " + ", ".join(f"{f['label']} ({f['mean_abs_points']:.1f})" for f in card.top_features))
    for warning in card.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    out.print(f"Model and card saved in {Path(card.path).parent}")


@app.command("evaluate")
def evaluate_cmd(
    kind: KindOption = Kind.logistic,
    random_split: Annotated[
        bool,
        typer.Option(
            "--random-split",
            help="Also report 5-fold cross-validated ROC AUC on shuffled rows, the protocol most published "
            "results use (optimistic when the data drift over time).",
        ),
    ] = False,
    as_: AsOption = None,
) -> None:
    """Fit on the earliest 80 % of labelled leads, print ROC AUC, PR AUC, Brier and calibration on the latest 20 %."""
    from analytics.scoring import evaluate_lead_model
    from bots.common import console, resolve_actor, services, session

    out = console()
    with out.status("evaluating on the time-ordered holdout..."), session(read_only=True) as s:
        evaluation = evaluate_lead_model(
            s, resolve_actor(s, as_), settings=services().settings, kind=kind.value, random_split=random_split
        )
    chosen = ", ".join(f"{k} {v:.3f}" for k, v in evaluation.selection.items())
    out.print(
        f"Model: {evaluation.kind}"
        + (f" (validation AUC by kind: {chosen})" if chosen else "")
        + f"; trained on the first {evaluation.train_rows:,} leads by time"
    )
    out.print(_metrics_table(f"Holdout: the latest {evaluation.holdout_rows:,} leads", evaluation.metrics))
    out.print(_calibration_table(evaluation.metrics))
    if evaluation.random_split_auc is not None:
        out.print(f"5-fold shuffled cross-validation ROC AUC (for comparison): {evaluation.random_split_auc:.3f}")
    top = sorted(evaluation.leakage.items(), key=lambda kv: -kv[1])[:3]
    out.print(
        "Strongest single features (leakage check, AUC alone): "
        + ", ".join(f"{evaluation.bundle.features.label_of(c)} {a:.2f}" for c, a in top)
    )


@app.command("recalibrate")
def recalibrate_cmd(as_: AsOption = None, json_out: JsonOption = False) -> None:
    """Refit the latest model's calibration on the last N labelled leads and check it for drift.

    A rolling Platt refit (N = SALESGRAPH_RECALIBRATION_WINDOW, default 1,000) that scores then use, and the
    drift flag of the model card: recent ROC AUC or calibration error beyond the stated thresholds against the
    holdout, or a PSI of 0.2 or more on a top feature. The scheduler runs it daily.
    Example: `salesgraph model recalibrate --as admin@example.com`.
    """
    from analytics.scoring import monitoring_lines, recalibrate_model
    from bots.common import console, resolve_actor, services, session
    from bots.render import emit_json

    out = console()
    with out.status("recalibrating on the latest labelled leads..."), session() as s:
        result = recalibrate_model(s, resolve_actor(s, as_), settings=services().settings)
    if json_out:
        emit_json(result)
        return
    out.print(f"[bold]{result.version}[/] recalibrated (receipt: audit #{result.receipt_id})")
    for line in monitoring_lines(result.model_dump()):
        out.print(line.replace("**", ""), highlight=False)


@app.command("show")
def show_cmd(
    version: Annotated[
        str | None, typer.Argument(help="A model version such as lead-score-v2; default: latest.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Print a model card (data, holdout metrics, top features, warnings) and list the saved versions."""
    from rich.markdown import Markdown

    from analytics.scoring import list_versions, read_card
    from bots.common import console, friendly_errors, services
    from bots.render import emit_json

    with friendly_errors():
        settings = services().settings
        card = read_card(settings, version)
    if json_out:
        emit_json({"card": card, "versions": list_versions(settings)})
        return
    console().print(Markdown(card.to_markdown()))
    console().print(f"Saved versions: {', '.join(list_versions(settings))}")


@app.command("score")
def score_cmd(
    lead_ids: Annotated[list[int] | None, typer.Argument(help="Lead ids; none = every open lead you can see.")] = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also write a PNG of the score distribution by band.")
    ] = None,
    as_: AsOption = None,
) -> None:
    """Score leads with the latest model (or the rules), store the score on each lead, explain single leads."""
    from analytics.scoring import score_lead, score_leads
    from bots.common import console, resolve_actor, services, session

    out = console()
    settings = services().settings
    if lead_ids and len(lead_ids) <= 5:
        with session() as s:
            who = resolve_actor(s, as_)
            results = [score_lead(s, who, lead_id, settings=settings) for lead_id in lead_ids]
        for result in results:
            colour = {"hot": "red", "warm": "yellow", "cold": "blue"}[result.band]
            out.print(
                f"[bold]lead {result.lead_id}[/]: [{colour}]{result.score:.0f} {result.band}[/] "
                f"→ {result.next_action}  (receipt: audit #{result.audit_event_id})"
            )
            out.print(f"  {result.brief}", highlight=False)
        return
    with out.status("scoring..."), session() as s:
        batch = score_leads(s, resolve_actor(s, as_), settings=settings, lead_ids=lead_ids or None)
    out.print(
        f"Scored {batch.scored:,} leads with {batch.model_version}"
        + (" (rule-based)" if batch.rule_based else "")
        + f": hot {batch.by_band['hot']:,}, warm {batch.by_band['warm']:,}, cold {batch.by_band['cold']:,}"
        + (f" (receipt: audit #{batch.audit_event_id})" if batch.audit_event_id else "")
    )
    if chart is not None:
        from sqlmodel import col, select

        from analytics.charts import score_distribution_chart
        from analytics.features import load_config
        from store.models import Lead

        with session(read_only=True) as s:
            who = resolve_actor(s, as_)
            query = select(Lead.score, Lead.score_band).where(col(Lead.score).is_not(None))
            visible = who.owner_filter(Lead.owner_id)
            if visible is not None:
                query = query.where(visible)
            rows = s.exec(query).all()
        path = score_distribution_chart(
            [r[0] for r in rows if r[0] is not None],
            [str(r[1]) for r in rows],
            chart,
            load_config(settings.home_dir).bands,
        )
        out.print(f"Chart written to {path}")
