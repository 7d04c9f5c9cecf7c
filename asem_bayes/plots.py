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
from matplotlib.ticker import MaxNLocator

from asem_bayes import dims as D  # noqa: N812 - the codebase's short name for the dims module

__all__ = [
    "plot_trajectories",
    "plot_timeline",
    "plot_ppc",
    "trait_change_check",
    "plot_recovery",
    "plot_recovery_single",
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


def _day_ticks(ax: Any) -> None:
    """Day labels are integers: no fractional ticks."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# The daily rating that shows each working model (higher rating = less secure).
RATING_OF = {"self_model": "state_anxiety", "others_model": "state_avoidance"}


def _observed(obj: xr.DataTree | xr.Dataset) -> xr.Dataset | None:
    if isinstance(obj, xr.DataTree):
        return obj["observed_data"].to_dataset() if "observed_data" in obj.children else None
    return obj


def _draw_ratings(ax: Any, obs: xr.Dataset | None, var: str, dyad: Any, persons: Sequence[Any]) -> Any:
    """The observed daily rating behind a working model, as dots on a right-hand axis (inverted,
    so that up means more secure on both axes); ``None`` when the data hold no such rating."""
    name = RATING_OF[var]
    if obs is None or name not in obs:
        return None
    right = ax.twinx()
    right.set_label("observed ratings")  # tells the twin axis from the panels
    for k, person in enumerate(persons):
        y = obs[name].sel({D.DYAD: dyad, D.PERSON: person})
        right.plot(
            y[D.DAY].values,
            y.values,
            "o",
            ms=2.5,
            color=f"C{k}",
            alpha=0.45,
            mec="none",
            label=f"observed {name.replace('_', ' ')}" + (f", person {person}" if len(persons) > 1 else ""),
        )
    right.invert_yaxis()
    right.set_ylabel(f"{name.replace('_', ' ')}\n(dots; axis inverted)", fontsize=7)
    right.tick_params(labelsize=7)
    return right


def _absent_events(fit: xr.DataTree) -> set[str]:
    """Events the fitted data did not hold (the model ran them as never happening). The fit's
    notes name them in the words of :func:`asem_bayes.inputs.prepare_inputs`."""
    notes = str(fit.attrs.get("notes", ""))
    return {name for name in D.EVENTS if f"no {name!r} events in the data" in notes}


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
        secure). Where the data hold them, the observed daily state anxiety (self) and state
        avoidance (others) are dots on an inverted right-hand axis. Dotted vertical lines mark
        the trait-questionnaire waves.
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
            _day_ticks(ax)
            right = _draw_ratings(ax, _observed(fit), var, d, [i])
            if c == 0:
                ax.set_ylabel("security (-1..1)")
            if r == 0:
                handles, labels = ax.get_legend_handles_labels()
                if right is not None:
                    more = right.get_legend_handles_labels()
                    handles, labels = handles + more[0], labels + more[1]
                ax.legend(handles, labels, fontsize=7, loc="best")
    for ax in axes[-1]:
        ax.set_xlabel("day")
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
        persons = list(latent_src[D.PERSON].values)
        for ax, var in zip(axes[:2], LATENT_LABELS, strict=True):
            for i, person in enumerate(persons):
                _draw_latent(ax, latent_src[var].sel({D.DYAD: dyad, D.PERSON: person}), days, i, person, is_fit, prob)
                if truth is not None:
                    tx = truth[var].sel({D.DYAD: dyad, D.PERSON: person}).values
                    ax.plot(days, tx, color=f"C{i}", ls="--", lw=1, label=f"person {person} (truth)")
            _mark_waves(ax, waves, label=var == "self_model")
            ax.set_ylabel(LATENT_LABELS[var])
            right = _draw_ratings(ax, _observed(study_or_fit), var, dyad, persons)
            handles, labels = ax.get_legend_handles_labels()
            if right is not None:
                more = right.get_legend_handles_labels()
                handles, labels = handles + more[0], labels + more[1]
            ax.legend(handles, labels, fontsize=7, loc="upper left", ncols=2)

    ax = axes[-1]
    absent = _absent_events(study_or_fit) if is_fit else set()
    rows: list[tuple[str, np.ndarray]] = []
    for name in D.EVENTS:
        if name not in events or name in absent:  # no empty rows for events the data do not hold
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
    _day_ticks(ax)
    _mark_waves(ax, waves, label=False)
    if absent:
        ax.set_title(f"not in the data (run as never happening): {', '.join(sorted(absent))}", fontsize=8, loc="left")
    if is_fit:
        title = f"Dyad {dyad}: posterior working models ({study_or_fit.attrs.get('asem_variant', '?')} fit) and events"
    elif latent_src is not None:
        title = f"Dyad {dyad}: simulated working models and events"
    else:
        title = f"Dyad {dyad}: events"
    fig.suptitle(title)
    fig.tight_layout()
    if latent_src is not None:  # the events' axes last in fig.axes, after the ratings' twin axes
        fig.delaxes(ax)
        fig.add_axes(ax)
    return fig


# Person 0's band filled, person 1's hatched: two overlapping bands stay apart.
_BAND_STYLE = ({"alpha": 0.3}, {"alpha": 0.12, "hatch": "////"})


def _draw_latent(ax: Any, x: xr.DataArray, days: np.ndarray, i: int, person: Any, is_fit: bool, prob: float) -> None:
    """One person's working model: posterior median and band (a fit) or the simulated path."""
    color = f"C{i}"
    if not is_fit:
        ax.plot(days, x.values, color=color, label=f"person {person} (simulated)")
        return
    lo, mid, hi = _band(x, prob)
    style = _BAND_STYLE[i % 2]
    ax.fill_between(days, lo, hi, color=color, lw=0, label=f"person {person}: {prob:.0%} interval", **style)
    ax.plot(days, mid, color=color, label=f"person {person}: posterior median")


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
    for name in names:
        _label_ppc_axes(pc.get_viz("plot", var_name=name), name, kind)
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
        ax.set_xlabel("mean change of the score (points)", fontsize=8)
        ax.set_ylabel("replicated datasets", fontsize=8)
        if k == 0:
            ax.legend(fontsize=8)
    fig.suptitle("Posterior predictive check (black: observed)")
    return fig


def _label_ppc_axes(ax: Any, name: str, kind: str | None) -> None:
    """Axis labels of one distribution panel: what is on x, and what the curve's height is."""
    what = "daily rating" if name in D.DAILY_RATINGS else "questionnaire score"
    ax.set_xlabel(f"{name.replace('_', ' ')} ({what}, pooled)", fontsize=8)
    ax.set_ylabel(
        "cumulative share" if kind == "ecdf" or _drawn_as_ecdf(ax) else "share" if kind == "hist" else "density",
        fontsize=8,
    )


def _drawn_as_ecdf(ax: Any) -> bool:
    """Whether ArviZ drew this panel's curves as ECDFs (it picks per variable when not told)."""
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    ys = [y[np.isfinite(y)] for y in ys if y.size > 2]
    return bool(ys) and all(np.all(np.diff(y) >= 0) and y.max() <= 1.0 + 1e-9 for y in ys)


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

    Parameters are as in :func:`recovery_table`. Over several datasets: one panel per parameter,
    truth against posterior mean; points on the dashed identity line are recovered, a blue
    interval covers the truth, a red one misses it, and each title counts the covering
    intervals. For a single dataset: one panel, a row per parameter with its posterior interval
    and the truth (:func:`plot_recovery_single`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = recovery_table(truths, fits_or_summaries, var_names, prob=prob)
    if table.empty:
        raise ValueError("no parameter is both in the truths and in the fits")
    if table["dataset"].nunique() == 1:
        return plot_recovery_single(table, prob=prob)
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
    for ax in list(axes.flat)[len(params) :]:
        ax.set_visible(False)
    fig.supxlabel("true value")
    fig.supylabel(f"posterior mean and {prob:.0%} interval")
    fig.tight_layout()
    return fig


def plot_recovery_single(table: pd.DataFrame, *, prob: float = 0.9) -> Figure:
    """One dataset's recovery in one panel: each parameter's posterior interval next to its truth.

    Parameters live on different scales, so each row is drawn relative to its own interval:
    the interval spans -1..1 (its half-width is the unit), the posterior mean is the dot and the
    truth the black cross; the numbers on the right are in the parameter's own units.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`recovery_table` of one dataset.
    prob : float
        The intervals' mass (for the labels).
    """
    t = table.reset_index(drop=True)
    half = ((t["hi"] - t["lo"]) / 2).where(lambda h: h > 0, 1.0)
    centre = (t["hi"] + t["lo"]) / 2
    y = np.arange(len(t))[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(t) + 1.6))
    colors = np.where(t["covered"], "C0", "C3")
    ax.hlines(y, -1, 1, colors=colors, lw=2.5, alpha=0.7)
    ax.plot((t["mean"] - centre) / half, y, "o", color="k", ms=3, label="posterior mean")
    ax.plot((t["truth"] - centre) / half, y, "x", color="k", ms=7, mew=1.8, label="truth")
    ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    ax.set_yticks(y, t["param"], fontsize=8)
    for yy, (_, r) in zip(y, t.iterrows(), strict=True):
        ax.annotate(
            f"truth {r['truth']:.3g}   mean {r['mean']:.3g}  [{r['lo']:.3g}, {r['hi']:.3g}]",
            (1.02, yy),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=7,
        )
    ax.set_xlabel(f"position within the {prob:.0%} interval (-1 and 1: its ends; beyond them: outside)")
    ax.legend(fontsize=8, loc="lower left")
    n_cov = int(t["covered"].sum())
    ax.set_title(
        f"Parameter recovery, one dataset: {n_cov} of {len(t)} {prob:.0%} intervals cover the truth "
        "(blue: covers, red: misses)",
        fontsize=10,
    )
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
    """Model comparison by PSIS-LOO or K-fold: :func:`arviz.plot_compare`, read with care.

    Parameters
    ----------
    compare_table : pandas.DataFrame or mapping of name -> fit
        The table :func:`asem_bayes.compare` returns (best model first; its ``k_bad`` and
        ``n_units`` columns are shown), or the fits to compare (then it is called on them).
    title : str, optional
        Figure title; default names the criterion and the leave-out unit.
    **kwargs
        Passed to :func:`arviz.plot_compare` (e.g. ``rotated=True``).

    Returns
    -------
    matplotlib.figure.Figure
        ELPD differences from the best model with their standard errors. Each label carries the
        stacking weight, whether the fit is within noise of the best, and how many leave-out
        units have a Pareto k too high for PSIS-LOO; a note under the axes says what the weights
        mean and when a difference is within noise.
    """
    import arviz as az

    from asem_bayes.compare import about_as_good, compare

    if isinstance(compare_table, Mapping):
        if len(compare_table) < 2:
            raise ValueError("compare at least two fits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the figure shows the Pareto-k problems
            compare_table = compare(dict(compare_table))
    if not isinstance(compare_table, pd.DataFrame):
        raise TypeError(f"expected the DataFrame of asem_bayes.compare, got {type(compare_table).__name__}")
    table = compare_table
    labels = {n: _comparison_label(n, table, k, about_as_good) for k, n in enumerate(table.index)}
    pc = az.plot_compare(table.rename(index=labels), backend="matplotlib", **kwargs)
    fig = pc.get_viz("figure")
    how = "exact K-fold" if table.attrs.get("method") == "kfold" else "PSIS-LOO"
    unit = table.attrs.get("unit")
    if title is None:
        title = f"Model comparison by {how}" + (f" (leave-out unit: {unit})" if unit else "")
    # ArviZ titles the axes "higher is better"; keep that, in one line with ours.
    pc.get_viz("plot").set_title(f"{title}; higher is better", fontsize=10)
    height = 0.8 * len(table) + 2.4  # room for the two-line labels and the note under the axes
    fig.set_size_inches(10, height)
    fig.text(0.01, 0.02, _comparison_note(table), fontsize=7.5, va="bottom", ha="left")
    fig.subplots_adjust(left=0.27, right=0.97, top=1 - 0.45 / height, bottom=1.45 / height)
    return fig


def _comparison_label(name: str, table: pd.DataFrame, k: int, about_as_good: Any) -> str:
    """``name (w=0.97)``, then ``within noise of the best`` and ``30/40 units: Pareto k too high``
    on lines of their own."""
    lines = [f"{name} (w={float(table.loc[name, 'weight']):.2f})" if "weight" in table else str(name)]
    if k > 0 and {"elpd_diff", "dse"} <= set(table.columns):
        noise = about_as_good(float(table.loc[name, "elpd_diff"]), float(table.loc[name, "dse"]))
        lines.append("within noise of the best" if noise else "clearly worse than the best")
    if "k_bad" in table and "n_units" in table and int(table.loc[name, "k_bad"]):
        lines.append(f"{int(table.loc[name, 'k_bad'])}/{int(table.loc[name, 'n_units'])} units: Pareto k too high")
    return "\n".join(lines)


def _comparison_note(table: pd.DataFrame) -> str:
    """What the figure's weights and differences mean, and how far to trust PSIS-LOO here."""
    lines = [
        "w: stacking weight, the mixture of the fits that predicts best; not the probability that a fit is true. "
        "It goes to 1 for the best fit even when the others predict almost as well.",
        "Within noise: |elpd difference| < 4, or less than 2 standard errors of the difference (the bars show "
        "1 standard error); such fits predict about as well as the best.",
    ]
    if "k_bad" in table and int(table["k_bad"].sum()):
        worst = table["k_bad"].astype(int).max()
        lines.append(
            f"Up to {worst} of {int(table['n_units'].max())} leave-out units per fit have Pareto k too high: "
            "PSIS-LOO is unreliable there and favours those fits; compare by exact K-fold (asem compare --kfold 4)."
        )
    return "\n".join(lines)
