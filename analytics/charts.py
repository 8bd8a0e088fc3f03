"""PNG charts for forecasts and lead scores (matplotlib, headless): forecast vs target with its 80 % band, scores by band."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics.features import Bands
    from analytics.forecast import Forecast, ForecastLine

BAND_COLOURS = {"hot": "#d62728", "warm": "#ff7f0e", "cold": "#1f77b4"}


def _pyplot() -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forecast_chart(
    forecasts: list[Forecast],
    out: Path,
    *,
    targets: dict[str, float] | None = None,
    by_line: bool = False,
    title: str | None = None,
) -> Path:
    """Expected revenue with the p10-p90 band, commit and best case, and the target when given.

    Several forecasts: one point per period (totals). One forecast with ``by_line``: one bar per owner/team.
    """
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))  # type: ignore[attr-defined]
    targets = targets or {}
    if by_line and len(forecasts) == 1 and forecasts[0].lines:
        lines: list[ForecastLine] = forecasts[0].lines
        x = np.arange(len(lines))
        expected = np.array([line.expected for line in lines])
        low = expected - np.array([line.p10 for line in lines])
        high = np.array([line.p90 for line in lines]) - expected
        ax.bar(x, expected, color="#4c72b0", alpha=0.8, label="expected")
        ax.errorbar(x, expected, yerr=[low, high], fmt="none", ecolor="black", capsize=4, label="80% interval")
        ax.scatter(x, [line.commit for line in lines], marker="_", s=300, color="#2ca02c", label="commit", zorder=3)
        ax.scatter(
            x, [line.best_case for line in lines], marker="_", s=300, color="#9467bd", label="best case", zorder=3
        )
        for i, line in enumerate(lines):
            if line.key in targets:
                ax.scatter(
                    [i],
                    [targets[line.key]],
                    marker="*",
                    s=160,
                    color="#d62728",
                    label="target" if i == 0 else None,
                    zorder=4,
                )
        ax.set_xticks(x, [line.key for line in lines], rotation=30, ha="right")
        ax.set_title(title or f"Forecast {forecasts[0].period} by owner or team")
    else:
        labels = [f.period for f in forecasts]
        x = np.arange(len(forecasts))
        expected = np.array([f.total.expected for f in forecasts])
        ax.fill_between(
            x,
            [f.total.p10 for f in forecasts],
            [f.total.p90 for f in forecasts],
            color="#4c72b0",
            alpha=0.25,
            label="80% interval (p10-p90)",
        )
        ax.plot(x, expected, marker="o", color="#4c72b0", label="expected")
        ax.plot(x, [f.total.commit for f in forecasts], linestyle="--", color="#2ca02c", label="commit")
        ax.plot(x, [f.total.best_case for f in forecasts], linestyle=":", color="#9467bd", label="best case")
        if targets:
            ax.plot(
                x,
                [targets.get(label, np.nan) for label in labels],
                marker="*",
                markersize=12,
                linestyle="none",
                color="#d62728",
                label="target",
            )
        ax.set_xticks(x, labels)
        ax.set_title(title or "Revenue forecast vs target")
    ax.set_ylabel("revenue")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)  # type: ignore[attr-defined]
    return out


def score_distribution_chart(
    scores: list[float], bands: list[str], out: Path, cutoffs: Bands, *, title: str | None = None
) -> Path:
    """Histogram of scores (0-100) stacked by band, with the band cut-offs marked."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))  # type: ignore[attr-defined]
    values = np.asarray(scores, dtype=float)
    labels = np.asarray(bands)
    bins = np.linspace(0, 100, 41)
    stacks = [values[labels == band] for band in ("cold", "warm", "hot")]
    ax.hist(
        stacks,
        bins=bins,
        stacked=True,
        color=[BAND_COLOURS[b] for b in ("cold", "warm", "hot")],
        label=[f"{b} ({len(s)})" for b, s in zip(("cold", "warm", "hot"), stacks, strict=True)],
    )
    for name, cut in (("warm", cutoffs.warm), ("hot", cutoffs.hot)):
        ax.axvline(cut, color="black", linestyle="--", linewidth=1)
        ax.text(cut + 0.5, ax.get_ylim()[1] * 0.95, f"{name} >= {cut:.0f}", fontsize=8, va="top")
    ax.set_xlabel("score (0-100)")
    ax.set_ylabel("leads")
    ax.set_title(title or f"Lead score distribution ({len(values)} leads)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)  # type: ignore[attr-defined]
    return out


def briefing_chart(
    stages: list[tuple[str, int, float]], forecast: dict[str, float | str] | None, *, title: str | None = None
) -> bytes:
    """A daily briefing's PNG: open pipeline amount by stage (deal counts on the bars) and, when given, the
    period's forecast (expected with its p10-p90 band, commit, best case, won so far).

    ``stages`` is ``[(stage, deals, amount)]`` in stage order; ``forecast`` has ``period``, ``expected``, ``p10``,
    ``p90``, ``commit``, ``best_case`` and ``won_to_date``. Returns the PNG bytes (nothing is written to disk).
    """
    import io

    plt = _pyplot()
    panels = 2 if forecast else 1
    fig, axes = plt.subplots(  # type: ignore[attr-defined]
        1, panels, figsize=(10 if forecast else 6.5, 4.2), gridspec_kw={"width_ratios": [3, 1.4]} if forecast else None
    )
    ax = axes[0] if forecast else axes
    labels = [s for s, _, _ in stages]
    amounts = [a for _, _, a in stages]
    bars = ax.bar(range(len(stages)), amounts, color="#4c72b0")
    for bar, (_, deals, _) in zip(bars, stages, strict=True):
        ax.annotate(
            f"{deals} deals",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(range(len(stages)), labels, rotation=20, ha="right")
    ax.set_title("Open pipeline by stage")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    ax.grid(axis="y", alpha=0.3)
    if not stages:
        ax.text(0.5, 0.5, "no open deals", ha="center", va="center", transform=ax.transAxes)
    if forecast:
        fx = axes[1]
        expected, p10, p90 = float(forecast["expected"]), float(forecast["p10"]), float(forecast["p90"])
        fx.bar([0], [expected], color="#4c72b0", alpha=0.8, label="expected")
        fx.errorbar(
            [0], [expected], yerr=[[expected - p10], [p90 - expected]], fmt="none", ecolor="black", capsize=6,
            label="80% interval",
        )  # fmt: skip
        for value, colour, name in (
            (forecast["commit"], "#2ca02c", "commit"),
            (forecast["best_case"], "#9467bd", "best case"),
            (forecast["won_to_date"], "#ff7f0e", "won so far"),
        ):
            fx.scatter([0], [float(value)], marker="_", s=900, color=colour, label=name, zorder=3)
        fx.set_xticks([0], [str(forecast["period"])])
        fx.set_xlim(-0.8, 0.8)
        fx.set_title("Forecast")
        fx.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
        fx.grid(axis="y", alpha=0.3)
        fx.legend(loc="lower center", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)  # type: ignore[attr-defined]
    return buffer.getvalue()
