"""Measuring a process change: plan an experiment (power before it starts) and analyse it with intervals.

A plan fixes the primary metric (a conversion rate), the baseline rate, the minimum detectable effect (an absolute
lift), alpha, power and how many times the result will be looked at. Peeking is corrected by splitting alpha
evenly over the planned looks (Bonferroni over looks: conservative, and valid however the looks are spaced), and
the sample size is computed at that per-look alpha, so the stated power holds at the last look. Conversion is
compared by a two-proportion z-test with a Newcombe (Wilson score) interval for the difference; cycle time by a
Mann-Whitney test with a Hodges-Lehmann shift.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel

from sales.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np


class ExperimentPlan(BaseModel):
    baseline_rate: float
    minimum_detectable_effect: float  # absolute lift of the rate, e.g. 0.05 = five points
    alpha: float = 0.05
    power: float = 0.8
    looks: int = 1
    per_arm: int = 0  # filled by plan_experiment

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / self.looks


class ConversionResult(BaseModel):
    control_rate: float
    treatment_rate: float
    difference: float
    low: float  # interval for the difference at 1 - alpha_per_look
    high: float
    p_value: float
    significant: bool
    look: int
    looks: int


def plan_experiment(
    baseline_rate: float, minimum_detectable_effect: float, *, alpha: float = 0.05, power: float = 0.8, looks: int = 1
) -> ExperimentPlan:
    """Cases needed per arm to detect the lift with ``power`` (two-sided, alpha split over ``looks``)."""
    from scipy.stats import norm

    p1, p2 = baseline_rate, baseline_rate + minimum_detectable_effect
    problems = {}
    if not 0 < p1 < 1 or not 0 < p2 < 1:
        problems["rates"] = f"baseline {p1} and baseline + effect {p2} must both lie strictly between 0 and 1"
    if minimum_detectable_effect == 0:
        problems["minimum_detectable_effect"] = "must not be 0"
    if not 0 < alpha < 1 or not 0 < power < 1 or looks < 1:
        problems["alpha/power/looks"] = "alpha and power between 0 and 1, at least one look"
    if problems:
        raise InvalidInput(problems)
    z_a = norm.ppf(1 - alpha / looks / 2)
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
        per_arm=math.ceil(n),
    )


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def compare_conversion(
    control_won: int, control_n: int, treatment_won: int, treatment_n: int, plan: ExperimentPlan, look: int = 1
) -> ConversionResult:
    """Two-proportion z-test (pooled) and Newcombe interval for treatment − control, at the plan's per-look alpha."""
    from scipy.stats import norm

    if control_n <= 0 or treatment_n <= 0:
        raise InvalidInput({"cases": "both arms need at least one case"})
    if not 1 <= look <= plan.looks:
        raise InvalidInput({"look": f"look {look} is outside the plan's {plan.looks} looks"})
    p = two_proportion_p(control_won, control_n, treatment_won, treatment_n)
    z = float(norm.ppf(1 - plan.alpha_per_look / 2))
    r1, r2 = control_won / control_n, treatment_won / treatment_n
    l1, u1 = _wilson(control_won, control_n, z)
    l2, u2 = _wilson(treatment_won, treatment_n, z)
    d = r2 - r1
    low = d - math.sqrt((r2 - l2) ** 2 + (u1 - r1) ** 2)
    high = d + math.sqrt((u2 - r2) ** 2 + (r1 - l1) ** 2)
    return ConversionResult(
        control_rate=r1,
        treatment_rate=r2,
        difference=d,
        low=low,
        high=high,
        p_value=p,
        significant=p < plan.alpha_per_look,
        look=look,
        looks=plan.looks,
    )


def two_proportion_p(k1: np.ndarray | int, n1: np.ndarray | int, k2: np.ndarray | int, n2: np.ndarray | int) -> float:
    """Two-sided pooled z-test p (vectorised: arrays give an array)."""
    import numpy as np
    from scipy.stats import norm

    k1, n1, k2, n2 = (np.asarray(v, dtype=float) for v in (k1, n1, k2, n2))
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (k2 / n2 - k1 / n1) / se, 0.0)
    out = 2 * norm.sf(np.abs(z))
    return out if out.ndim else float(out)


def compare_cycle_times(control_days: np.ndarray, treatment_days: np.ndarray, plan: ExperimentPlan) -> dict[str, float]:
    """Mann-Whitney (two-sided) on cycle times of closed cases, with the Hodges-Lehmann shift (treatment − control).

    Only cases that finished count: open cases are censored and leaving them out favours the faster arm, so run it
    when both arms have closed the same share of their cases (or use a survival comparison).
    """
    import numpy as np
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(control_days, dtype=float), np.asarray(treatment_days, dtype=float)
    if len(a) == 0 or len(b) == 0:
        raise InvalidInput({"cycle_times": "both arms need closed cases"})
    p = float(mannwhitneyu(b, a, alternative="two-sided").pvalue)
    shift = float(np.median(np.subtract.outer(b, a)))
    return {"p_value": p, "shift_days": shift, "significant": float(p < plan.alpha_per_look)}
