"""Uniformity of SBC ranks: the gamma statistic with simultaneous ECDF bands (Säilynoja et al. 2022).

The simultaneous band and the critical value come from ArviZ (``arviz_stats.ecdf_utils``, the
code behind :func:`arviz_plots.plot_ecdf_pit`), the PIT test ``pot_c`` from
``arviz_stats``' ``uniformity_test``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["uniformity_test", "ecdf_band", "familywise_prob"]


def familywise_prob(prob: float, n_quantities: int) -> float:
    """Per-quantity band level that keeps ``n_quantities`` bands jointly at ``prob`` (Bonferroni).

    Each quantity's simultaneous band is a ``prob`` test of that quantity alone: a perfectly
    calibrated model leaves at least one of 41 such bands with probability ``1 - 0.95**41``,
    about 0.88. Testing every band at ``1 - (1 - prob) / n_quantities`` instead keeps the
    chance that a calibrated model leaves any band at most ``1 - prob``, whatever the
    dependence between the quantities.
    """
    if n_quantities < 1:
        raise ValueError(f"n_quantities must be at least 1, got {n_quantities}")
    return 1.0 - (1.0 - prob) / n_quantities


@lru_cache(maxsize=64)
def ecdf_band(
    n: int, prob: float = 0.95, n_simulations: int = 1000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Simultaneous ``prob`` band of the ECDF of ``n`` uniform values.

    Returns
    -------
    eval_points, lower, upper : ndarray
        The band at the evaluation points ``1/n, ..., (n-1)/n``.
    gamma_crit : float
        The ``1 - prob`` quantile of the gamma statistic under uniformity: an ECDF whose gamma
        falls below it leaves the band somewhere.
    """
    from arviz_stats.ecdf_utils import get_pointwise_confidence_band, simulate_confidence_bands

    # The critical value is the (1 - prob) quantile of simulated gammas: keep at least 50
    # simulations in that tail, so high (family-wise) levels get a stable band too.
    n_simulations = max(n_simulations, int(np.ceil(50.0 / (1.0 - prob))))
    eval_points = np.arange(1, n) / n
    # Fixed seed: the band of a given (n, prob) is the same in every report.
    rng = np.random.default_rng(214)
    prob_pointwise = simulate_confidence_bands(n, 1, eval_points, prob, n_simulations, rng)
    lower, upper = get_pointwise_confidence_band(prob_pointwise, n, eval_points)
    return eval_points, lower, upper, float(1.0 - prob_pointwise)


def uniformity_test(pit: np.ndarray, prob: float = 0.95, n_simulations: int = 1000) -> dict[str, float | bool | int]:
    """Test whether PIT values (normalised SBC ranks) are uniform.

    Parameters
    ----------
    pit : array
        Values in (0, 1); NaNs are dropped.
    prob : float
        Level of the simultaneous band.
    n_simulations : int
        Simulations for the band's critical value (raised to at least ``50 / (1 - prob)``).

    Returns
    -------
    dict
        ``n``; ``gamma``, twice the smallest binomial tail probability of the ECDF over the
        evaluation points, and ``gamma_crit``; ``uniform`` (gamma >= gamma_crit: the ECDF stays
        inside the simultaneous band); ``max_ecdf_diff``; ``p_pot_c``, the p-value of ArviZ's
        pointwise order test with Cauchy combination (another uniformity test, for reference).
    """
    from arviz_stats.base import array_stats
    from arviz_stats.ecdf_utils import compute_ecdf
    from scipy.special import bdtr

    pit = np.asarray(pit, dtype=float)
    pit = pit[np.isfinite(pit)]
    n = pit.size
    if n < 2:
        nan = float("nan")
        return {"n": n, "gamma": nan, "gamma_crit": nan, "uniform": False, "max_ecdf_diff": nan, "p_pot_c": nan}
    z, _, _, gamma_crit = ecdf_band(n, prob, n_simulations)
    ecdf = compute_ecdf(pit, z)
    k = np.rint(ecdf * n)
    below = bdtr(k, n, z)  # P(count <= k)
    above = 1.0 - np.where(k >= 1, bdtr(np.maximum(k - 1, 0), n, z), 0.0)  # P(count >= k)
    gamma = float(2.0 * min(below.min(), above.min()))
    p_pot = float(array_stats.uniformity_test(pit, axis=-1, method="pot_c")[0])
    return {
        "n": n,
        "gamma": gamma,
        "gamma_crit": gamma_crit,
        "uniform": bool(gamma >= gamma_crit),
        "max_ecdf_diff": float(np.max(np.abs(ecdf - z))),
        "p_pot_c": p_pot,
    }
