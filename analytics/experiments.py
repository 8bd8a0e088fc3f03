"""Measuring a process change: plan an experiment (power before it starts) and analyse it with intervals.

A plan fixes the primary metric, the baseline, the minimum detectable effect, alpha, power and how many times the
result will be looked at. Peeking is corrected by a Lan-DeMets alpha-spending function (O'Brien-Fleming type by
default): by information fraction t the test may have spent only alpha(t) of its alpha, and each look's boundary
is computed exactly (recursive numerical integration over the earlier looks), so a look that was not planned is
allowed and simply spends what the function allows at its t. The sample size is the fixed-sample size inflated
so the stated power holds over the planned looks.

Conversion is compared by a two-proportion z-test with a Newcombe (Wilson score) interval at the look's nominal
level (a repeated confidence interval) and by a beta-binomial posterior (probability B > A, credible interval of
the difference). Cycle time is compared by Kaplan-Meier curves per arm with a log-rank test (open cases are
censored, not dropped) and, for closed cases only, Mann-Whitney with a Hodges-Lehmann shift.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from sales.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

Spending = Literal["obrien_fleming", "pocock"]
_GRID = 601  # points of the sub-density grid per look; accurate to ~1e-6 in crossing probability
_SAME_LOOK = 0.01  # a look whose information grew less than this since the last is the same look


# -- alpha spending ------------------------------------------------------------------------------------------


def alpha_spent(t: float, alpha: float, spending: Spending = "obrien_fleming") -> float:
    """Alpha the test may have spent by information fraction ``t`` (Lan-DeMets; two-sided)."""
    from scipy.stats import norm

    t = min(max(t, 0.0), 1.0)
    if t <= 0:
        return 0.0
    if spending == "pocock":
        return alpha * math.log(1 + (math.e - 1) * t)
    # alpha / 2 per side by the one-sided O'Brien-Fleming-type function, as rpact and gsDesign do two-sided
    return float(4 - 4 * norm.cdf(norm.ppf(1 - alpha / 4) / math.sqrt(t)))


def _step(
    grid: np.ndarray, weights: np.ndarray, t_prev: float, t: float, drift: float
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional mean and sd of Z at ``t`` given Z = grid at ``t_prev`` (Brownian motion with ``drift``)."""
    import numpy as np

    delta = t - t_prev
    mean = (grid * math.sqrt(t_prev) + drift * delta) / math.sqrt(t)
    return mean, np.full_like(mean, math.sqrt(delta / t))


def _crossing(c: float, mean: np.ndarray, sd: np.ndarray, weights: np.ndarray) -> float:
    from scipy.stats import norm

    return float(weights @ (norm.cdf((-c - mean) / sd) + norm.sf((c - mean) / sd)))


def _solve(target: float, mean: np.ndarray, sd: np.ndarray, weights: np.ndarray) -> float:
    """The |z| whose crossing probability is ``target``."""
    from scipy.optimize import brentq

    if _crossing(0.0, mean, sd, weights) <= target:
        return 0.0
    return float(brentq(lambda x: _crossing(x, mean, sd, weights) - target, 0.0, 40.0))


def sequential_boundaries(
    fractions: Sequence[float], alpha: float, spending: Spending = "obrien_fleming"
) -> list[float]:
    """Two-sided |z| critical values at looks taken at information ``fractions`` (increasing, the last may be 1),
    spending ``alpha_spent(t) - alpha_spent(t_prev)`` at each look exactly, given that no earlier look crossed."""
    return list(_null_boundaries(tuple(float(t) for t in fractions), alpha, spending))


@lru_cache(maxsize=256)
def _null_boundaries(fractions: tuple[float, ...], alpha: float, spending: Spending) -> tuple[float, ...]:
    boundaries, _ = _sequential(fractions, alpha, spending, drift=0.0, boundaries=None)
    return tuple(boundaries)


def crossing_probability(fractions: Sequence[float], boundaries: Sequence[float], drift: float) -> float:
    """P(some look crosses its boundary) when the standardised effect is ``drift`` (Z at t=1 has mean drift)."""
    _, crossed = _sequential(fractions, 0.0, "obrien_fleming", drift=drift, boundaries=list(boundaries))
    return crossed


def _sequential(
    fractions: Sequence[float], alpha: float, spending: Spending, *, drift: float, boundaries: list[float] | None
) -> tuple[list[float], float]:
    import numpy as np
    from scipy.stats import norm

    ts = [min(float(t), 1.0) for t in fractions]
    if not ts or any(t <= 0 for t in ts) or any(b <= a for a, b in itertools.pairwise(ts)):
        raise InvalidInput({"looks": f"information fractions must increase and lie in (0, 1]: {ts}"})
    found: list[float] = []
    crossed_total = 0.0
    grid = weights = None
    t_prev = 0.0
    for k, t in enumerate(ts):
        if grid is None or weights is None:
            mean, sd = np.array([drift * math.sqrt(t)]), np.array([1.0])
            w = np.array([1.0])
        else:
            mean, sd = _step(grid, weights, t_prev, t, drift)
            w = weights
        if boundaries is None:
            target = alpha_spent(t, alpha, spending) - alpha_spent(t_prev, alpha, spending)
            c = 40.0 if target <= 1e-12 else _solve(target, mean, sd, w)
        else:
            c = boundaries[k]
        found.append(c)
        crossed_total += _crossing(c, mean, sd, w)
        # the sub-density of Z at this look on the continuation region (-c, c), for the next look
        if k + 1 < len(ts):
            edge = min(c, 12.0)
            grid_next = np.linspace(-edge, edge, _GRID)
            step = grid_next[1] - grid_next[0]
            trapezoid = np.full(_GRID, step)
            trapezoid[[0, -1]] = step / 2
            density = (w[:, None] * norm.pdf((grid_next[None, :] - mean[:, None]) / sd[:, None]) / sd[:, None]).sum(0)
            grid, weights = grid_next, density * trapezoid
        t_prev = t
    return found, crossed_total


# -- plans ---------------------------------------------------------------------------------------------------


class ExperimentPlan(BaseModel):
    metric: Literal["conversion", "cycle_time"] = "conversion"
    baseline_rate: float  # conversion: the control's rate; cycle time: share of cases that reach the target
    minimum_detectable_effect: float  # conversion: absolute lift (0.05 = five points); cycle: relative (-0.2)
    alpha: float = 0.05
    power: float = 0.8
    looks: int = 1
    spending: Spending = "obrien_fleming"
    per_arm: int = 0  # cases per arm at the last planned look (filled by plan_experiment / plan_cycle_time)
    events: int = 0  # cycle time: events (cases reaching the target) needed over both arms
    fixed_per_arm: int = 0  # what a single look would need: the price of the planned looks is the difference

    @property
    def planned_fractions(self) -> list[float]:
        return [k / self.looks for k in range(1, self.looks + 1)]

    def boundaries(self) -> list[float]:
        """|z| critical values at the planned looks."""
        return sequential_boundaries(self.planned_fractions, self.alpha, self.spending)


@lru_cache(maxsize=64)
def _inflation(alpha: float, power: float, looks: int, spending: Spending) -> float:
    """How much more information the planned looks need than one look for the same power."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    fixed = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    if looks == 1:
        return 1.0
    fractions = [k / looks for k in range(1, looks + 1)]
    bounds = sequential_boundaries(fractions, alpha, spending)
    drift = brentq(lambda d: crossing_probability(fractions, bounds, d) - power, fixed * 0.5, fixed * 3)
    return float((drift / fixed) ** 2)


def _check(alpha: float, power: float, looks: int) -> None:
    if not 0 < alpha < 1 or not 0 < power < 1 or not 1 <= looks <= 20:
        raise InvalidInput({"alpha/power/looks": "alpha and power between 0 and 1, from 1 to 20 looks"})


def plan_experiment(
    baseline_rate: float,
    minimum_detectable_effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    looks: int = 1,
    spending: Spending = "obrien_fleming",
) -> ExperimentPlan:
    """Cases needed per arm to detect the conversion lift with ``power`` (two-sided, over the planned looks)."""
    from scipy.stats import norm

    p1, p2 = baseline_rate, baseline_rate + minimum_detectable_effect
    problems = {}
    if not 0 < p1 < 1 or not 0 < p2 < 1:
        problems["rates"] = f"baseline {p1:.3f} and baseline + effect {p2:.3f} must both lie strictly between 0 and 1"
    if minimum_detectable_effect == 0:
        problems["minimum_detectable_effect"] = "must not be 0"
    if problems:
        raise InvalidInput(problems)
    _check(alpha, power, looks)
    z_a = norm.ppf(1 - alpha / 2)
    z_b = norm.ppf(power)
    p_bar = (p1 + p2) / 2
    n = (z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (
        minimum_detectable_effect**2
    )
    return ExperimentPlan(
        baseline_rate=p1,
        minimum_detectable_effect=minimum_detectable_effect,
        alpha=alpha,
        power=power,
        looks=looks,
        spending=spending,
        per_arm=math.ceil(n * _inflation(alpha, power, looks, spending)),
        fixed_per_arm=math.ceil(n),
    )


def plan_cycle_time(
    event_share: float,
    relative_change: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    looks: int = 1,
    spending: Spending = "obrien_fleming",
) -> ExperimentPlan:
    """Events and cases per arm for a log-rank test to detect a ``relative_change`` of the time to the target
    (-0.2: 20 % faster), assuming proportional hazards (hazard ratio 1 / (1 + change); Schoenfeld's formula) and
    that ``event_share`` of the cases reach the target while observed."""
    from scipy.stats import norm

    problems = {}
    if not -0.95 <= relative_change <= 5 or relative_change == 0:
        problems["minimum_detectable_effect"] = "a relative change of the time, e.g. -0.2 for 20 % faster"
    if not 0 < event_share <= 1:
        problems["baseline"] = f"the share of cases that reach the target must be in (0, 1], not {event_share:.3f}"
    if problems:
        raise InvalidInput(problems)
    _check(alpha, power, looks)
    log_hr = math.log(1 / (1 + relative_change))
    events_fixed = 4 * (norm.ppf(1 - alpha / 2) + norm.ppf(power)) ** 2 / log_hr**2
    events = math.ceil(events_fixed * _inflation(alpha, power, looks, spending))
    return ExperimentPlan(
        metric="cycle_time",
        baseline_rate=event_share,
        minimum_detectable_effect=relative_change,
        alpha=alpha,
        power=power,
        looks=looks,
        spending=spending,
        events=events,
        per_arm=math.ceil(events / 2 / event_share),
        fixed_per_arm=math.ceil(events_fixed / 2 / event_share),
    )


class LookBoundary(BaseModel):
    look: int  # 1-based, counting every look taken so far (planned or not)
    information: float  # fraction of the planned information, capped at 1
    boundary: float  # |z| at or above which this look rejects
    nominal_alpha: float  # the two-sided p that boundary corresponds to
    spent: float  # alpha spent by this look
    final: bool


def look_boundary(
    earlier: Sequence[float], information: float, plan: ExperimentPlan, *, force_final: bool = False
) -> LookBoundary:
    """The boundary of a look at ``information`` after looks at ``earlier`` fractions (each recorded look counts,
    planned or not). At information >= 1 (or ``force_final``) the look is the last and spends all of alpha."""
    from scipy.stats import norm

    final = information >= 1 - 1e-9 or force_final
    t = 1.0 if final else information
    fractions = [*earlier, t]
    bounds = sequential_boundaries(fractions, plan.alpha, plan.spending)
    c = bounds[-1]
    return LookBoundary(
        look=len(fractions),
        information=t,
        boundary=c,
        nominal_alpha=float(2 * norm.sf(c)),
        spent=alpha_spent(t, plan.alpha, plan.spending),
        final=final,
    )


def is_same_look(earlier: Sequence[float], information: float) -> bool:
    """Too little new information since the last look for a look of its own (the last look stands)."""
    return bool(earlier) and min(information, 1.0) - earlier[-1] < _SAME_LOOK


# -- conversion ----------------------------------------------------------------------------------------------


class ConversionResult(BaseModel):
    control_rate: float
    treatment_rate: float
    difference: float
    low: float  # repeated confidence interval for the difference at the look's nominal level
    high: float
    z: float
    p_value: float  # unadjusted two-sided p (compare with nominal_alpha, not with alpha)
    boundary: float
    nominal_alpha: float
    significant: bool


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def compare_conversion(
    control_won: int, control_n: int, treatment_won: int, treatment_n: int, boundary: float
) -> ConversionResult:
    """Two-proportion z-test (pooled) against a look's |z| ``boundary``, and the Newcombe interval for
    treatment − control at the boundary's level (so it excludes 0 exactly when the look rejects, up to the
    interval's own approximation)."""
    from scipy.stats import norm

    if control_n <= 0 or treatment_n <= 0:
        raise InvalidInput({"cases": "both arms need at least one case"})
    z = two_proportion_z(control_won, control_n, treatment_won, treatment_n)
    r1, r2 = control_won / control_n, treatment_won / treatment_n
    zc = min(boundary, 8.0)
    l1, u1 = _wilson(control_won, control_n, zc)
    l2, u2 = _wilson(treatment_won, treatment_n, zc)
    d = r2 - r1
    low = d - math.sqrt((r2 - l2) ** 2 + (u1 - r1) ** 2)
    high = d + math.sqrt((u2 - r2) ** 2 + (r1 - l1) ** 2)
    return ConversionResult(
        control_rate=r1,
        treatment_rate=r2,
        difference=d,
        low=low,
        high=high,
        z=z,
        p_value=float(2 * norm.sf(abs(z))),
        boundary=boundary,
        nominal_alpha=float(2 * norm.sf(boundary)),
        significant=abs(z) >= boundary,
    )


def two_proportion_z(k1: np.ndarray | int, n1: np.ndarray | int, k2: np.ndarray | int, n2: np.ndarray | int) -> float:
    """Pooled z of treatment (2) − control (1) (vectorised: arrays give an array)."""
    import numpy as np

    k1, n1, k2, n2 = (np.asarray(v, dtype=float) for v in (k1, n1, k2, n2))
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (k2 / n2 - k1 / n1) / np.where(se > 0, se, 1), 0.0)
    return z if z.ndim else float(z)  # type: ignore[return-value]


def two_proportion_p(k1: np.ndarray | int, n1: np.ndarray | int, k2: np.ndarray | int, n2: np.ndarray | int) -> float:
    """Two-sided pooled z-test p (vectorised)."""
    import numpy as np
    from scipy.stats import norm

    out = 2 * norm.sf(np.abs(two_proportion_z(k1, n1, k2, n2)))
    return out if out.ndim else float(out)


class BetaBinomialResult(BaseModel):
    prior: tuple[float, float]
    control_posterior: tuple[float, float]  # Beta(a, b) of the control's rate
    treatment_posterior: tuple[float, float]
    mean_difference: float  # posterior mean of treatment − control
    low: float  # equal-tailed credible interval of the difference
    high: float
    level: float
    probability_treatment_better: float  # P(treatment rate > control rate | data)


@lru_cache(maxsize=2)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    return np.polynomial.legendre.leggauss(n)


def beta_binomial(
    control_won: int,
    control_n: int,
    treatment_won: int,
    treatment_n: int,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    level: float = 0.95,
) -> BetaBinomialResult:
    """Posterior of each arm's rate under a Beta ``prior`` and of their difference: P(B > A) and a credible
    interval, by numerical integration of the difference's distribution (no sampling, so the same data give the
    same answer)."""
    import numpy as np
    from scipy.optimize import brentq
    from scipy.special import betainc
    from scipy.stats import beta

    if control_n < 0 or treatment_n < 0 or not 0 <= control_won <= control_n or not 0 <= treatment_won <= treatment_n:
        raise InvalidInput({"cases": "counts must satisfy 0 <= converted <= cases"})
    a0, b0 = prior
    pa = (a0 + control_won, b0 + control_n - control_won)
    pb = (a0 + treatment_won, b0 + treatment_n - treatment_won)
    dist_a = beta(*pa)
    # Gauss-Legendre nodes over the control posterior's whole mass (both densities are smooth there)
    lo_a, hi_a = float(dist_a.ppf(1e-12)), float(dist_a.ppf(1 - 1e-12))
    nodes, weights = _gauss_legendre(400)
    x = (hi_a - lo_a) / 2 * nodes + (hi_a + lo_a) / 2
    w = weights * (hi_a - lo_a) / 2 * dist_a.pdf(x)
    w = w / w.sum()

    def cdf(d: float) -> float:
        """P(B − A <= d) = ∫ f_A(x) F_B(x + d) dx."""
        return float(min(max(float(w @ betainc(pb[0], pb[1], np.clip(x + d, 0.0, 1.0))), 0.0), 1.0))

    tail = (1 - level) / 2
    low = float(brentq(lambda d: cdf(d) - tail, -1.0, 1.0, xtol=1e-7))
    high = float(brentq(lambda d: cdf(d) - (1 - tail), -1.0, 1.0, xtol=1e-7))
    return BetaBinomialResult(
        prior=prior,
        control_posterior=pa,
        treatment_posterior=pb,
        mean_difference=pb[0] / (pb[0] + pb[1]) - pa[0] / (pa[0] + pa[1]),
        low=low,
        high=high,
        level=level,
        probability_treatment_better=1 - cdf(0.0),
    )


# -- cycle time ----------------------------------------------------------------------------------------------


class SurvivalCurve(BaseModel):
    times: list[float]  # distinct event times
    survival: list[float]  # S(t) just after each time: the share not yet at the target
    at_risk: list[int]
    events: list[int]
    cases: int
    total_events: int
    median: float | None  # first time S <= 0.5; None: not reached
    median_low: float | None  # Brookmeyer-Crowley style interval from the log-log pointwise band
    median_high: float | None  # None: the upper end is not reached yet


def kaplan_meier(durations: Sequence[float], observed: Sequence[bool], level: float = 0.95) -> SurvivalCurve:
    """Product-limit estimate of the time to the target; ``observed`` False means censored (still open, or left
    without reaching it). A case censored at an event time is still at risk at that time."""
    from scipy.stats import norm

    if len(durations) != len(observed):
        raise InvalidInput({"cases": "durations and observed flags differ in length"})
    pairs = sorted(zip((float(d) for d in durations), (bool(o) for o in observed), strict=True))
    z = float(norm.ppf(1 - (1 - level) / 2))
    n = len(pairs)
    times: list[float] = []
    surv: list[float] = []
    risk: list[int] = []
    evs: list[int] = []
    lows: list[float] = []
    highs: list[float] = []
    s, greenwood, i = 1.0, 0.0, 0
    while i < n:
        t = pairs[i][0]
        at_risk = n - i
        deaths = ended = 0
        while i < n and pairs[i][0] == t:
            deaths += pairs[i][1]
            ended += 1
            i += 1
        if deaths:
            s *= 1 - deaths / at_risk
            if at_risk > deaths:
                greenwood += deaths / (at_risk * (at_risk - deaths))
            times.append(t)
            surv.append(s)
            risk.append(at_risk)
            evs.append(deaths)
            if 0 < s < 1:
                # log(-log S) band: stays inside (0, 1)
                se = math.sqrt(greenwood) / abs(math.log(s))
                lows.append(s ** math.exp(z * se))
                highs.append(s ** math.exp(-z * se))
            else:
                lows.append(s)
                highs.append(s)
        del ended

    def first_at_or_below(values: list[float]) -> float | None:
        return next((t for t, v in zip(times, values, strict=True) if v <= 0.5 + 1e-12), None)

    return SurvivalCurve(
        times=times,
        survival=surv,
        at_risk=risk,
        events=evs,
        cases=n,
        total_events=sum(evs),
        median=first_at_or_below(surv),
        median_low=first_at_or_below(lows),
        median_high=first_at_or_below(highs),
    )


class LogRankResult(BaseModel):
    z: float  # (observed − expected) events of the treatment over sqrt(variance): > 0 means the treatment is faster
    p_value: float
    hazard_ratio: float  # Peto's one-step estimate, treatment vs control: > 1 means faster to the target
    events_control: int
    events_treatment: int
    expected_treatment: float


def log_rank(
    control_durations: Sequence[float],
    control_observed: Sequence[bool],
    treatment_durations: Sequence[float],
    treatment_observed: Sequence[bool],
) -> LogRankResult:
    """The log-rank test of equal hazards of reaching the target, censored cases included (hypergeometric
    variance at each distinct event time)."""
    from scipy.stats import norm

    rows = [(float(d), bool(o), 0) for d, o in zip(control_durations, control_observed, strict=True)]
    rows += [(float(d), bool(o), 1) for d, o in zip(treatment_durations, treatment_observed, strict=True)]
    rows.sort()
    at_risk = [sum(1 for r in rows if r[2] == 0), sum(1 for r in rows if r[2] == 1)]
    observed_b = expected_b = variance = 0.0
    events = [0, 0]
    i = 0
    while i < len(rows):
        t = rows[i][0]
        d = [0, 0]
        left = [0, 0]
        while i < len(rows) and rows[i][0] == t:
            _, seen, arm = rows[i]
            d[arm] += seen
            left[arm] += 1
            i += 1
        total_d, total_n = d[0] + d[1], at_risk[0] + at_risk[1]
        if total_d and total_n:
            expected_b += total_d * at_risk[1] / total_n
            observed_b += d[1]
            if total_n > 1:
                variance += (
                    total_d * (at_risk[0] / total_n) * (at_risk[1] / total_n) * (total_n - total_d) / (total_n - 1)
                )
        events[0] += d[0]
        events[1] += d[1]
        at_risk[0] -= left[0]
        at_risk[1] -= left[1]
    if variance <= 0:
        raise InvalidInput({"cases": "too few cases reached the target in the two arms for a log-rank test"})
    z = (observed_b - expected_b) / math.sqrt(variance)
    return LogRankResult(
        z=z,
        p_value=float(2 * norm.sf(abs(z))),
        hazard_ratio=math.exp((observed_b - expected_b) / variance),
        events_control=events[0],
        events_treatment=events[1],
        expected_treatment=expected_b,
    )


def compare_cycle_times(control_days: np.ndarray, treatment_days: np.ndarray) -> dict[str, float]:
    """Mann-Whitney (two-sided) on cycle times of cases that reached the target, with the Hodges-Lehmann shift
    (treatment − control). Descriptive only: open cases are left out, which favours the faster arm; the
    decision is the log-rank test, which keeps them as censored."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(control_days, dtype=float), np.asarray(treatment_days, dtype=float)
    if len(a) == 0 or len(b) == 0:
        raise InvalidInput({"cycle_times": "both arms need cases that reached the target"})
    p = float(mannwhitneyu(b, a, alternative="two-sided").pvalue)
    shift = float(np.median(np.subtract.outer(b, a)))
    return {"p_value": p, "shift_days": shift}
