"""``salesgraph forecast``: revenue forecast with an 80 % interval, win probabilities per deal, and the backtest."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from datetime import date
    from typing import Any

    from analytics.forecast import Forecast


class By(StrEnum):
    owner = "owner"
    team = "team"


class Granularity(StrEnum):
    month = "month"
    quarter = "quarter"


def forecast_cmd(
    period: Annotated[
        str,
        typer.Argument(
            help="The period to forecast: 2026-Q4, 'this quarter', 'next month', 2026-11... "
            "Or `backtest` to check the forecaster on past cut-offs, `deals` for each open deal's win probability, "
            "`snapshot` to record today's pipeline and forecast, `history [PERIOD]` for a period's forecast week by "
            "week, `accuracy` for the accuracy by week of quarter.",
        ),
    ] = "this quarter",
    history_period: Annotated[
        str | None,
        typer.Argument(help="history: the period to show (default: this quarter).", show_default=False),
    ] = None,
    by: Annotated[By | None, typer.Option("--by", help="One line per owner or per team.", case_sensitive=False)] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's deals (name or email).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team's deals.")] = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write a PNG: forecast vs target with the band.")
    ] = None,
    target: Annotated[float | None, typer.Option("--target", help="Revenue target to draw on the chart.")] = None,
    cutoffs: Annotated[
        str | None,
        typer.Option(
            "--cutoffs",
            help="backtest: comma-separated period starts, e.g. 2017-06-01,2017-07-01. "
            "Default: the last --count whole periods in the data.",
        ),
    ] = None,
    granularity: Annotated[
        Granularity, typer.Option("--granularity", help="backtest: forecast months or quarters.")
    ] = Granularity.month,
    count: Annotated[
        int, typer.Option("--count", min=1, max=24, help="backtest: number of cut-offs; accuracy: of quarters.")
    ] = 6,
    simulations: Annotated[int, typer.Option("--simulations", min=200, max=20000, help="Monte Carlo draws.")] = 2000,
    today: Annotated[
        str | None,
        typer.Option(
            "--today", help="Forecast as of this date (2026-11-01, yesterday, '2 weeks ago') instead of today."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option("--currency", help="Only deals in this currency, e.g. EUR (default: one forecast per currency)."),
    ] = None,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Forecast revenue for a period: expected value, 80 % interval (p10-p90), commit and best case.

    Every open deal is simulated thousands of times: whether it is won (its win probability) and whether that
    lands in the period (how long similar deals took), plus business not yet in the pipeline drawn from past
    periods. `salesgraph forecast backtest` replays past cut-offs with only what was known then and compares
    with what actually closed, next to the stage-weighted baseline (sum of amount x stage win rate). Amounts in
    different currencies are never added: each currency gets its own forecast, and the backtest takes one currency
    at a time (--currency). Amounts are in whole currency units.

    The forecast shown is whichever of the simulation, the run rate (trailing 3-month bookings) and their blend
    had the lowest WAPE in a backtest over this store's last 6 months; the three are shown side by side and the
    line under the table says which was taken and why.

    Examples: `salesgraph forecast "next month" --by owner`; `salesgraph forecast snapshot` (once a day, also
    run by the scheduler); `salesgraph forecast history 2026-Q3` (the forecast at the start of each week, recorded
    or reconstructed from the stage history, with what actually closed); `salesgraph forecast accuracy --count 4`
    (WAPE by week of quarter over the last 4 quarters).
    """
    from bots.common import parse_date

    as_of = parse_date(today, "--today", prefer="past")
    word = period.strip().lower()
    if word == "snapshot":
        _snapshot(as_of, as_, json_out)
        return
    if word == "history":
        _history(history_period or "this quarter", as_of, min(simulations, 2000), currency, as_, json_out)
        return
    if word == "accuracy":
        _accuracy(as_of, count, min(simulations, 2000), currency, as_, json_out)
        return
    if history_period is not None:
        from bots.common import fail

        fail(f"one period at a time: {period!r} and {history_period!r} (a second word goes with `history` only)")
    if period.strip().lower() == "backtest":
        _backtest(cutoffs, granularity.value, count, min(simulations, 2000), currency, as_, json_out)
    elif period.strip().lower() == "deals":
        _deals(as_of, as_, json_out)
    else:
        _forecast(period, by, owner, team, chart, target, simulations, as_of, currency, as_, json_out)


def _forecast(
    period: str,
    by: By | None,
    owner: str | None,
    team: str | None,
    chart: Path | None,
    target: float | None,
    simulations: int,
    today: date | None,
    currency: str | None,
    as_: str | None,
    json_out: bool = False,
) -> None:
    from datetime import date, timedelta

    from rich.table import Table

    from analytics.forecast import forecast_by_currency
    from bots.common import console, err_console, fail, resolve_actor, services, session
    from bots.render import emit_json, money, print_table

    out = console()
    status = "simulating deal outcomes (the first forecast of a month also backtests the last 6 months)..."
    with (err_console() if json_out else out).status(status), session(read_only=True) as s:
        results = forecast_by_currency(
            s,
            resolve_actor(s, as_),
            period,
            group_by=by.value if by else None,
            owner=owner,
            team=team,
            today=today,
            simulations=simulations,
            currency=currency,
            cache_dir=services().settings.home_dir / "forecast",
        )
    if chart is not None and len(results) > 1:
        fail(
            f"the deals are in {', '.join(r.currency for r in results)}; a chart shows one currency: "
            "add --currency CODE"
        )
    if json_out:
        if chart is not None:
            err_console().print(f"Chart written to {_chart(results[0], chart, target)}", highlight=False)
        emit_json([_forecast_json(result) for result in results])
        return
    # one table per currency: amounts in different currencies are never added together
    for result in results:
        code = result.currency
        in_currency = f" in {code}" if len(results) > 1 else ""
        last_day = date.fromisoformat(result.end) - timedelta(days=1)  # the period's end is exclusive
        table = Table(
            title=f"Forecast {result.period}{in_currency} ({result.start} to {last_day}), as of {result.as_of[:10]}"
        )
        for column in (
            "",
            "forecast",
            "80% interval",
            "simulation",
            "run rate",
            "blend",
            "won so far",
            "commit",
            "best case",
            "stage-weighted",
            "open deals",
        ):
            table.add_column(column, justify="left" if not column else "right")

        def band(mean: float | None, lo: float | None, hi: float | None, code: str = code) -> str:
            if mean is None or lo is None or hi is None:
                return "—"
            return f"{money(mean, code, whole=True)} ({money(lo, code, whole=True)} - {money(hi, code, whole=True)})"

        for line in [*result.lines, result.total]:
            table.add_row(
                line.key if line is not result.total else "[bold]total[/]",
                money(line.expected, code, whole=True),
                f"{money(line.p10, code, whole=True)} - {money(line.p90, code, whole=True)}",
                band(line.simulation, line.simulation_p10, line.simulation_p90),
                band(line.run_rate, line.run_rate_p10, line.run_rate_p90),
                band(line.blend, line.blend_p10, line.blend_p90),
                money(line.won_to_date, code, whole=True),
                money(line.commit, code, whole=True),
                money(line.best_case, code, whole=True),
                money(line.stage_weighted, code, whole=True),
                f"{line.open_deals:,}",
                end_section=line is result.lines[-1] if result.lines else False,
            )
        print_table(table, out, keep_title=True)
        in_code = f" ({code})" if len(results) > 1 else ""
        out.print(f"Forecast{in_code} = {result.chosen}: {result.method}. Why: {result.why}.", highlight=False)
    result = results[0]
    out.print(
        f"{result.simulations:,} simulations. Commit = won so far + deals at least "
        "60 % likely to be won in the period; best case adds those at least 30 % likely."
    )
    for note in dict.fromkeys(note for r in results for note in r.notes):
        out.print(f"[dim]note: {note}[/]")
    if chart is not None:
        out.print(f"Chart written to {_chart(result, chart, target)}")


def _forecast_json(result: Forecast) -> dict[str, Any]:
    from datetime import date, timedelta

    last_day = date.fromisoformat(result.end) - timedelta(days=1)  # ``end`` is exclusive
    from bots.render import in_whole_units

    return {**in_whole_units(result), "last_day": last_day.isoformat()}


def _chart(result: Forecast, chart: Path, target: float | None) -> Path:
    from analytics.charts import forecast_chart

    targets = {result.period: target} if target is not None else None
    return forecast_chart([result], chart, targets=targets, by_line=bool(result.lines))


def _deals(today: date | None, as_: str | None, json_out: bool = False) -> None:
    from rich.table import Table

    from analytics.winprob import win_probabilities
    from bots.common import console, err_console, resolve_actor, session
    from bots.render import FORECAST_AMOUNTS, emit_json, in_whole_units, money, print_table

    out = console()
    with (err_console() if json_out else out).status("fitting the win model..."), session(read_only=True) as s:
        result = win_probabilities(s, resolve_actor(s, as_), today=today)
    if json_out:
        emit_json(in_whole_units(result, FORECAST_AMOUNTS | {"amount"}))  # a deal's amount too (it may be imputed)
        return
    table = Table(title=f"Open deals: win probability ({result.method}), as of {result.as_of[:10]}")
    periods = list(result.deals[0].p_close_by_period) if result.deals else []
    for column in ("deal", "owner", "stage", "amount", "P(win)", *[f"won in {p}" for p in periods], "why"):
        table.add_column(column, justify="right" if column not in ("owner", "stage", "why") else "left")
    # expected values are compared within a currency only: the table lists one currency after another
    for deal in sorted(result.deals, key=lambda d: (d.currency, -d.p_win * d.amount)):
        table.add_row(
            str(deal.deal_id),
            deal.owner,
            deal.stage,
            money(deal.amount, deal.currency, whole=True) if deal.amount or not deal.amount_imputed else "—",
            f"{deal.p_win:.0%}",
            *[f"{deal.p_close_by_period[p]:.0%}" for p in periods],
            "; ".join([*deal.reasons[:2], *deal.timing_reasons[1:2]]),
        )
    print_table(table, out)
    for note in result.notes:
        out.print(f"[dim]note: {note}[/]")


def _backtest(
    cutoffs_text: str | None,
    granularity: str,
    count: int,
    simulations: int,
    currency: str | None,
    as_: str | None,
    json_out: bool = False,
) -> None:
    from rich.progress import Progress
    from rich.table import Table

    from analytics.forecast import backtest_store
    from bots.common import console, err_console, parse_date, resolve_actor, session
    from bots.render import emit_json, in_whole_units, money, print_table

    cutoffs: list[date] | None = None
    if cutoffs_text:
        cutoffs = [
            day
            for c in cutoffs_text.split(",")
            if (day := parse_date(c.strip(), "--cutoffs", prefer="past")) is not None
        ]
    out = console()
    bar = err_console() if json_out else out
    with (
        Progress(console=bar, transient=True, disable=not bar.is_terminal) as progress,
        session(read_only=True) as s,
    ):
        task = progress.add_task("backtesting cut-offs", total=len(cutoffs) if cutoffs else count)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = backtest_store(
            s,
            resolve_actor(s, as_),
            cutoffs=cutoffs,
            granularity=granularity,  # type: ignore[arg-type]
            count=count,
            simulations=simulations,
            on_step=step,
            currency=currency,
        )
    if json_out:
        emit_json(in_whole_units(report))
        return
    table = Table(title="Backtest: forecast from what was known at each cut-off vs what actually closed")
    for column in (
        "cut-off",
        "period",
        "actual",
        "forecast",
        "80% interval",
        "inside",
        "weight on sim.",
        "simulation",
        "run rate",
        "stage x in-period",
        "stage-weighted",
    ):
        table.add_column(column, justify="right")
    code = report.currency
    for row in report.rows:
        table.add_row(
            row.cutoff,
            row.period,
            money(row.actual, code, whole=True),
            money(row.expected, code, whole=True),
            f"{money(row.p10, code, whole=True)} - {money(row.p90, code, whole=True)}",
            "yes" if row.inside else "[red]no[/]",
            f"{row.blend_weight:.2f}",
            money(row.simulation, code, whole=True),
            money(row.run_rate, code, whole=True),
            money(row.stage_in_period, code, whole=True),
            money(row.stage_weighted, code, whole=True),
        )
    print_table(table, out)
    scores = Table(title=f"Scores over {len(report.rows)} rolling origins (lower is better)")
    for column in ("forecaster", "WAPE", "mean CRPS", "mean 80% interval score", "80% coverage"):
        scores.add_column(column, justify="left" if column == "forecaster" else "right")
    for score in report.scores:
        scores.add_row(
            "forecast (blend)" if score.method == "blend" else score.method,
            f"{score.wape:.1%}",
            money(score.crps, code, whole=True),
            money(score.interval_score, code, whole=True) if score.interval_score is not None else "point",
            f"{score.coverage:.0%}" if score.coverage is not None else "—",
        )
    print_table(scores, out)
    verdict = "at or below" if report.wape <= report.wape_run_rate else "[red]above[/]"
    out.print(
        f"WAPE: forecast {report.wape:.1%} ({verdict} the run-rate baseline's {report.wape_run_rate:.1%}); "
        f"simulation alone {report.wape_simulation:.1%}, stage x in-period win rate {report.wape_stage_in_period:.1%}, "
        f"stage-weighted baseline {report.wape_stage_weighted:.1%}. "
        f"Interval coverage (nominal 80%): total {report.coverage:.0%} of {len(report.rows)} periods; "
        f"per owner {report.owner_coverage:.0%} of {report.owner_cells} owner-periods "
        f"(owner-level WAPE {report.owner_wape:.1%} vs run rate {report.owner_wape_run_rate:.1%}). "
        f"The blend weight at each cut-off was learnt from earlier origins only "
        f"({report.warmup_origins} warm-up periods before the first)."
    )


def _snapshot(today: date | None, as_: str | None, json_out: bool) -> None:
    from analytics.forecast_history import take_snapshot
    from bots.common import console, err_console, resolve_actor, services, session
    from bots.render import emit_json

    out = console()
    with (err_console() if json_out else out).status("taking today's pipeline snapshot..."), session() as s:
        receipt = take_snapshot(
            s, resolve_actor(s, as_), today=today, cache_dir=services().settings.home_dir / "forecast"
        )
    if json_out:
        emit_json(receipt)
        return
    out.print(receipt.describe().capitalize(), highlight=False)


def _history(
    period: str, today: date | None, simulations: int, currency: str | None, as_: str | None, json_out: bool
) -> None:
    from rich.progress import Progress
    from rich.table import Table

    from analytics.forecast_history import forecast_history
    from bots.common import console, err_console, resolve_actor, services, session
    from bots.render import emit_json, money, print_table

    out = console()
    bar = err_console() if json_out else out
    with (
        Progress(console=bar, transient=True, disable=not bar.is_terminal) as progress,
        session(read_only=True) as s,
    ):
        task = progress.add_task("forecasting as of each week", total=None)
        result = forecast_history(
            s,
            resolve_actor(s, as_),
            period,
            today=today,
            currency=currency,
            cache_dir=services().settings.home_dir / "forecast",
            simulations=simulations,
            on_week=lambda: progress.advance(task),
        )
    if json_out:
        emit_json(result)
        return
    code = result.currency
    table = Table(title=f"Forecast of {result.period} week by week ({code})")
    columns = ("week", "as of", "source", "method", "forecast", "80% interval", "change")
    for column in (*columns, "simulation", "run rate", "blend", "won by then", "open deals"):
        table.add_column(column, justify="right" if column not in ("source", "method") else "left")
    previous: float | None = None
    for w in result.weeks:
        table.add_row(
            str(w.week),
            w.as_of,
            w.source,
            w.method,
            money(w.expected, code, whole=True),
            f"{money(w.p10, code, whole=True)} - {money(w.p90, code, whole=True)}",
            "—"
            if previous is None
            else ("+" if w.expected >= previous else "-") + money(abs(w.expected - previous), code, whole=True),
            money(w.simulation, code, whole=True),
            money(w.run_rate, code, whole=True) if w.run_rate is not None else "—",
            money(w.blend, code, whole=True) if w.blend is not None else "—",
            money(w.won_to_date, code, whole=True),
            f"{w.open_deals:,}",
        )
        previous = w.expected
    print_table(table, out, keep_title=True)
    closed = "closed" if result.complete else "won so far"
    out.print(
        f"Actually {closed} in {result.period}: {money(result.actual, code, whole=True)}. "
        f"{result.recorded} week(s) from recorded snapshots, {result.reconstructed} reconstructed from the stage "
        "history as known at the start of that week (amounts and close dates as they are now).",
        highlight=False,
    )


def _accuracy(
    today: date | None, quarters: int, simulations: int, currency: str | None, as_: str | None, json_out: bool
) -> None:
    from rich.progress import Progress
    from rich.table import Table

    from analytics.forecast_history import accuracy_by_week
    from bots.common import console, err_console, resolve_actor, services, session
    from bots.render import emit_json, money, print_table

    out = console()
    bar = err_console() if json_out else out
    with (
        Progress(console=bar, transient=True, disable=not bar.is_terminal) as progress,
        session(read_only=True) as s,
    ):
        task = progress.add_task("forecasting each week of past quarters", total=None)
        result = accuracy_by_week(
            s,
            resolve_actor(s, as_),
            today=today,
            quarters=quarters,
            currency=currency,
            cache_dir=services().settings.home_dir / "forecast",
            simulations=simulations,
            on_week=lambda: progress.advance(task),
        )
    if json_out:
        emit_json(result)
        return

    def pct(v: float | None) -> str:
        return "—" if v is None or v != v else f"{v:.1%}"

    table = Table(title=f"Forecast accuracy by week of quarter ({', '.join(result.quarters)}, {result.currency})")
    for column in ("week", "quarters", "recorded", "reconstructed", "WAPE", "simulation", "run rate", "blend"):
        table.add_column(column, justify="right")
    for w in result.weeks:
        table.add_row(
            str(w.week),
            str(w.quarters),
            str(w.recorded),
            str(w.reconstructed),
            pct(w.wape),
            pct(w.wape_simulation),
            pct(w.wape_run_rate),
            pct(w.wape_blend),
        )
    print_table(table, out, keep_title=True)
    actuals = ", ".join(f"{q} {money(v, result.currency, whole=True)}" for q, v in result.actuals.items())
    out.print(
        f"WAPE = sum |forecast made in week k - what the quarter closed| / sum closed, over the quarters; "
        f"actuals: {actuals}. Reconstructed weeks use the stage history as known at the start of that week. "
        "WAPE is the forecast as reported that week (its chosen method); — = that forecaster was not available in "
        "every quarter (no run rate before three whole months of history).",
        highlight=False,
    )
