"""Diagnostics reported with every fit: divergences, R-hat, ESS, BFMI, in numbers and words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes.person_correlation import parse_names, with_person_correlation
from asem_bayes.registry import get_variant

__all__ = [
    "Diagnostics",
    "diagnose",
    "summary_table",
    "report",
    "uninformed",
    "uninformed_lines",
    "scale_lines",
    "RATING_PARAMS",
]

# Each rating's parameters in its units: (location, parameters in rating points per unit).
RATING_PARAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "state_anxiety": ("c_A_mu", ("c_A_sd", "k_A", "tau_A", "b_safe", "sigma_A")),
    "state_avoidance": ("c_V_mu", ("c_V_sd", "k_V", "tau_V", "b_soft", "b_backfire", "sigma_V")),
    "trait_anxiety": ("m_A", ("l_A", "sigma_TA")),
    "trait_avoidance": ("m_V", ("l_V", "sigma_TV")),
}
RHAT_MAX = 1.01
ESS_MIN = 400  # bulk and tail, all chains together (Vehtari et al. 2021)
BFMI_MIN = 0.3


@dataclass
class Diagnostics:
    """Sampler health of one fit."""

    divergences: int
    n_draws: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    min_bfmi: float
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.warnings

    def lines(self) -> list[str]:
        """The numbers on one line, then each warning (or that all is fine), for printed reports."""
        head = (
            f"divergences: {self.divergences}   max R-hat: {self.max_rhat:.3f}   min ESS bulk/tail: "
            f"{self.min_ess_bulk:.0f}/{self.min_ess_tail:.0f}   min BFMI: {self.min_bfmi:.2f}"
        )
        return [head, *([f"WARNING: {w}" for w in self.warnings] or ["diagnostics: all fine"])]

    def as_dict(self) -> dict[str, Any]:
        return {
            "divergences": self.divergences,
            "n_draws": self.n_draws,
            "max_rhat": self.max_rhat,
            "min_ess_bulk": self.min_ess_bulk,
            "min_ess_tail": self.min_ess_tail,
            "min_bfmi": self.min_bfmi,
            "warnings": list(self.warnings),
        }


def uninformed(fit: xr.DataTree) -> dict[str, str]:
    """Parameters the fit's data cannot inform, with the reason (recorded by the fit); in the
    conditional mode at least the event model's."""
    import json

    if "uninformed" in fit.attrs:
        return dict(json.loads(fit.attrs["uninformed"]))
    v = get_variant(fit.attrs.get("asem_variant", "asem"))
    if fit.attrs.get("asem_mode") != "conditional":
        return {}
    why = "event-model parameter: the conditional mode does not score events (fit with mode='joint')"
    return {p.name: why for p in v.params if p.group == "events"}


def _population_names(fit: xr.DataTree) -> list[str]:
    """Population parameters the fit's likelihood informs (an uninformed one's posterior is its
    prior, so it is left out of the estimates), then covariate coefficients ``beta_<param>``, then
    the correlations of correlated person-level effects ``corr_<a>_<b>`` (docs/model.md section 18)."""
    v = get_variant(fit.attrs.get("asem_variant", "asem"))
    skip = uninformed(fit)
    betas = [pp.effect_name for pp in v.person_params if pp.effect_name in fit.posterior]
    v = with_person_correlation(v, parse_names(fit.attrs.get("person_correlation")))
    corrs = [c for c in v.correlation_names if c in fit.posterior]
    return [p.name for p in v.params if p.name in fit.posterior and p.name not in skip] + betas + corrs


def uninformed_lines(missing: dict[str, str]) -> list[str]:
    """Uninformed parameters grouped by reason, one short line per reason."""
    by_reason: dict[str, list[str]] = {}
    for name, why in missing.items():
        by_reason.setdefault(why, []).append(name)
    return [f"  {', '.join(names)}: {why}" for why, names in by_reason.items()]


def scale_lines(fit: xr.DataTree) -> list[str]:
    """Which scale each rating was fitted on and how to read its estimates in the data's units
    (from the study's ``rating_scales``, recorded by :func:`asem_bayes.data.load_diary`)."""
    import json

    raw = fit.attrs.get("rating_scales")
    if not raw:
        return []
    lines = ["Rating scales (the priors assume ratings and trait scores on 1..7):"]
    for name, rec in json.loads(raw).items():
        loc, per_point = RATING_PARAMS[name]
        if rec.get("rescaled"):
            (lo, hi), a = rec["declared"], rec["units_per_point"]
            lines.append(
                f"  {name}: declared {lo:g}..{hi:g}, fitted rescaled to 1..7 (1 + 6 * (x - {lo:g}) / {hi - lo:g}); "
                f"in the original units {loc} is {lo:g} + {a:.4g} * ({loc} - 1) and {', '.join(per_point)} "
                f"are x {a:.4g}"
            )
        elif rec.get("likert"):
            lines.append(f"  {name}: ordinal on its 1..{rec['likert']} Likert categories")
        elif rec.get("declared"):
            lo, hi = rec["declared"]
            lines.append(f"  {name}: declared {lo:g}..{hi:g}, the priors' scale: fitted as read")
        else:
            lines.append(f"  {name}: used as read (no range declared; assumed to be on about 1..7)")
    return lines


def diagnose(fit: xr.DataTree, var_names: list[str] | None = None) -> Diagnostics:
    """Divergences, worst R-hat and ESS over ``var_names`` (default: population and person
    parameters) and the lowest chain BFMI, with warnings in words."""
    post = fit.posterior
    if var_names is None:
        v = get_variant(fit.attrs.get("asem_variant", "asem"))
        var_names = [n for n in v.param_names + v.person_param_names if n in post]
    ds = post.to_dataset()[var_names]
    rhat = az.rhat(ds)
    ess_b = az.ess(ds, method="bulk")
    ess_t = az.ess(ds, method="tail")

    def _min(x: xr.Dataset) -> float:
        return float(min(np.nanmin(v.values) for v in x.data_vars.values()))

    max_rhat = float(max(np.nanmax(v.values) for v in rhat.data_vars.values()))
    min_eb, min_et = _min(ess_b), _min(ess_t)
    ss = fit.sample_stats
    div = int(ss["diverging"].sum()) if "diverging" in ss else 0
    n = int(post.sizes["chain"] * post.sizes["draw"])
    if "energy" in ss:
        # ArviZ 1 returns the per-chain BFMI in a DataTree/Dataset mirroring sample_stats
        bfmi = float(np.min(az.bfmi(fit)["energy"].values))
    else:  # samplers that store no energy
        bfmi = float("nan")
    warn = []
    if div:
        warn.append(
            f"{div} divergent transition(s) of {n}: the posterior geometry is hard; "
            "raise target_accept or reparameterise"
        )
    if max_rhat > RHAT_MAX:
        warn.append(f"max R-hat {max_rhat:.3f} > {RHAT_MAX}: chains disagree, run longer or check the model")
    if min(min_eb, min_et) < ESS_MIN:
        warn.append(f"min ESS (bulk {min_eb:.0f}, tail {min_et:.0f}) < {ESS_MIN}: intervals are noisy, draw more")
    if np.isfinite(bfmi) and bfmi < BFMI_MIN:
        warn.append(
            f"min BFMI {bfmi:.2f} < {BFMI_MIN}: energy transitions are poor, the sampler explores the tails badly"
        )
    return Diagnostics(div, n, max_rhat, min_eb, min_et, bfmi, warn)


def summary_table(fit: xr.DataTree, truth: dict[str, Any] | None = None, ci_prob: float = 0.9) -> pd.DataFrame:
    """Population parameters: mean, sd, equal-tailed interval, R-hat and ESS (and the truth,
    whether the interval covers it, when ``truth`` is given)."""
    names = _population_names(fit)
    tab = az.summary(fit, var_names=names, ci_prob=ci_prob, ci_kind="eti", round_to="none")
    if truth is not None:
        cols = [c for c in tab.columns if c.startswith("eti")]
        lo_col, hi_col = cols[0], cols[1]
        tab.insert(0, "truth", [_truth_value(truth, n) for n in tab.index])
        tab["covered"] = (tab["truth"] >= tab[lo_col]) & (tab["truth"] <= tab[hi_col])
    return tab


def _truth_value(truth: dict[str, Any], label: str) -> float:
    """The true value of a summary row ``name``, or ``name[coord]`` of a labelled coefficient
    (``beta_s0[arm]``, a DataArray in :func:`asem_bayes.true_params`); NaN when unknown."""
    name, _, coord = label.partition("[")
    x = truth.get(name)
    if x is None:
        return np.nan
    if not coord:
        return float(x)
    return float(x.sel({x.dims[0]: coord.rstrip("]")})) if isinstance(x, xr.DataArray) else np.nan


def report(fit: xr.DataTree, truth: dict[str, Any] | None = None, ci_prob: float = 0.9) -> str:
    """A printable summary: population estimates with intervals and the diagnostics in words."""
    tab = summary_table(fit, truth, ci_prob)
    d = diagnose(fit)
    lines = [
        f"ASEM variant {fit.attrs.get('asem_variant')!r} ({fit.attrs.get('asem_mode')} mode), "
        f"sampler {fit.attrs.get('sampler')}, {d.n_draws} draws",
        tab.to_string(float_format=lambda x: f"{x:.3f}"),
        "",
        d.lines()[0],
    ]
    if truth is not None and "covered" in tab:
        lines.append(
            f"{int(tab['covered'].sum())} of {len(tab)} population parameters covered by their {ci_prob:.0%} interval"
        )
    missing = uninformed(fit)
    if missing:
        lines.append(
            f"Not estimated: {len(missing)} parameter(s) that these data cannot inform (their posterior is their "
            "prior, so they are not in the table and should not be read as estimates):"
        )
        lines += uninformed_lines(missing)
    lines += d.lines()[1:]
    lines += scale_lines(fit)
    notes = fit.attrs.get("notes")
    if notes:
        lines.append(f"notes: {notes}")
    return "\n".join(lines)
