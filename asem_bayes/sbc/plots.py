"""SBC plots: ECDF difference with simultaneous bands (ArviZ), rank histograms, z-score versus contraction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from asem_bayes.sbc.compute import SBCResult

__all__ = ["plot_ecdf_diff", "plot_rank_hist", "plot_z_contraction"]


def _select(result: SBCResult, quantities: Sequence[str] | None) -> list[str]:
    names = [str(q) for q in result.table["quantity"].values]
    if quantities is None:
        return names
    unknown = sorted(set(quantities) - set(names))
    if unknown:
        raise KeyError(f"unknown quantities {unknown}; have {names}")
    return list(quantities)


def plot_ecdf_diff(
    result: SBCResult, path: str | Path | None = None, *, prob: float = 0.95, quantities: Sequence[str] | None = None
) -> Any:
    """ECDF of the PIT values minus the uniform CDF, with the simultaneous ``prob`` band.

    The band is ArviZ's (:func:`asem_bayes.sbc.stats.ecdf_band`, the band of Säilynoja et al.
    2022 that :func:`arviz_plots.plot_ecdf_pit` draws with ``method="envelope"``; that method
    fails in arviz-plots 1.3.2, so the curves are drawn here with matplotlib). A curve that
    leaves the grey band is evidence against calibration: above zero on the left and below on
    the right means truths pile up in the tails (posteriors too narrow, overconfident); below
    then above means truths sit near the middle too often (posteriors too wide); a curve mostly
    above zero means the truth tends to lie below the posterior (overestimation), mostly below
    zero the reverse.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from asem_bayes.sbc.stats import ecdf_band

    names = _select(result, quantities)
    uni = result.uniformity(prob)
    fig, axes = _grid(len(names))
    for ax, q in zip(axes, names, strict=False):
        pit = result.table["pit"].sel(quantity=q).values
        pit = np.sort(pit[np.isfinite(pit)])
        n = pit.size
        if n < 2:
            ax.set_title(f"{q} (no data)", fontsize=9)
            continue
        z, lo, hi, _ = ecdf_band(n, prob)
        zz = np.concatenate([[0.0], z, [1.0]])
        ax.fill_between(zz, np.concatenate([[0.0], lo - z, [0.0]]), np.concatenate([[0.0], hi - z, [0.0]]),
                        step="post", color="0.85", lw=0)
        x = np.concatenate([[0.0], pit, [1.0]])
        y = np.concatenate([[0.0], np.arange(1, n + 1) / n, [1.0]])
        ax.step(x, y - x, where="post", color="C0" if uni.loc[q, "uniform"] else "C3", lw=1.2)
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_title(f"{q}  (γ={uni.loc[q, 'gamma']:.2g})", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.supxlabel("PIT (normalised rank)")
    fig.supylabel("ECDF - uniform")
    fig.suptitle(f"SBC: ECDF difference, {prob:.0%} simultaneous band ({result.n_sims} simulations; red: outside)")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _grid(n: int, ncol: int = 5):
    import matplotlib.pyplot as plt

    ncol = min(ncol, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.0 * nrow), squeeze=False, constrained_layout=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_rank_hist(
    result: SBCResult,
    path: str | Path | None = None,
    *,
    bins: int | None = None,
    prob: float = 0.99,
    quantities: Sequence[str] | None = None,
) -> Any:
    """Histogram of the ranks per quantity with the ``prob`` binomial range of a uniform bin count.

    Bars outside the grey band in one bin are expected now and then (it is a pointwise band);
    shapes matter: a U means posteriors too narrow, a hump too wide, a slope bias.
    """
    from scipy.stats import binom

    names = _select(result, quantities)
    n, L = result.n_sims, result.n_ranks
    if bins is None:  # about 10 simulations per bin, at most 20 bins, and bins that split 0..L evenly
        bins = max(2, min(20, n // 10))
    edges = np.linspace(-0.5, L + 0.5, bins + 1)
    lo, hi = binom.ppf([(1 - prob) / 2, (1 + prob) / 2], n, 1.0 / bins)
    fig, axes = _grid(len(names))
    # Fits ranked on different numbers of draws (thinned to their ESS) share a PIT scale only.
    varying = "n_draws" in result.table and np.unique(result.table["n_draws"].values).size > 1
    if varying:
        edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, q in zip(axes, names, strict=False):
        r = result.table["pit" if varying else "rank"].sel(quantity=q).values
        r = r[np.isfinite(r)]
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(n / bins, color="0.5", lw=0.8)
        ax.hist(r, bins=edges, color="C0", edgecolor="white")
        ax.set_title(q, fontsize=9)
        ax.set_yticks([])
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, max(hi, np.histogram(r, bins=edges)[0].max()) * 1.05)
    scale = "PIT, draws per fit thinned to its ESS" if varying else f"ranks 0..{L}"
    fig.suptitle(f"SBC rank histograms ({n} simulations, {scale}, {bins} bins, {prob:.0%} band)")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_z_contraction(result: SBCResult, path: str | Path | None = None) -> Any:
    """Posterior z-score against posterior contraction, one panel per parameter.

    Contraction near 1 means the data pin the parameter down, near 0 that the posterior is the
    prior. z-scores should mostly lie within +-2; large ones at high contraction mean the
    posterior is confidently wrong (overfitting or a bug), low contraction means the design
    cannot identify the parameter.
    """
    z = result.zscores()
    c = result.contraction()
    names = [str(q) for q in z["quantity"].values]
    fig, axes = _grid(len(names))
    for ax, q in zip(axes, names, strict=False):
        ax.axhspan(-2, 2, color="0.9", zorder=0)
        ax.scatter(c.sel(quantity=q).values, z.sel(quantity=q).values, s=8, alpha=0.7)
        ax.set_xlim(min(-0.05, float(np.nanmin(c.sel(quantity=q).values)) - 0.05), 1.05)
        ax.set_title(q, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.supxlabel("posterior contraction")
    fig.supylabel("z-score")
    fig.suptitle(f"SBC: z-score vs contraction ({result.n_sims} simulations)")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
