"""Charts for the process report, drawn with matplotlib (no graphviz): the process map, the funnel, cycle time by
segment, and queue vs working time per activity. Each function takes a ``BottleneckReport`` and returns PNG bytes;
labels use the log's own case noun (deals, leads, loan applications).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics.bottlenecks import BottleneckReport

MAP_MAX_NODES = 14
MAP_MAX_EDGES = 30
CYCLE_MAX_SEGMENTS = 12
DPI = 100
_NODE = "#e8eef7"
_FORWARD = "#2f6db5"
_BACKWARD = "#c0504d"


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=DPI)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _duration(days: float) -> str:
    if days < 1 / 24:
        return f"{days * 1440:.0f}m"
    if days < 1:
        return f"{days * 24:.1f}h"
    return f"{days:.1f}d"


def map_nodes(report: BottleneckReport) -> list[str]:
    """The stages on the map, in order: all of a playbook's, else the most frequent activities."""
    entered = {m.stage: m.cases_entered for m in report.stage_metrics}
    if len(report.stage_order) <= MAP_MAX_NODES:
        return list(report.stage_order)
    top = set(sorted(entered, key=lambda s: entered[s], reverse=True)[:MAP_MAX_NODES])
    return [s for s in report.stage_order if s in top]


def process_map_png(report: BottleneckReport) -> bytes:
    """Stages left to right in playbook order; arrows above go forward, below go back; width by frequency;
    each arrow labelled with its count and median wait."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    nodes = map_nodes(report)
    position = {s: i for i, s in enumerate(nodes)}
    entered = {m.stage: m.cases_entered for m in report.stage_metrics}
    edges = [t for t in report.transitions if t.source in position and t.target in position]
    # the busiest edges carry the story; the rest would hide it
    edges = sorted(edges, key=lambda t: t.count, reverse=True)[: MAP_MAX_EDGES if len(nodes) <= 8 else 22]
    spacing = 3.1
    width = max(8.0, len(nodes) * 2.3)
    fig, ax = _figure(width, 6.0)
    max_count = max((t.count for t in edges), default=1)
    for t in edges:
        x0, x1 = position[t.source] * spacing, position[t.target] * spacing
        lw = 0.8 + 7.0 * (t.count / max_count)
        label = f"{t.count:,} · {_duration(t.median_days)}"
        if t.source == t.target:
            patch = FancyArrowPatch(
                (x0 - 0.25, 0.35),
                (x0 + 0.25, 0.35),
                connectionstyle="arc3,rad=-1.6",
                arrowstyle="-|>",
                mutation_scale=10,
                lw=lw,
                color=_BACKWARD,
                alpha=0.6,
            )
            ax.add_patch(patch)
            ax.text(x0, 1.05, label, ha="center", va="bottom", fontsize=7, color=_BACKWARD)
            continue
        forward = x1 > x0
        hops = abs(position[t.target] - position[t.source])
        color = _FORWARD if forward else _BACKWARD
        if forward and hops == 1:
            # neighbours in playbook order: a straight arrow through the middle
            ax.add_patch(
                FancyArrowPatch(
                    (x0 + 0.55, 0.0),
                    (x1 - 0.55, 0.0),
                    arrowstyle="-|>",
                    mutation_scale=12,
                    lw=lw,
                    color=color,
                    alpha=0.55,
                )
            )
            ax.text((x0 + x1) / 2, 0.1, label, ha="center", va="bottom", fontsize=7, color=color)
            continue
        # longer jumps arc above (forward) or below (back), higher the further they reach, within the frame
        height = min(0.45 + 0.28 * hops, 2.2)
        y = 0.32 if forward else -0.32
        bend = 2 * height if forward else -2 * height
        curve = Path([(x0, y), ((x0 + x1) / 2, y + bend), (x1, y)], [Path.MOVETO, Path.CURVE3, Path.CURVE3])
        ax.add_patch(FancyArrowPatch(path=curve, arrowstyle="-|>", mutation_scale=12, lw=lw, color=color, alpha=0.5))
        peak = y + height if forward else y - height
        ax.text(
            (x0 + x1) / 2,
            peak,
            label,
            ha="center",
            va="bottom" if forward else "top",
            fontsize=7,
            color=color,
            bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 0.5},
        )
    for stage, i in position.items():
        x = i * spacing
        box = FancyBboxPatch(
            (x - 0.75, -0.32), 1.5, 0.64, boxstyle="round,pad=0.05", fc=_NODE, ec="#44546a", lw=1.0, zorder=3
        )
        ax.add_patch(box)
        name = stage if len(stage) <= 18 else stage[:17] + "…"
        ax.text(x, 0.06, name, ha="center", va="center", fontsize=7.5, fontweight="bold", zorder=4)
        ax.text(
            x, -0.17, f"{entered.get(stage, 0):,} {report.case_noun}", ha="center", va="center", fontsize=7, zorder=4
        )
    ax.set_xlim(-1.0, (len(nodes) - 1) * spacing + 1.0)
    ax.set_ylim(-2.8, 2.8)
    ax.axis("off")
    ax.set_title(
        "Process map: arrows above go forward, below go back; label = times taken · median wait", fontsize=9, pad=14
    )
    return _png(fig)


def funnel_png(report: BottleneckReport) -> bytes:
    fig, ax = _figure(7.5, 0.5 + 0.45 * max(len(report.funnel), 1))
    stages = [f.stage for f in report.funnel][::-1]
    counts = [f.cases for f in report.funnel][::-1]
    shares = [f.share for f in report.funnel][::-1]
    bars = ax.barh(stages, counts, color=_FORWARD, alpha=0.8)
    for bar, n, share in zip(bars, counts, shares, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f"  {n:,} ({share:.0%})", va="center", fontsize=8)
    ax.set_xlabel(f"{report.case_noun} that reached the stage")
    ax.set_title("Funnel", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlim(0, max(counts, default=1) * 1.25)
    return _png(fig)


def cycle_time_png(report: BottleneckReport) -> bytes | None:
    """Median (dark) and p90 (light) case cycle time per segment, one panel per dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analytics.bottlenecks import DIMENSION_LABELS

    dims = [d for d in report.dimensions if any(c.dimension == d for c in report.cycle_time_by_segment)]
    if not dims:
        return None
    # the largest segments of each dimension; a panel of sixty owners would be unreadable
    shown = {
        d: sorted((c for c in report.cycle_time_by_segment if c.dimension == d), key=lambda c: c.cases, reverse=True)[
            :CYCLE_MAX_SEGMENTS
        ]
        for d in dims
    }
    heights = [max(1, len(shown[d])) for d in dims]
    fig, axes = plt.subplots(
        len(dims),
        1,
        figsize=(7.5, 0.6 * len(dims) + 0.35 * sum(heights)),
        dpi=DPI,
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, dim in zip(axes[:, 0], dims, strict=True):
        rows = sorted(shown[dim], key=lambda c: c.median_days)
        labels = [f"{c.segment} (n={c.cases})" for c in rows]
        ax.barh(labels, [c.p90_days for c in rows], color=_FORWARD, alpha=0.25, label="p90")
        ax.barh(labels, [c.median_days for c in rows], color=_FORWARD, alpha=0.85, label="median")
        ax.set_title(
            f"Cycle time of {report.case_noun} by {DIMENSION_LABELS.get(dim, dim)} (days, first to last stage)",
            fontsize=9,
        )
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def _hours_label(hours: float) -> str:
    return f"{hours * 3600:.0f}s" if hours < 1 / 60 else _duration(hours / 24)


def queue_working_png(report: BottleneckReport) -> bytes | None:
    """Per activity with start/complete events: median queue (waiting to start) beside median working time, in
    hours on a log scale so a 20-minute task and a two-day queue are both readable; the longest queue on top."""
    life = report.lifecycle
    if life is None or not life.activities:
        return None
    rows = [a for a in life.activities if a.median_queue_hours is not None][:CYCLE_MAX_SEGMENTS][::-1]
    if not rows:
        return None
    import numpy as np

    fig, ax = _figure(7.5, 0.8 + 0.5 * len(rows))
    y = np.arange(len(rows))
    floor = 1 / 60  # one minute, so a zero still shows on the log axis
    queue = [max(float(a.median_queue_hours or 0.0), floor) for a in rows]
    work = [max(a.median_working_hours, floor) for a in rows]
    ax.barh(y + 0.2, queue, height=0.38, color=_BACKWARD, alpha=0.8, label="median queue (waiting to start)")
    ax.barh(y - 0.2, work, height=0.38, color=_FORWARD, alpha=0.8, label="median working time")
    for i, a in enumerate(rows):
        # labels give the real values; only the bars are floored at a minute
        real_queue, real_work = float(a.median_queue_hours or 0.0), a.median_working_hours
        ax.text(queue[i], y[i] + 0.2, f"  {_hours_label(real_queue)}", va="center", fontsize=7)
        ax.text(work[i], y[i] - 0.2, f"  {_hours_label(real_work)}", va="center", fontsize=7)
    ax.set_yticks(y, [f"{a.activity} (n={a.work_items:,})" for a in rows], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("hours (log scale)")
    ax.set_title(f"Where the time of {report.case_noun} goes: waiting vs working, per activity", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def all_charts(report: BottleneckReport) -> dict[str, bytes]:
    charts = {"process-map": process_map_png(report)}
    if report.funnel:
        charts["funnel"] = funnel_png(report)
    cycle = cycle_time_png(report)
    if cycle is not None:
        charts["cycle-time"] = cycle
    queue = queue_working_png(report)
    if queue is not None:
        charts["queue-working"] = queue
    return charts
