"""Plots a modeller expects from an ASEM fit; each function returns a matplotlib Figure.

ArviZ draws what it has a plot for (posterior predictive densities, model comparison); the
ASEM-specific views (latent trajectories over days, a dyad's event timeline, recovery scatter,
the trait-wave change check) are drawn with matplotlib on numbers computed with xarray.

All functions take the :class:`xarray.DataTree` that :meth:`asem_bayes.model.CompiledModel.fit`
returns; the study Dataset of :func:`asem_bayes.simulate` can stand in as the truth.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from asem_bayes import dims as D  # noqa: N812 - the codebase's short name for the dims module

__all__ = [
    "plot_trajectories",
    "plot_timeline",
    "plot_ppc",
    "trait_change_check",
    "plot_recovery",
    "recovery_table",
    "plot_comparison",
]

SAMPLE_DIMS = ("chain", "draw")
LATENT_LABELS = {"self_model": "model of self", "others_model": "model of others"}
EVENT_LABELS = {
    "threat": "insecurity-triggering (threat)",
    "safe": "safe buffering received",
    "soft": "soft buffering received",
    "confidence": "confidence-building",
    "dependence": "positive dependence",
}


# --------------------------------------------------------------------------------------------
# helpers


def _group(fit: xr.DataTree, name: str, hint: str) -> xr.Dataset:
    if not isinstance(fit, xr.DataTree):
        raise TypeError(f"expected a fit (xarray.DataTree from CompiledModel.fit), got {type(fit).__name__}")
    if name not in fit.children:
        raise ValueError(f"the fit has no {name!r} group; {hint}")
    return fit[name].to_dataset()


def _posterior_latent(fit: xr.DataTree) -> xr.Dataset:
    post = _group(fit, "posterior", "is this a fit from CompiledModel.fit?")
    missing = [v for v in LATENT_LABELS if v not in post]
    if missing:
        raise ValueError(
            f"the fit's posterior lacks {missing}: refit with trajectories=True to keep the latent working models"
        )
    return post[list(LATENT_LABELS)]


def _check_person(ds: xr.Dataset | xr.DataArray, dyad: Any, person: Any, what: str) -> None:
    dyads = ds[D.DYAD].values
    if dyad not in dyads:
        shown = ", ".join(map(repr, dyads[:10])) + (" ..." if len(dyads) > 10 else "")
        raise ValueError(f"dyad {dyad!r} is not in the {what}; its dyads are {shown}")
    if person is not None and person not in ds[D.PERSON].values:
        raise ValueError(f"person {person!r} is not in the {what}; persons are {list(ds[D.PERSON].values)}")


def _band(x: xr.DataArray, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bound, median and upper bound of the equal-tailed ``prob`` interval over draws."""
    a = (1.0 - prob) / 2.0
    q = x.quantile([a, 0.5, 1.0 - a], dim=list(SAMPLE_DIMS))
    return q.values[0], q.values[1], q.values[2]


def _wave_days(obj: xr.DataTree | xr.Dataset) -> np.ndarray:
    ds = obj["observed_data"].to_dataset() if isinstance(obj, xr.DataTree) and "observed_data" in obj.children else obj
    if isinstance(ds, xr.Dataset) and "wave_day" in ds.variables:
        return np.asarray(ds["wave_day"].values).reshape(-1)
    return np.zeros(0)


def _mark_waves(ax: Any, wave_days: np.ndarray, label: bool) -> None:
    for k, wd in enumerate(wave_days):
        ax.axvline(wd, color="0.6", lw=0.8, ls=":", label="trait wave" if (label and k == 0) else None)


# --------------------------------------------------------------------------------------------
# latent trajectories and the event timeline


def plot_trajectories(
    fit: xr.DataTree,
    truth: xr.Dataset | None = None,
    persons: Sequence[tuple[Any, Any]] | None = None,
    *,
    prob: float = 0.9,
) -> Figure:
    """Latent working models of a few people over the diary days, with posterior bands.

    Parameters
    ----------
    fit : xarray.DataTree
        A fit whose posterior holds ``self_model`` and ``others_model`` (dims dyad, person,
        day; the default ``trajectories=True``).
    truth : xarray.Dataset, optional
        The simulated study (same ``self_model``/``others_model`` variables): drawn as a
        dashed line. Ignored when it has no latent variables (real data).
    persons : sequence of (dyad, person), optional
        Which people, by coordinate label; default the first three.
    prob : float
        Mass of the equal-tailed posterior interval drawn as the band.

    Returns
    -------
    matplotlib.figure.Figure
        One row per person, columns "model of self" and "model of others" (higher = more
        secure). Dotted vertical lines mark the trait-questionnaire waves.
    """
    post = _posterior_latent(fit)
    if persons is None:
        pairs = [(d, i) for d in post[D.DYAD].values for i in post[D.PERSON].values]
        persons = pairs[:3]
    persons = list(persons)
    if not persons:
        raise ValueError("persons is empty: name at least one (dyad, person) pair")
    for d, i in persons:
        _check_person(post, d, i, "fit")
    has_truth = truth is not None and all(v in truth for v in LATENT_LABELS)
    days = post[D.DAY].values
    waves = _wave_days(fit)
    fig, axes = plt.subplots(len(persons), 2, figsize=(10, 2.3 * len(persons) + 0.6), sharex=True, squeeze=False)
    for r, (d, i) in enumerate(persons):
        for c, var in enumerate(LATENT_LABELS):
            ax = axes[r, c]
            lo, mid, hi = _band(post[var].sel({D.DYAD: d, D.PERSON: i}), prob)
            ax.fill_between(days, lo, hi, color="C0", alpha=0.3, lw=0, label=f"{prob:.0%} posterior interval")
            ax.plot(days, mid, color="C0", label="posterior median")
            if has_truth:
                _check_person(truth, d, i, "truth")
                ax.plot(days, truth[var].sel({D.DYAD: d, D.PERSON: i}).values, "k--", lw=1.2, label="truth")
            _mark_waves(ax, waves, label=True)
            ax.set_title(f"{LATENT_LABELS[var]}: dyad {d}, person {i}", fontsize=10)
            if c == 0:
                ax.set_ylabel("security (-1..1)")
    for ax in axes[-1]:
        ax.set_xlabel("day")
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle(f"Working-model trajectories ({fit.attrs.get('asem_variant', '?')} fit)")
    fig.tight_layout()
    return fig


def _study_events(ds: xr.Dataset, dyad: Any) -> dict[str, xr.DataArray]:
    """Events of one dyad as (person, day) or (day,) arrays, NaN where unreported."""
    out = {}
    for name in D.EVENTS:
        if name in ds:
            out[name] = ds[name].sel({D.DYAD: dyad})
    return out


def plot_timeline(
    study_or_fit: xr.Dataset | xr.DataTree,
    dyad: Any,
    *,
    truth: xr.Dataset | None = None,
    prob: float = 0.9,
) -> Figure:
    """A dyad's daily events under both partners' working-model trajectories.

    Parameters
    ----------
    study_or_fit : xarray.Dataset or xarray.DataTree
        A study (simulated: its true latent trajectories are drawn; real: events only) or a fit
        (posterior median and band of the trajectories; the events the dynamics ran on, i.e.
        after the missing-event policy, from its ``constant_data``).
    dyad : label
        The dyad's coordinate label.
    truth : xarray.Dataset, optional
        With a fit: the simulated study, whose true trajectories are drawn dashed.
    prob : float
        Mass of the posterior band (fits only).

    Returns
    -------
    matplotlib.figure.Figure
        Top: model of self of both partners; middle: model of others; bottom: the events of
        each day (shared events once per dyad; safe, soft and confidence per receiving person).
        A bar's opacity is the event's intensity; a grey x marks an unreported event.
    """
    is_fit = isinstance(study_or_fit, xr.DataTree)
    if is_fit:
        post = _posterior_latent(study_or_fit)
        _check_person(post, dyad, None, "fit")
        events = _study_events(_group(study_or_fit, "constant_data", "is this a fit from CompiledModel.fit?"), dyad)
        days = post[D.DAY].values
        latent_src = post
    elif isinstance(study_or_fit, xr.Dataset):
        _check_person(study_or_fit, dyad, None, "study")
        events = _study_events(study_or_fit, dyad)
        days = study_or_fit[D.DAY].values
        latent_src = study_or_fit if all(v in study_or_fit for v in LATENT_LABELS) else None
        truth = None
    else:
        raise TypeError(f"expected a study Dataset or a fit DataTree, got {type(study_or_fit).__name__}")
    if truth is not None and not all(v in truth for v in LATENT_LABELS):
        truth = None
    waves = _wave_days(study_or_fit)

    n_rows = 3 if latent_src is not None else 1
    ratios = [2, 2, 2.4][-n_rows:]
    fig, axes = plt.subplots(
        n_rows, 1, figsize=(10, 1.4 * sum(ratios)), sharex=True, height_ratios=ratios, squeeze=False
    )
    axes = axes[:, 0]
    if latent_src is not None:
        for ax, var in zip(axes[:2], LATENT_LABELS, strict=True):
            for i, person in enumerate(latent_src[D.PERSON].values):
                x = latent_src[var].sel({D.DYAD: dyad, D.PERSON: person})
                color = f"C{i}"
                if is_fit:
                    lo, mid, hi = _band(x, prob)
                    ax.fill_between(days, lo, hi, color=color, alpha=0.25, lw=0)
                    ax.plot(days, mid, color=color, label=f"person {person} (posterior median, {prob:.0%} band)")
                else:
                    ax.plot(days, x.values, color=color, label=f"person {person} (true)")
                if truth is not None:
                    tx = truth[var].sel({D.DYAD: dyad, D.PERSON: person}).values
                    ax.plot(days, tx, color=color, ls="--", lw=1, label=f"person {person} (truth)")
            _mark_waves(ax, waves, label=var == "self_model")
            ax.set_ylabel(LATENT_LABELS[var])
        axes[0].legend(fontsize=8, loc="best")

    ax = axes[-1]
    rows: list[tuple[str, np.ndarray]] = []
    for name in D.EVENTS:
        if name not in events:
            continue
        x = events[name]
        if D.PERSON not in x.dims:
            rows.append((EVENT_LABELS[name], x.values))
        elif name in D.DYAD_EVENTS:  # a fit stores shared events on both partners' rows
            rows.append((EVENT_LABELS[name], x.isel({D.PERSON: 0}).values))
        else:
            for i, person in enumerate(x[D.PERSON].values):
                rows.append((f"{EVENT_LABELS[name]}, person {person}", x.isel({D.PERSON: i}).values))
    for k, (_, vals) in enumerate(rows):
        y = len(rows) - 1 - k
        seen = ~np.isnan(vals)
        on = seen & (vals > 0)
        colors = [(0.1, 0.1, 0.1, float(a)) for a in vals[on]]
        ax.scatter(days[on], np.full(on.sum(), y), marker="|", s=140, c=colors)
        if (~seen).any():
            ax.scatter(days[~seen], np.full((~seen).sum(), y), marker="x", s=14, color="0.6")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows][::-1], fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("day")
    _mark_waves(ax, waves, label=False)
    fig.suptitle(f"Dyad {dyad}: events and working models")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# posterior predictive checks


def _trait_changes(fit: xr.DataTree) -> dict[str, tuple[float, np.ndarray, int]]:
    """Per trait: observed mean change first -> last wave, the replicated changes per draw, and
    the number of people observed at both waves (only they count, in data and replications)."""
    pp = _group(fit, "posterior_predictive", "fit with posterior_predictive=True")
    obs = _group(fit, "observed_data", "is this a fit from CompiledModel.fit?")
    out = {}
    for name in D.TRAITS:
        if name not in pp or name not in obs or obs.sizes.get(D.WAVE, 0) < 2:
            continue
        y = obs[name].transpose(D.DYAD, D.PERSON, D.WAVE).values
        first, last = y[..., 0], y[..., -1]
        both = ~np.isnan(first) & ~np.isnan(last)
        if not both.any():
            continue
        rep = pp[name].transpose(*SAMPLE_DIMS, D.DYAD, D.PERSON, D.WAVE).values
        rep = rep.reshape(-1, *rep.shape[2:])
        t_rep = (rep[..., -1] - rep[..., 0])[:, both].mean(axis=1)
        out[name] = (float(np.mean((last - first)[both])), t_rep, int(both.sum()))
    return out


def trait_change_check(fit: xr.DataTree) -> pd.DataFrame:
    """Observed mean change of each trait between the first and last wave, against its
    posterior predictive distribution.

    Only people observed at both waves count, in the data and in the replications alike. A
    ``stable`` fit to data whose traits moved predicts a change near zero and fails here even
    when the marginal distributions of the ratings look fine.

    Returns
    -------
    pandas.DataFrame
        One row per trait with ``observed``, ``predicted_mean``, ``predicted_lo``/``_hi``
        (90% equal-tailed), ``p_le`` = P(replicated change <= observed), the two-sided
        ``p_value`` = 2 min(p_le, 1 - p_le) and ``n_persons``. Empty without two waves.
    """
    rows = {}
    for name, (t_obs, t_rep, n) in _trait_changes(fit).items():
        p_le = float(np.mean(t_rep <= t_obs))
        rows[name] = {
            "observed": t_obs,
            "predicted_mean": float(t_rep.mean()),
            "predicted_lo": float(np.quantile(t_rep, 0.05)),
            "predicted_hi": float(np.quantile(t_rep, 0.95)),
            "p_le": p_le,
            "p_value": 2.0 * min(p_le, 1.0 - p_le),
            "n_persons": n,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_ppc(fit: xr.DataTree, *, num_samples: int = 50, kind: str | None = None) -> Figure:
    """Posterior predictive checks of the daily ratings and the trait waves.

    Parameters
    ----------
    fit : xarray.DataTree
        A fit with ``posterior_predictive`` and ``observed_data`` groups
        (``CompiledModel.fit(..., posterior_predictive=True)``).
    num_samples : int
        Replicated datasets overlaid on the observed distribution.
    kind : {"kde", "hist", "ecdf"}, optional
        How ArviZ draws the distributions; default ``ecdf`` for Likert (integer) ratings and
        ArviZ's choice otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        Top rows: :func:`arviz.plot_ppc_dist` of each rating pooled over person-days (trait
        scores pooled over waves). Bottom row: the trait-wave change check of
        :func:`trait_change_check`, the replicated mean change as a histogram and the observed
        change as a vertical line, with its two-sided posterior predictive p-value.
    """
    import arviz as az

    pp = _group(fit, "posterior_predictive", "fit with posterior_predictive=True")
    obs = _group(fit, "observed_data", "is this a fit from CompiledModel.fit?")
    names = [n for n in D.DAILY_RATINGS + D.TRAITS if n in pp and n in obs]
    if not names:
        raise ValueError("the fit's posterior_predictive and observed_data share no rating variables")
    n_draws = int(np.prod([pp.sizes[d] for d in SAMPLE_DIMS]))
    if kind is None:
        daily = [obs[n].values for n in D.DAILY_RATINGS if n in obs]
        finite = np.concatenate([x[np.isfinite(x)] for x in daily]) if daily else np.zeros(0)
        kind = "ecdf" if finite.size and np.all(finite == np.round(finite)) else None
    with warnings.catch_warnings():
        # raised inside ArviZ's own stacking of draws; nothing the caller can act on
        warnings.filterwarnings("ignore", message="Deleting a single level of a MultiIndex", category=FutureWarning)
        pc = az.plot_ppc_dist(
            fit,
            var_names=names,
            num_samples=min(num_samples, n_draws),
            kind=kind,
            backend="matplotlib",
            col_wrap=2,
            figure_kwargs={"figsize": (10, 2.8 * ((len(names) + 1) // 2))},
        )
    fig = pc.get_viz("figure")
    changes = _trait_changes(fit)
    if not changes:
        fig.suptitle("Posterior predictive check (black: observed)")
        return fig

    # Re-grid ArviZ's axes to make room for one row of change checks below them.
    n_dist_rows = (len(names) + 1) // 2
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h * (n_dist_rows + 1) / n_dist_rows)
    gs = fig.add_gridspec(n_dist_rows + 1, 2, hspace=0.55)
    for k, name in enumerate(names):
        pc.get_viz("plot", var_name=name).set_subplotspec(gs[k // 2, k % 2])
    for k, (name, (t_obs, t_rep, _)) in enumerate(changes.items()):
        ax = fig.add_subplot(gs[n_dist_rows, k % 2])
        p_le = float(np.mean(t_rep <= t_obs))
        ax.hist(t_rep, bins=30, color="C0", alpha=0.6, label="replicated")
        ax.axvline(t_obs, color="k", lw=2, label="observed")
        p_two = 2 * min(p_le, 1 - p_le)
        ax.set_title(f"{name}: mean change, first to last wave\n(two-sided p = {p_two:.2f})", fontsize=10)
        ax.set_yticks([])
        if k == 0:
            ax.legend(fontsize=8)
    fig.suptitle("Posterior predictive check (black: observed)")
    return fig


# --------------------------------------------------------------------------------------------
# parameter recovery


def _truth_dict(t: Mapping[str, Any] | xr.Dataset) -> dict[str, Any]:
    if isinstance(t, xr.Dataset):
        from asem_bayes.simulate import true_params

        return true_params(t)
    return dict(t)


def _summary(f: xr.DataTree | pd.DataFrame, names: Sequence[str] | None, prob: float) -> pd.DataFrame:
    """``mean``, ``lo``, ``hi`` per parameter from a fit or from a summary table."""
    if isinstance(f, pd.DataFrame):
        if {"lower", "upper"} <= set(f.columns):  # asem_bayes.recovery.parameter_recovery
            lo_hi = ["lower", "upper"]
        else:  # arviz.summary / diagnostics.summary_table
            lo_hi = [c for c in f.columns if str(c).endswith(("_lb", "_ub"))]
        if "mean" not in f.columns or len(lo_hi) < 2:
            raise ValueError(
                "a summary table needs a 'mean' column and interval bounds (lower/upper, or columns ending "
                f"in _lb/_ub); got {list(f.columns)}"
            )
        out = pd.DataFrame({"mean": f["mean"], "lo": f[lo_hi[0]], "hi": f[lo_hi[1]]})
        return out.astype(float)
    if isinstance(f, xr.DataTree):
        post = _group(f, "posterior", "is this a fit from CompiledModel.fit?")
        scalar = [n for n in (names or post.data_vars) if n in post and set(post[n].dims) <= set(SAMPLE_DIMS)]
        a = (1.0 - prob) / 2.0
        rows = {}
        for n in scalar:
            x = post[n].values.reshape(-1)
            rows[n] = {"mean": float(x.mean()), "lo": float(np.quantile(x, a)), "hi": float(np.quantile(x, 1 - a))}
        return pd.DataFrame.from_dict(rows, orient="index")
    raise TypeError(f"expected fits (DataTree) or summary tables (DataFrame), got {type(f).__name__}")


def _identified_params(fit: xr.DataTree) -> list[str] | None:
    """The fit's population parameters that the data inform: in conditional mode the event
    model's parameters never meet the likelihood, their posterior is their prior."""
    from asem_bayes.registry import get_variant

    name = fit.attrs.get("asem_variant")
    if not name:
        return None
    v = get_variant(name)
    skip_events = fit.attrs.get("asem_mode") == "conditional"
    post = fit["posterior"]
    return [p.name for p in v.params if p.name in post and not (skip_events and p.group == "events")]


def _long_table(df: pd.DataFrame, var_names: Sequence[str] | None) -> pd.DataFrame:
    """A ready-made long recovery table (e.g. ``RecoveryResult.parameters``) in our columns."""
    t = df.reset_index() if "param" not in df.columns and "parameter" not in df.columns else df.copy()
    t = t.rename(columns={"parameter": "param", "lower": "lo", "upper": "hi"})
    need = {"param", "truth", "mean", "lo", "hi"}
    if not need <= set(t.columns):
        raise ValueError(
            f"a recovery table needs the columns {sorted(need)} (or parameter/lower/upper); got {list(t.columns)}"
        )
    if "dataset" not in t.columns:
        keys = [c for c in ("variant", "rep") if c in t.columns]
        t["dataset"] = t.groupby(keys, sort=False).ngroup() if keys else 0
    if var_names is not None:
        missing = sorted(set(var_names) - set(t["param"]))
        if missing:
            raise ValueError(f"parameter(s) {missing} are not in the recovery table")
        t = t[t["param"].isin(var_names)]
    t["covered"] = (t["truth"] >= t["lo"]) & (t["truth"] <= t["hi"])
    return t[["dataset", "param", "truth", "mean", "lo", "hi", "covered"]].reset_index(drop=True)


def recovery_table(
    truths: Sequence[Mapping[str, Any] | xr.Dataset] | Mapping[str, Any] | xr.Dataset | pd.DataFrame,
    fits_or_summaries: Sequence[xr.DataTree | pd.DataFrame] | xr.DataTree | pd.DataFrame | None = None,
    var_names: Sequence[str] | None = None,
    *,
    prob: float = 0.9,
) -> pd.DataFrame:
    """Long table of truth against posterior mean and interval, one row per dataset and parameter.

    Parameters
    ----------
    truths : sequence of mapping or study Dataset, or a long DataFrame
        True parameters of each dataset (:func:`asem_bayes.true_params` or the simulated study).
        Or, with ``fits_or_summaries=None``, a table that already holds truth and posterior per
        row (columns ``parameter``/``param``, ``truth``, ``mean``, ``lower``/``lo``,
        ``upper``/``hi``; e.g. ``RecoveryResult.parameters`` of :mod:`asem_bayes.recovery`,
        where ``variant`` and ``rep`` identify the dataset).
    fits_or_summaries : sequence of DataTree or DataFrame, optional
        The matching fits, or summary tables indexed by parameter name with ``mean`` and
        interval bounds (``lower``/``upper`` as from
        :func:`asem_bayes.recovery.parameter_recovery`, or ``*_lb``/``*_ub`` as from
        :func:`asem_bayes.diagnostics.summary_table`).
    var_names : sequence of str, optional
        Parameters to keep; default the population parameters the first fit's data inform
        (in conditional mode the event model's are left out: their posterior is their prior),
        or, with summary tables, every scalar parameter present in both.
    prob : float
        Interval mass when computed from fits.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset``, ``param``, ``truth``, ``mean``, ``lo``, ``hi``, ``covered``.
    """
    if fits_or_summaries is None:
        if isinstance(truths, pd.DataFrame):
            return _long_table(truths, var_names)
        raise ValueError("pass the fits (or summaries) that match the truths, or one long recovery table")
    if isinstance(truths, Mapping | xr.Dataset):
        truths = [truths]
    if isinstance(fits_or_summaries, xr.DataTree | pd.DataFrame):
        fits_or_summaries = [fits_or_summaries]
    truths, fits_or_summaries = list(truths), list(fits_or_summaries)
    if len(truths) != len(fits_or_summaries):
        raise ValueError(f"{len(truths)} truths but {len(fits_or_summaries)} fits/summaries: pass one truth per fit")
    if var_names is None and isinstance(fits_or_summaries[0], xr.DataTree):
        var_names = _identified_params(fits_or_summaries[0])
    records = []
    for k, (t, f) in enumerate(zip(truths, fits_or_summaries, strict=True)):
        td = _truth_dict(t)
        s = _summary(f, var_names, prob)
        names = var_names if var_names is not None else list(s.index)
        for n in names:
            if n not in s.index or n not in td or np.ndim(td[n]) != 0:
                if var_names is not None:
                    raise ValueError(f"parameter {n!r} is missing from dataset {k}'s truth or fit, or is not a scalar")
                continue
            tv = float(td[n])
            records.append({"dataset": k, "param": n, "truth": tv, **s.loc[n].to_dict()})
    table = pd.DataFrame.from_records(records, columns=["dataset", "param", "truth", "mean", "lo", "hi"])
    table["covered"] = (table["truth"] >= table["lo"]) & (table["truth"] <= table["hi"])
    return table


def plot_recovery(
    truths: Sequence[Mapping[str, Any] | xr.Dataset] | Mapping[str, Any] | xr.Dataset | pd.DataFrame,
    fits_or_summaries: Sequence[xr.DataTree | pd.DataFrame] | xr.DataTree | pd.DataFrame | None = None,
    var_names: Sequence[str] | None = None,
    *,
    prob: float = 0.9,
    ncols: int = 6,
) -> Figure:
    """Parameter recovery: truth against posterior mean with intervals, one panel per parameter.

    Parameters are as in :func:`recovery_table`. Points on the dashed identity line are
    recovered; a blue interval covers the truth, a red one misses it. Each panel's title
    counts the covering intervals. With a single dataset this is the "estimates next to the
    truth" view; over many simulated datasets it shows shrinkage and bias.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = recovery_table(truths, fits_or_summaries, var_names, prob=prob)
    if table.empty:
        raise ValueError("no parameter is both in the truths and in the fits")
    params = list(dict.fromkeys(table["param"]))
    ncols = max(1, min(ncols, len(params)))
    nrows = -(-len(params) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.4 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, params, strict=False):
        t = table[table["param"] == name]
        for covered, color in ((True, "C0"), (False, "C3")):
            s = t[t["covered"] == covered]
            if s.empty:
                continue
            yerr = np.vstack([s["mean"] - s["lo"], s["hi"] - s["mean"]])
            ax.errorbar(s["truth"], s["mean"], yerr=yerr, fmt="o", ms=3, lw=0.8, color=color)
        lo = float(min(t["truth"].min(), t["lo"].min()))
        hi = float(max(t["truth"].max(), t["hi"].max()))
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        ax.set_title(f"{name} ({int(t['covered'].sum())}/{len(t)} covered)", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(params):]:
        ax.set_visible(False)
    fig.supxlabel("true value")
    fig.supylabel(f"posterior mean and {prob:.0%} interval")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# model comparison


def plot_comparison(
    compare_table: pd.DataFrame | Mapping[str, xr.DataTree],
    *,
    title: str | None = None,
    **kwargs: Any,
) -> Figure:
    """Model comparison by PSIS-LOO: :func:`arviz.plot_compare` with the stacking weights.

    Parameters
    ----------
    compare_table : pandas.DataFrame or mapping of name -> fit
        The table :func:`arviz.compare` returns (best model first), or the fits to compare
        (then :func:`arviz.compare` is called on them; their ``log_lik`` must share a unit).
    title : str, optional
        Figure title; default names the leave-out unit when the fits are given.
    **kwargs
        Passed to :func:`arviz.plot_compare` (e.g. ``rotated=True``).

    Returns
    -------
    matplotlib.figure.Figure
        ELPD differences from the best model with their standard errors; each model's label
        carries its stacking weight.
    """
    import arviz as az

    unit = None
    if isinstance(compare_table, Mapping):
        if len(compare_table) < 2:
            raise ValueError("compare at least two fits")
        units = {n: f.attrs.get("loo_unit", "") for n, f in compare_table.items()}
        if len(set(units.values())) > 1:
            raise ValueError(f"the fits' log-likelihoods use different leave-out units {units}; refit with one unit")
        unit = next(iter(units.values())) or None
        compare_table = az.compare(dict(compare_table))
    if not isinstance(compare_table, pd.DataFrame):
        raise TypeError(f"expected the DataFrame of arviz.compare, got {type(compare_table).__name__}")
    unit = unit or compare_table.attrs.get("unit")  # asem_bayes.compare.compare records it
    table = compare_table
    if "weight" in table.columns:
        table = table.rename(index={n: f"{n} (w={w:.2f})" for n, w in table["weight"].items()})
    pc = az.plot_compare(table, backend="matplotlib", **kwargs)
    fig = pc.get_viz("figure")
    if title is None:
        title = "Model comparison by PSIS-LOO" + (f" (leave-out unit: {unit})" if unit else "")
    # ArviZ titles the axes "higher is better"; keep that, in one line with ours.
    pc.get_viz("plot").set_title(f"{title}; higher is better")
    return fig
