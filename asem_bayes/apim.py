"""The longitudinal Actor-Partner Interdependence Model (APIM): the field's dyadic baseline.

A person's daily outcome is regressed on their own (actor) and their partner's (partner)
predictors, with random intercepts for the dyad and for the person within it, and the two
partners' same-day residuals correlated (Kenny, Kashy & Cook, 2006, ch. 7; Bolger &
Laurenceau, 2013, ch. 8)::

    y[d,i,t] = alpha + sum_k a_k x_k[d,i,t] + sum_k p_k x_k[d,j,t] + u[d] + v[d,i] + e[d,i,t]
    (e[d,0,t], e[d,1,t]) ~ Normal(0, sigma^2 [[1, r], [r, 1]])

The **lagged** APIM (``kind="lagged"``; Kenny, Kashy & Cook, 2006, ch. 7's stability and
influence model) adds the person's own rating the day before (stability ``s``) and the partner's
(influence ``q``)::

    y[d,i,t] = ... + s y[d,i,t-1] + q y[d,j,t-1] + u[d] + v[d,i] + e[d,i,t]

Partners are treated as indistinguishable (one residual scale, one set of effects). The
bivariate normal of a dyad-day is written as person 0's marginal times person 1's conditional,
so a day on which one partner's rating is missing keeps the other's (the marginal alone).

Predictors that are ASEM events (``threat``, ``safe``, ``soft``, ``confidence``,
``dependence``) take the values ASEM's dynamics read (:func:`asem_bayes.inputs.prepare_inputs`):
a shared event is the couple's one value per dyad-day and enters as one couple-level term, and
missing reports are filled by the same ``missing_events`` policy, so an APIM and an ASEM fit of
one study see the same event columns.

The pointwise log-likelihood is summed within a leave-out unit shared with ASEM fits
(``dyad``, ``person``, ``person-week``, ``person-day``, see :func:`apim_log_likelihood`), each
rating scored marginally over the partner's same-day rating or given it
(``partner_conditioning``), so :func:`arviz.compare` can put both side by side when they score
the same outcome (see :func:`asem_log_likelihood` and :func:`asem_bayes.compare.fair_comparison`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from arviz_stats.loo import SamplingWrapper

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.inputs import DataError
from asem_bayes.kfold import KFoldWrapper, unit_values
from asem_bayes.options import (
    APIM_KINDS,
    MISSING_EVENT_POLICIES,
    PARTNER_CONDITIONINGS,
    ApimKind,
    MissingEvents,
    PartnerConditioning,
)

__all__ = [
    "APIM_PARAMS",
    "LOO_UNITS",
    "ApimDesign",
    "apim_design",
    "apim_design_of",
    "build_apim",
    "fit_apim",
    "apim_log_likelihood",
    "apim_posterior_predictive",
    "apim_report",
    "asem_log_likelihood",
    "simulate_apim",
    "scorable_cells",
    "ApimKFoldWrapper",
    "AsemKFoldWrapper",
]

APIM_PARAMS: tuple[str, ...] = ("alpha", "beta", "tau_dyad", "tau_person", "sigma", "r")
TERM = "term"
MISSING_PREDICTORS = ("person_mean", "error")


def scorable_cells(y: np.ndarray, kind: str = "contemporaneous") -> np.ndarray:
    """The ``(dyad, person, day)`` cells an APIM scores: the observed ratings, and for the
    lagged APIM only those whose dyad has both partners' ratings of the day before.

    Parameters
    ----------
    y : numpy.ndarray
        Outcome ``(dyad, person, day)``, NaN where missing.
    kind : {"contemporaneous", "lagged"}
        The APIM.

    Returns
    -------
    numpy.ndarray
        Boolean, shape of ``y``. For ``"lagged"`` a person's first day is never scored (it has
        no day before: it is conditioned on, as a lag of the second day), nor is a day after one
        on which either partner's rating is missing.
    """
    if kind not in APIM_KINDS:
        raise ValueError(f"APIM kind must be one of {APIM_KINDS}, got {kind!r}")
    obs = ~np.isnan(y)
    return obs if kind == "contemporaneous" else obs & _lags_known(y)


def _lags_known(y: np.ndarray) -> np.ndarray:
    """Boolean ``(dyad, person, day)``: both partners rated the day before."""
    obs = ~np.isnan(y)
    known = np.zeros((y.shape[0], y.shape[2]), bool)
    known[:, 1:] = obs[:, 0, :-1] & obs[:, 1, :-1]
    return np.repeat(known[:, None, :], 2, axis=1)


@dataclass
class ApimDesign:
    """Arrays of one APIM fit.

    ``X`` is ``(dyad, person, day, term)`` (centred at the means of the cells where each term is
    defined; a lag term is 0 where the lag is missing), ``y`` ``(dyad, person, day)`` with NaN
    where missing (or held out). ``idx_marg`` are flat cells scored by their marginal normal,
    ``idx_cond`` person 1's cells scored given person 0's same-day residual (``idx_part``): the
    cells of :attr:`scored`. ``has_lags`` (lagged APIM) marks the cells whose lags, both
    partners' ratings of the day before, are known. ``events`` holds the ASEM event columns used
    as predictors (``(dyad, person, day)``, before centring) and ``spec`` the arguments that
    rebuild the design (:func:`apim_design_of`).
    """

    outcome: str
    terms: list[str]
    X: np.ndarray
    x_mean: np.ndarray
    y: np.ndarray
    idx_marg: np.ndarray
    idx_cond: np.ndarray
    idx_part: np.ndarray
    coords: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    kind: str = "contemporaneous"
    has_lags: np.ndarray | None = None
    events: dict[str, np.ndarray] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.y.shape  # type: ignore[return-value]

    @property
    def scored(self) -> np.ndarray:
        """Boolean ``(dyad, person, day)``: the cells this design's likelihood scores."""
        obs = ~np.isnan(self.y)
        return obs if self.has_lags is None else obs & self.has_lags

    def held_out(self, cells: np.ndarray) -> ApimDesign:
        """The design with the ratings of ``cells`` (boolean ``(dyad, person, day)``) held out.

        Their terms drop out of the likelihood: a held-out rating is not an outcome in training.
        In the lagged APIM it stays the lag (a predictor) of the next day's ratings of both
        partners, as in PSIS-LOO, which drops a unit's terms and keeps its ratings as the next
        days' predictors (the usual leave-out of autoregressive models; Buerkner, Gabry &
        Vehtari, 2020, Journal of Statistical Computation and Simulation). The predictors and
        their centring stay.
        """
        cells = np.asarray(cells, bool)
        if cells.shape != self.y.shape:
            raise ValueError(f"held-out cells must have the outcome's shape {self.y.shape}, got {cells.shape}")
        train = replace(self, y=np.where(cells, np.nan, self.y))
        idx_marg, idx_cond, idx_part = _indices(train.scored)
        return replace(train, idx_marg=idx_marg, idx_cond=idx_cond, idx_part=idx_part)


def _indices(scored: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``idx_marg``, ``idx_cond``, ``idx_part`` of the ``scored`` cells (see :class:`ApimDesign`)."""
    flat = np.arange(scored.size).reshape(scored.shape)
    s0, s1 = scored[:, 0], scored[:, 1]
    both = s0 & s1
    idx_marg = np.sort(np.concatenate([flat[:, 0][s0], flat[:, 1][s1 & ~s0]]))
    return idx_marg, flat[:, 1][both], flat[:, 0][both]


def _predictor(data: xr.Dataset, name: str) -> xr.DataArray:
    if name not in data:
        have = [str(k) for k in data.data_vars if data[k].attrs.get("role") not in ("latent", "parameter")]
        raise DataError(f"APIM predictor {name!r} is not in the data; variables: {have}")
    x = data[name]
    extra = set(x.dims) - {D.DYAD, D.PERSON, D.DAY}
    if extra:
        raise DataError(f"APIM predictor {name!r} has dims {x.dims}; only dyad, person and day are allowed")
    if D.DYAD not in x.dims:
        raise DataError(f"APIM predictor {name!r} has no 'dyad' dim")
    return x.astype(float)


def _shared(data: xr.Dataset, name: str) -> bool:
    """Whether predictor ``name`` is one value per couple (a shared ASEM event, or no person dim)."""
    return name in D.DYAD_EVENTS or D.PERSON not in _predictor(data, name).dims


def _asem_events(data: xr.Dataset, missing_events: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """The event columns ASEM's dynamics read, ``(dyad, person, day)``, and the fill notes."""
    from asem_bayes.inputs import prepare_inputs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # off-scale ratings: ASEM's concern, not the APIM's
        inp = prepare_inputs(data, joint=False, missing_events=missing_events)
    events = {k: np.ascontiguousarray(v.transpose(1, 2, 0)) for k, v in inp.events.items()}
    notes = [n for n in inp.notes if any(f"{e!r}" in n for e in D.EVENTS) and "filled" in n]
    return events, notes


def apim_design(
    data: xr.Dataset,
    outcome: str = "state_anxiety",
    actor: Sequence[str] | None = None,
    partner: Sequence[str] | None = None,
    *,
    missing_predictors: str = "person_mean",
    missing_events: MissingEvents | None = None,
    kind: ApimKind = "contemporaneous",
) -> ApimDesign:
    """Build the APIM arrays from a study Dataset.

    Parameters
    ----------
    data : xarray.Dataset
        A study (simulated or from :func:`asem_bayes.data.load_diary`).
    outcome : str
        Daily person-day variable to model (e.g. ``state_anxiety``).
    actor : sequence of str or None
        Predictors whose own value acts (``(dyad, person, day)``, ``(dyad, person)`` or, for a
        shared couple-level predictor such as ``threat``, ``(dyad, day)``). ``None``: the ASEM
        events present in the data (the columns an ASEM fit of the study reads).
    partner : sequence of str or None
        Predictors whose partner's value acts (default: the ``actor`` ones that are not shared
        by the couple).
    missing_predictors : {"person_mean", "error"}
        Fill a missing value of a predictor that is not an ASEM event with the person's mean over
        days (the grand mean for a person never observed), counted in ``notes``; or raise.
    missing_events : {"error", "absent", "person_rate"} or None
        Predictors that are ASEM events (``threat``, ``safe``, ``soft``, ``confidence``,
        ``dependence``) take the values ASEM reads (:func:`asem_bayes.inputs.prepare_inputs`): a
        shared event (``threat``, ``dependence``) is the couple's one value per dyad-day, even
        where the data hold each partner's report (combined as ASEM combines them), and enters
        as one couple-level term ``dyad:<event>``; a missing report is filled by this policy, as
        by the ASEM fit's ``missing_events`` (give the same one), and days outside a couple's
        diary are 0. ``None``: ``"person_rate"`` (the person's rate, as the person mean above)
        when ``missing_predictors="person_mean"``, else ``"error"``.
    kind : {"contemporaneous", "lagged"}
        The lagged APIM adds the terms ``stability:<outcome>`` (the person's own rating the day
        before) and ``influence:<outcome>`` (the partner's rating the day before) and scores only
        the cells of :func:`scorable_cells` (not a person's first day, nor a day after one on
        which either partner's rating is missing: those ratings are conditioned on as lags).
    """
    if missing_predictors not in MISSING_PREDICTORS:
        raise ValueError(f"missing_predictors must be one of {MISSING_PREDICTORS}, got {missing_predictors!r}")
    if missing_events is None:
        missing_events = "person_rate" if missing_predictors == "person_mean" else "error"
    if missing_events not in MISSING_EVENT_POLICIES:
        raise ValueError(f"missing_events must be one of {MISSING_EVENT_POLICIES}, got {missing_events!r}")
    if kind not in APIM_KINDS:
        raise ValueError(f"APIM kind must be one of {APIM_KINDS}, got {kind!r}")
    if outcome not in data:
        raise DataError(f"APIM outcome {outcome!r} is not in the data")
    yv = data[outcome]
    if set(yv.dims) != set(D.PERSON_DAY_DIMS):
        raise DataError(f"APIM outcome {outcome!r} must be a daily person variable {D.PERSON_DAY_DIMS}, has {yv.dims}")
    y = yv.transpose(*D.PERSON_DAY_DIMS).astype(float).values
    n_t = y.shape[2]
    if kind == "lagged" and n_t < 2:
        raise DataError(f"the lagged APIM needs at least 2 days, the data have {n_t}")
    if actor is None:
        actor = [e for e in D.EVENTS if e in data]
        if not actor:
            raise DataError("the data hold no ASEM events (threat, safe, ...); name the APIM's predictors (actor=...)")
    if partner is None:
        partner = [a for a in actor if not _shared(data, a)]
    notes: list[str] = []
    cols, terms = [], []
    events: dict[str, np.ndarray] = {}
    asem_events: dict[str, np.ndarray] | None = None
    if kind == "lagged":
        lag = np.full_like(y, np.nan)
        lag[..., 1:] = y[..., :-1]
        scored = scorable_cells(y, kind)
        for name, arr in ((f"stability:{outcome}", lag), (f"influence:{outcome}", lag[:, ::-1])):
            cols.append(np.where(scored, arr, np.nan))
            terms.append(name)
        n_lost = int((~scored & ~np.isnan(y)).sum())
        notes.append(
            f"lagged APIM: {n_lost} observed rating(s) without both partners' ratings of the day before (first days "
            "included) are conditioned on as lags, not scored"
        )
    for role, names in (("actor", actor), ("partner", partner)):
        for name in names:
            x = _predictor(data, name)
            shared = _shared(data, name)
            if shared and role == "partner":
                raise DataError(
                    f"{name!r} is shared by the couple (no 'person' dim): it has no separate partner effect"
                )
            if name in D.EVENTS:
                if asem_events is None:
                    asem_events, ev_notes = _asem_events(data, missing_events)
                    notes += ev_notes
                arr = asem_events[name].copy()
                events[name] = asem_events[name]
            else:
                x = x.expand_dims({k: data.sizes[k] for k in D.PERSON_DAY_DIMS if k not in x.dims})
                arr = x.transpose(*D.PERSON_DAY_DIMS).values.copy()
            if role == "partner":
                arr = arr[:, ::-1, :]
            nan = np.isnan(arr)
            if nan.any():
                if missing_predictors == "error":
                    d, i, t = np.argwhere(nan)[0]
                    raise DataError(
                        f"APIM predictor {name!r} ({role}) is missing on {int(nan.sum())} person-day(s), first at "
                        f"dyad={data[D.DYAD].values[d]!r}, person={i}, day={data[D.DAY].values[t]!r}"
                    )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # persons never observed: NaN, handled below
                    pm_ = np.nanmean(arr, axis=-1, keepdims=True)
                grand = float(np.nanmean(arr)) if (~nan).any() else 0.0
                never = np.isnan(pm_)
                fill = np.where(never, grand, pm_)
                arr = np.where(nan, np.broadcast_to(fill, arr.shape), arr)
                note = f"{int(nan.sum())} missing {role} value(s) of {name!r} filled with the person's mean"
                if never.any():
                    note += f" (the grand mean for {int(never.sum())} person(s) never observed)"
                notes.append(note)
            cols.append(arr)
            terms.append(f"{'dyad' if shared else role}:{name}")
    if len(cols) == (2 if kind == "lagged" else 0):
        raise DataError("the APIM needs at least one actor or partner predictor")
    X = np.stack(cols, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a lag term never defined: caught below
        x_mean = np.nanmean(X.reshape(-1, X.shape[-1]), axis=0)
    if np.isnan(x_mean).any():
        raise DataError(f"the lagged APIM of {outcome!r} has no day with both partners' ratings of the day before")
    X = np.nan_to_num(X - x_mean, nan=0.0)  # only lag terms are NaN: where the cell is not scored
    has_lags = _lags_known(y) if kind == "lagged" else None
    idx_marg, idx_cond, idx_part = _indices(scorable_cells(y, kind))
    if idx_marg.size + idx_cond.size == 0:
        raise DataError(f"APIM outcome {outcome!r} has no observed values{' with lags' if kind == 'lagged' else ''}")
    coords = {
        D.DYAD: data[D.DYAD].values,
        D.PERSON: data[D.PERSON].values,
        D.DAY: data[D.DAY].values,
        TERM: np.asarray(terms),
    }
    if n_t < 2:
        notes.append("one day only: the residual correlation is confounded with the person intercepts")
    spec = {
        "outcome": outcome,
        "actor": list(actor),
        "partner": list(partner),
        "missing_predictors": missing_predictors,
        "missing_events": missing_events,
        "kind": kind,
    }
    return ApimDesign(
        outcome, terms, X, x_mean, y, idx_marg, idx_cond, idx_part, coords, notes,
        kind=kind, has_lags=has_lags, events=events, spec=spec,
    )  # fmt: skip


def apim_design_of(fit: xr.DataTree, data: xr.Dataset) -> ApimDesign:
    """The design of an APIM fit (:func:`fit_apim`), rebuilt from ``data`` and the fit's ``attrs``.

    Raises
    ------
    DataError
        When the fit does not record its design, or ``data`` is not the study it was fitted to
        (another outcome, or other predictor means).
    """
    if fit.attrs.get("model") != "apim" or not fit.attrs.get("apim_spec"):
        raise DataError("not an APIM fit with its design recorded (attrs 'apim_spec'); fit it with fit_apim")
    spec = json.loads(fit.attrs["apim_spec"])
    design = apim_design(
        data,
        spec["outcome"],
        spec["actor"],
        spec["partner"],
        missing_predictors=spec["missing_predictors"],
        missing_events=spec["missing_events"],
        kind=spec["kind"],
    )
    x_mean = np.asarray(fit.attrs.get("x_mean", []), dtype=float)
    if x_mean.shape != design.x_mean.shape or not np.allclose(x_mean, design.x_mean, rtol=1e-9, atol=1e-12):
        raise DataError(
            f"the data are not those the APIM was fitted to: predictor means {design.x_mean.tolist()} against the "
            f"fit's {x_mean.tolist()}"
        )
    return design


def build_apim(design: ApimDesign) -> pm.Model:
    """The APIM as a PyMC model (non-centred random intercepts).

    Priors are weakly informative on the outcome's own scale: ``alpha ~ Normal(mean y, 2 sd y)``,
    ``beta_k ~ Normal(0, 2 sd y / sd x_k)``, ``tau_dyad, tau_person, sigma ~ HalfNormal(sd y)``,
    ``r ~ Uniform(-1, 1)``; ``mean y`` and ``sd y`` over the scored cells. The lag terms of
    the lagged APIM are ``beta`` entries like the others (``stability:<outcome>``,
    ``influence:<outcome>``), with the same prior (a coefficient of 1 is 2 prior SDs or more
    away for a lag as variable as the outcome).
    """
    y = design.y
    yf = y.reshape(-1)
    obs = yf[design.scored.reshape(-1)]
    y_mean, y_sd = float(obs.mean()), float(obs.std()) or 1.0
    x_sd = design.X.reshape(-1, design.X.shape[-1]).std(axis=0)
    x_sd = np.where(x_sd > 0, x_sd, 1.0)
    n_d, n_p, n_t = y.shape
    Xf = design.X.reshape(-1, design.X.shape[-1])
    with pm.Model(coords={k: v for k, v in design.coords.items()}) as model:
        alpha = pm.Normal("alpha", y_mean, 2 * y_sd)
        beta = pm.Normal("beta", 0.0, 2 * y_sd / x_sd, dims=TERM)
        tau_dyad = pm.HalfNormal("tau_dyad", y_sd)
        tau_person = pm.HalfNormal("tau_person", y_sd)
        sigma = pm.HalfNormal("sigma", y_sd)
        r = pm.Uniform("r", -1.0, 1.0)
        u_z = pm.Normal("u_z", 0.0, 1.0, dims=D.DYAD)
        v_z = pm.Normal("v_z", 0.0, 1.0, dims=D.PERSON_DIMS)
        u = pm.Deterministic("u", tau_dyad * u_z, dims=D.DYAD)
        v = pm.Deterministic("v", tau_person * v_z, dims=D.PERSON_DIMS)
        X = pm.Data("X", Xf)
        mu = (
            alpha
            + pm.math.dot(X, beta)
            + (u[:, None, None] + v[:, :, None] + pm.math.zeros((n_d, n_p, n_t))).reshape((-1,))
        )
        if design.idx_marg.size:
            im = pm.Data("idx_marg", design.idx_marg)
            pm.Normal("y_marginal", mu[im], sigma, observed=yf[design.idx_marg])
        if design.idx_cond.size:
            ic, ip = pm.Data("idx_cond", design.idx_cond), pm.Data("idx_part", design.idx_part)
            y_part = pm.Data("y_part", yf[design.idx_part])
            pm.Normal(
                "y_conditional",
                mu[ic] + r * (y_part - mu[ip]),
                sigma * pm.math.sqrt(1.0 - r**2),
                observed=yf[design.idx_cond],
            )
    return model


def _draws(post: xr.Dataset) -> dict[str, np.ndarray]:
    """Posterior draws stacked: scalars (n,), beta (n, K), u (n, dyad), v (n, dyad, person)."""

    def st(name: str, *dims: str) -> np.ndarray:
        x = post[name].transpose("chain", "draw", *dims).values
        return x.reshape(-1, *x.shape[2:])

    return {
        "alpha": st("alpha"),
        "beta": st("beta", TERM),
        "u": st("u", D.DYAD),
        "v": st("v", *D.PERSON_DIMS),
        "sigma": st("sigma"),
        "r": st("r"),
    }


def _mu(design: ApimDesign, p: Mapping[str, np.ndarray], sl: slice) -> np.ndarray:
    """Expected outcome ``(n, dyad * person * day)`` for a slice of draws."""
    n_d, n_p, n_t = design.shape
    Xf = design.X.reshape(-1, design.X.shape[-1])
    lin = p["alpha"][sl, None] + p["beta"][sl] @ Xf.T
    re = p["u"][sl][:, :, None, None] + p["v"][sl][:, :, :, None]
    return lin + np.broadcast_to(re, (lin.shape[0], n_d, n_p, n_t)).reshape(lin.shape[0], -1)


def _norm_logpdf(y: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    z = (y - mu) / sd
    return -0.5 * z**2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


LOO_UNITS: tuple[str, ...] = ("dyad", "person", "person-week", "person-day")


def _units(unit: str, n_d: int, n_t: int) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray], tuple[int, ...]]:
    """Unit of each flat (dyad, person, day) cell, as in :func:`asem_bayes.model.log_likelihood`."""
    d, i, t = np.meshgrid(np.arange(n_d), np.arange(2), np.arange(n_t), indexing="ij")
    if unit == "dyad":
        return d.reshape(-1), (D.DYAD,), {}, (n_d,)
    if unit == "person":
        return (d * 2 + i).reshape(-1), D.PERSON_DIMS, {}, (n_d, 2)
    if unit == "person-week":
        W = (n_t + 6) // 7
        return ((d * 2 + i) * W + t // 7).reshape(-1), (D.DYAD, D.PERSON, D.WEEK), {D.WEEK: np.arange(W)}, (n_d, 2, W)
    if unit == "person-day":
        return np.arange(n_d * 2 * n_t), D.PERSON_DAY_DIMS, {}, (n_d, 2, n_t)
    raise ValueError(f"APIM leave-out unit must be one of {LOO_UNITS}, got {unit!r}")


def _check_conditioning(partner_conditioning: str) -> None:
    if partner_conditioning not in PARTNER_CONDITIONINGS:
        raise ValueError(f"partner_conditioning must be one of {PARTNER_CONDITIONINGS}, got {partner_conditioning!r}")


def combine_cells(
    marg: np.ndarray,
    cond: np.ndarray,
    partner_rated: np.ndarray,
    cells: np.ndarray,
    unit: str,
    partner_conditioning: str,
) -> np.ndarray:
    """Each cell's term of a unit's log score, ``(n, dyad, person, day)`` (0 outside ``cells``).

    Parameters
    ----------
    marg : numpy.ndarray
        ``(n, dyad, person, day)``: each rating's log density marginal over the partner's same-day
        rating (given the person's own past, in models that condition on it).
    cond : numpy.ndarray
        The same given the partner's same-day rating; read only where ``partner_rated``.
    partner_rated : numpy.ndarray
        Boolean ``(dyad, person, day)``: the partner rated that day (and the model scores it).
    cells : numpy.ndarray
        Boolean ``(dyad, person, day)``: the cells to score.
    unit : str
        Leave-out unit. A dyad unit holds both partners: a dyad-day whose two cells are both
        scored counts their joint density (person 0's marginal plus person 1's conditional), under
        either ``partner_conditioning``.
    partner_conditioning : {"none", "partner"}
        Person-level units: score each rating marginally, or given the partner's same-day rating.
    """
    _check_conditioning(partner_conditioning)
    if unit == "dyad":
        both = cells[:, 0] & cells[:, 1]
        val = marg.copy()
        val[:, :, 1] = np.where(both, cond[:, :, 1], marg[:, :, 1])
    elif partner_conditioning == "partner":
        val = np.where(partner_rated, cond, marg)
    else:
        val = marg
    return np.where(cells, val, 0.0)


def unit_sums(
    cell_ll: np.ndarray, unit: str, coords: Mapping[str, np.ndarray], chain: np.ndarray, draw: np.ndarray
) -> xr.DataArray:
    """Cell terms ``(n, dyad, person, day)`` summed within each ``unit``, as ``(chain, draw, *unit dims)``."""
    n, n_d, _, n_t = cell_ll.shape
    cell_unit, udims, extra, ushape = _units(unit, n_d, n_t)
    n_units = int(np.prod(ushape))
    total = np.zeros((n, n_units))
    np.add.at(total.T, cell_unit, cell_ll.reshape(n, -1).T)
    c = {k: (extra[k] if k in extra else coords[k]) for k in udims}
    c.update(chain=chain, draw=draw)
    return xr.DataArray(
        total.reshape(len(chain), len(draw), *ushape), dims=("chain", "draw", *udims), coords=c, attrs={"unit": unit}
    )


def apim_log_likelihood(
    post: xr.Dataset,
    design: ApimDesign,
    unit: str = "dyad",
    chunk: int = 500,
    *,
    partner_conditioning: PartnerConditioning = "none",
    cells: np.ndarray | None = None,
) -> xr.Dataset:
    """Log-likelihood of every draw summed within each leave-out unit: ``log_lik``.

    The partners' same-day residuals are correlated, so the likelihood does not factorise over
    persons given the parameters. For ``unit="dyad"`` the terms are person 0's marginal and
    person 1's conditional density, which add up to each dyad-day's bivariate normal (under
    either ``partner_conditioning``). For the person-level units (``"person"``,
    ``"person-week"``, ``"person-day"``) each rating is scored

    - ``partner_conditioning="none"`` (default): by its marginal density ``Normal(mu, sigma)``,
      not using the partner's same-day rating, as an ASEM fit without the ``"partner"``
      residual option scores it: the fair comparison with such fits
      (:func:`asem_bayes.compare.fair_comparison`);
    - ``"partner"``: by its density *given the partner's same-day rating* (the marginal where
      that is missing), ``Normal(mu_i + r (y_j - mu_j), sigma^2 (1 - r^2))``: the leave-out
      predictive of a non-factorised normal model (Buerkner, Gabry & Vehtari, 2021,
      Computational Statistics), and the behaviour before the option existed.

    The lagged APIM scores only :attr:`ApimDesign.scored` (its first days are conditioned on).
    ``cells`` (boolean ``(dyad, person, day)``) restricts the score further, to the cells that
    every model of a comparison scores. The dims and coords match an ASEM fit's
    ``log_likelihood`` for the same unit, so :func:`arviz.compare` can take both. ``post`` may
    come from a fit of :meth:`ApimDesign.held_out` (K-fold): ``design`` gives the ratings scored.
    """
    _check_conditioning(partner_conditioning)
    _units(unit, *design.shape[::2])  # validates the unit
    p = _draws(post)
    n_all = p["alpha"].shape[0]
    y = design.y
    yf = y.reshape(-1)
    scored = design.scored
    cells = scored if cells is None else (np.asarray(cells, bool) & scored)
    partner_rated = scored[:, ::-1]
    flat = np.arange(yf.size).reshape(y.shape)
    part = flat[:, ::-1].reshape(-1)
    y_part = np.nan_to_num(yf[part])
    parts = []
    for start in range(0, n_all, chunk):
        sl = slice(start, min(start + chunk, n_all))
        mu = _mu(design, p, sl)
        sig, r = p["sigma"][sl, None], p["r"][sl, None]
        y0 = np.nan_to_num(yf)
        marg = _norm_logpdf(y0, mu, sig)
        cond = _norm_logpdf(y0, mu + r * (y_part - mu[:, part]), sig * np.sqrt(1 - r**2))
        shape = (mu.shape[0], *y.shape)
        parts.append(combine_cells(marg.reshape(shape), cond.reshape(shape), partner_rated, cells, unit,
                                   partner_conditioning))  # fmt: skip
    cell_ll = np.concatenate(parts, axis=0)
    da = unit_sums(cell_ll, unit, design.coords, post["chain"].values, post["draw"].values)
    da.attrs["partner_conditioning"] = partner_conditioning
    return xr.Dataset({"log_lik": da}, attrs={"unit": unit, "partner_conditioning": partner_conditioning})


def apim_posterior_predictive(post: xr.Dataset, design: ApimDesign, rng: np.random.Generator) -> xr.Dataset:
    """Replicated outcomes for every person-day, drawn dyad-day by dyad-day (bivariate normal).

    For the lagged APIM the replications are one step ahead: each day's given the observed
    ratings of the day before, NaN where the design scores no rating (a person's first day, a
    day after a missing rating).
    """
    p = _draws(post)
    n_all = p["alpha"].shape[0]
    shape = design.shape
    mu = _mu(design, p, slice(None)).reshape(n_all, *shape)
    sig, r = p["sigma"][:, None, None], p["r"][:, None, None]
    e0 = sig * rng.standard_normal((n_all, shape[0], shape[2]))
    e1 = r * e0 + sig * np.sqrt(1 - r**2) * rng.standard_normal(e0.shape)
    rep = mu + np.stack([e0, e1], axis=2)
    if design.has_lags is not None:  # days with both partners' ratings of the day before
        rep = np.where(design.has_lags, rep, np.nan)
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    coords = {k: design.coords[k] for k in D.PERSON_DAY_DIMS}
    coords.update(chain=post["chain"].values, draw=post["draw"].values)
    return xr.Dataset(
        {design.outcome: (("chain", "draw", *D.PERSON_DAY_DIMS), rep.reshape(nc, nd, *shape))}, coords=coords
    )


def _sample(
    design: ApimDesign,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int | None,
    cores: int | None,
    target_accept: float,
    progressbar: bool = False,
) -> tuple[xr.DataTree, float]:
    """The posterior and sample stats of ``design``'s APIM (nutpie), and the seconds it took."""
    model = build_apim(design)
    t0 = time.perf_counter()
    with model:
        dt = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores or min(chains, 2),
            random_seed=seed,
            nuts_sampler="nutpie",
            target_accept=target_accept,
            progressbar=progressbar,
            compute_convergence_checks=False,
            idata_kwargs={"log_likelihood": False},
        )
    seconds = time.perf_counter() - t0
    if not isinstance(dt, xr.DataTree):  # pragma: no cover - older PyMC returned InferenceData
        dt = xr.DataTree.from_dict({g: dt[g] for g in dt.groups()})
    groups = {g: dt[g].to_dataset() for g in ("posterior", "sample_stats") if g in dt.children}
    return xr.DataTree.from_dict(groups), seconds


def fit_apim(
    data: xr.Dataset,
    outcome: str = "state_anxiety",
    actor: Sequence[str] | None = None,
    partner: Sequence[str] | None = None,
    *,
    kind: ApimKind = "contemporaneous",
    missing_predictors: str = "person_mean",
    missing_events: MissingEvents | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    cores: int | None = None,
    loo_unit: str | None = "dyad",
    partner_conditioning: PartnerConditioning = "none",
    posterior_predictive: bool = False,
    progressbar: bool = False,
    target_accept: float = 0.8,
) -> xr.DataTree:
    """Fit the longitudinal APIM (or the lagged APIM) with nutpie.

    Parameters
    ----------
    data, outcome, actor, partner, missing_predictors, missing_events
        See :func:`apim_design`. By default the predictors are the ASEM events in the data,
        with ASEM's values (shared events once per couple).
    kind : {"contemporaneous", "lagged"}
        ``"lagged"`` adds stability (own rating the day before) and influence (the partner's
        rating the day before), the second baseline; it scores neither a person's first day nor
        a day after a missing rating of either partner (those are conditioned on as lags), so
        its stored log-likelihood scores fewer ratings than other models' do: compare it with
        :func:`asem_bayes.compare.fair_comparison`, which drops those ratings from every model.
    draws, tune, chains, seed, cores, target_accept, progressbar
        Sampler settings (``pm.sample(nuts_sampler="nutpie")``).
    loo_unit : {"dyad", "person", "person-week", "person-day"} or None
        Leave-out unit of the stored log-likelihood (see :func:`apim_log_likelihood`;
        ``None`` skips it).
    partner_conditioning : {"none", "partner"}
        Whether the stored person-level log-likelihood scores each rating marginally over the
        partner's same-day rating (default, as ASEM fits without a partner residual) or given it
        (see :func:`apim_log_likelihood`).
    posterior_predictive : bool
        Add replicated outcomes for every person-day (one step ahead for the lagged APIM).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior`` (``alpha``, ``beta`` over ``term``, ``tau_dyad``,
        ``tau_person``, ``sigma``, ``r``, random intercepts ``u``, ``v``), ``sample_stats``,
        ``observed_data`` (the outcome), ``constant_data`` (the centred predictors),
        ``log_likelihood`` and optionally ``posterior_predictive``; ``attrs`` ``model="apim"``,
        ``apim_kind``, the terms, predictor means, the design's arguments (``apim_spec``, for
        :func:`apim_design_of`), seed, timings and notes. Check it with :func:`apim_report`
        (diagnostics via :func:`asem_bayes.diagnostics.diagnose`).
    """
    _check_conditioning(partner_conditioning)
    design = apim_design(
        data, outcome, actor, partner, missing_predictors=missing_predictors, missing_events=missing_events, kind=kind
    )
    out, sample_seconds = _sample(
        design,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        cores=cores,
        target_accept=target_accept,
        progressbar=progressbar,
    )
    out["observed_data"] = xr.Dataset({outcome: data[outcome].transpose(*D.PERSON_DAY_DIMS)}).reset_coords(drop=True)
    out["constant_data"] = xr.Dataset(
        {"X": ((*D.PERSON_DAY_DIMS, TERM), design.X)}, coords={k: design.coords[k] for k in (*D.PERSON_DAY_DIMS, TERM)}
    )
    post = out.posterior.to_dataset()
    if loo_unit is not None:
        out["log_likelihood"] = apim_log_likelihood(post, design, loo_unit, partner_conditioning=partner_conditioning)
    if posterior_predictive:
        rng = np.random.default_rng(None if seed is None else seed + 1)
        out["posterior_predictive"] = apim_posterior_predictive(post, design, rng)
    out.attrs.update(
        model="apim",
        apim_kind=kind,
        outcome=outcome,
        terms=list(design.terms),
        x_mean=[float(x) for x in design.x_mean],
        apim_spec=json.dumps(design.spec),
        sampler="nutpie",
        seed=-1 if seed is None else int(seed),
        draws=int(draws),
        tune=int(tune),
        target_accept=float(target_accept),
        sample_seconds=float(sample_seconds),
        loo_unit=loo_unit or "",
        partner_conditioning=partner_conditioning,
        notes="; ".join(design.notes),
    )
    return out


def apim_report(fit: xr.DataTree, ci_prob: float = 0.9) -> str:
    """Estimates with equal-tailed intervals and the diagnostics in words."""
    from asem_bayes.diagnostics import diagnose

    names = [n for n in APIM_PARAMS if n in fit.posterior]
    tab = az.summary(fit, var_names=names, ci_prob=ci_prob, ci_kind="eti", round_to="none")
    d = diagnose(fit, var_names=names + ["u", "v"])
    kind = fit.attrs.get("apim_kind", "contemporaneous")
    lines = [
        f"{'Lagged APIM' if kind == 'lagged' else 'APIM'} of {fit.attrs.get('outcome')!r} on "
        f"{', '.join(fit.attrs.get('terms', []))} (predictors centred at their means), {d.n_draws} draws",
        tab.to_string(float_format=lambda x: f"{x:.3f}"),
        "",
        *d.lines(),
    ]
    if fit.attrs.get("notes"):
        lines.append(f"notes: {fit.attrs['notes']}")
    return "\n".join(lines)


class ApimKFoldWrapper(SamplingWrapper):
    """:class:`arviz_stats.loo.SamplingWrapper` that refits an APIM with a fold's ratings held out.

    Each refit samples :meth:`ApimDesign.held_out` (a new PyMC model per fold: the scored cells
    change) and scores the held-out units under its posterior with :func:`apim_log_likelihood`
    on the full ``design`` (so held-out ratings are scored given the observed lags and, with
    ``partner_conditioning="partner"``, the partner's observed same-day rating).

    Parameters
    ----------
    fit : xarray.DataTree
        The full-data fit.
    design : ApimDesign
        Its design (:func:`apim_design_of`).
    unit : str
        Leave-out unit.
    units : numpy.ndarray
        Flat indices (C order of the unit dims) of the units compared; a held-out index of
        :func:`arviz_stats.loo_kfold` is a position in it.
    cells : numpy.ndarray
        Boolean ``(dyad, person, day)``: the cells scored.
    partner_conditioning : {"none", "partner"}
        As in :func:`apim_log_likelihood`.
    sample_kwargs : dict
        ``draws``, ``tune``, ``chains``, ``seed``, ``cores``, ``target_accept`` of each refit
        (fold ``j`` samples with ``seed + j``).
    """

    def __init__(
        self,
        fit: xr.DataTree,
        design: ApimDesign,
        unit: str,
        units: np.ndarray,
        cells: np.ndarray,
        partner_conditioning: PartnerConditioning,
        sample_kwargs: Mapping[str, Any],
    ) -> None:
        super().__init__(model=design, idata_orig=fit)
        self.design = design
        self.unit = unit
        self.units = np.asarray(units, dtype=int)
        self.cells = np.asarray(cells, bool)
        self.partner_conditioning = partner_conditioning
        self.sample_kwargs = dict(sample_kwargs)
        n_d, _, n_t = design.shape
        self.cell_unit = _units(unit, n_d, n_t)[0]
        self.fold = 0

    def held_out_cells(self, idx: np.ndarray) -> np.ndarray:
        """Boolean ``(dyad, person, day)`` mask of the scored cells (:attr:`cells`) of the units at
        positions ``idx``: what PSIS-LOO leaves out (a unit's unscored ratings stay in training)."""
        held = np.zeros(int(self.cell_unit.max()) + 1, bool)
        held[self.units[np.asarray(idx, dtype=int)]] = True
        return held[self.cell_unit].reshape(self.design.shape) & self.cells

    def sel_observations(self, idx: np.ndarray) -> tuple[ApimDesign, np.ndarray]:
        return self.design.held_out(self.held_out_cells(idx)), np.asarray(idx, dtype=int)

    def sample(self, modified_observed_data: ApimDesign) -> xr.DataTree:
        self.fold += 1
        kw = dict(self.sample_kwargs)
        if kw.get("seed") is not None:
            kw["seed"] = int(kw["seed"]) + self.fold
        return _sample(modified_observed_data, **kw)[0]

    def get_inference_data(self, fitted_model: xr.DataTree) -> xr.DataTree:
        return fitted_model

    def log_likelihood__i(self, excluded_obs: np.ndarray, idata__i: xr.DataTree) -> xr.DataArray:
        ll = apim_log_likelihood(
            idata__i.posterior.to_dataset(),
            self.design,
            self.unit,
            partner_conditioning=self.partner_conditioning,
            cells=self.cells,
        )["log_lik"]
        flat = ll.values.reshape(ll.sizes["chain"], ll.sizes["draw"], -1)[:, :, self.units][:, :, excluded_obs]
        return xr.DataArray(flat, dims=("chain", "draw", "unit"), coords={"unit": excluded_obs})


def asem_log_likelihood(
    fit: xr.DataTree,
    data: xr.Dataset,
    ratings: Sequence[str] | None = None,
    unit: str = "dyad",
    *,
    partner_conditioning: PartnerConditioning = "none",
    cells: np.ndarray | None = None,
) -> xr.Dataset:
    """An ASEM fit's log-likelihood restricted to some observed ratings, summed within ``unit``.

    ``arviz.compare`` is only meaningful between models that score the same data: an ASEM fit
    also scores trait waves (and, in the joint mode, events) that the APIM does not. This
    recomputes the fit's ``log_lik`` for ``ratings`` only (default: the daily ratings), from the
    events the fit ran on (its ``constant_data``), with the fit's residual option
    (docs/model.md section 17, ``attrs["residuals"]``).

    Parameters
    ----------
    fit : xarray.DataTree
        An ASEM fit (its ``attrs`` name the variant, mode and residual option).
    data : xarray.Dataset
        The study it was fitted to (or that study with more ratings, to score held-out ones).
    ratings : sequence of str or None
        The ratings to score (default: the daily ratings present).
    unit : {"dyad", "person", "person-week", "person-day"}
        Leave-out unit.
    partner_conditioning : {"none", "partner"}
        For the person-level units, score each daily rating marginally over the partner's
        same-day rating (default) or given it, as :func:`apim_log_likelihood` does. A fit
        without the ``"partner"`` residual option models the partners' same-day ratings as
        independent given its parameters, so both give its own log-likelihood (with ``"ar1"``
        each rating is scored given the person's last observed one either way). A fit with
        ``"partner"`` stores person 0's rating marginal and person 1's given person 0's; here
        ``"none"`` scores both marginally, ``"partner"`` both given the partner (person 0's
        conditional as the dyad-day's joint density minus person 1's marginal). A dyad unit is
        scored by the joint density either way.
    cells : numpy.ndarray or None
        Boolean ``(dyad, person, day)``: score only these cells (trait scores count in their
        wave day's cell).
    """
    from asem_bayes import model as asem_model
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.residuals import with_residuals

    _check_conditioning(partner_conditioning)
    res = tuple(r for r in str(fit.attrs.get("residuals", "") or "").split(",") if r)
    v = asem_model.resolve_variant(fit.attrs["asem_variant"], res)
    mode = fit.attrs.get("asem_mode", "conditional")
    mode = "conditional" if mode == "joint" else mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # off-scale notes were given when the fit was made
        inp = prepare_inputs(data, joint=False, missing_events="absent")
    ratings = list(ratings) if ratings is not None else [r for r in D.DAILY_RATINGS if r in inp.obs]
    missing = [r for r in ratings if r not in inp.obs]
    if missing:
        raise DataError(f"the data hold no {missing} ratings to score")
    cd = fit.constant_data.to_dataset()
    events = {k: np.ascontiguousarray(cd[k].transpose(*D.PERSON_DAY_DIMS).values.transpose(2, 0, 1)) for k in D.EVENTS}
    inp = replace(inp, events=events)
    post = fit.posterior.to_dataset()
    all_cells = np.ones((inp.n_dyads, 2, inp.n_days), bool)
    cells = all_cells if cells is None else np.asarray(cells, bool)
    if cells.shape != all_cells.shape:
        raise ValueError(f"cells must have the shape (dyad, person, day) {all_cells.shape}, got {cells.shape}")
    partner = "partner" in v.residuals
    v_marg = with_residuals(v, ()) if partner else v
    total = None
    for name in ratings:
        one = replace(inp, obs={name: inp.obs[name]})

        def person_day(variant: Any, one: Any = one) -> np.ndarray:
            ll = asem_model.log_likelihood(post, one, variant, mode, "person-day")["log_lik"]
            return ll.values.reshape(-1, inp.n_dyads, 2, inp.n_days)

        marg = person_day(v_marg)
        if partner and name in D.DAILY_RATINGS:
            joint = person_day(v)  # person 0 marginal, person 1 given person 0 (section 17)
            cond = joint.copy()
            cond[:, :, 0] = joint[:, :, 0] + joint[:, :, 1] - marg[:, :, 1]
        else:
            cond = marg
        rated = np.zeros(inp.n_dyads * 2 * inp.n_days, bool)
        rated[inp.obs[name][0]] = True
        rated = rated.reshape(inp.n_dyads, 2, inp.n_days)
        term = combine_cells(marg, cond, rated[:, ::-1] & rated, cells & rated, unit, partner_conditioning)
        total = term if total is None else total + term
    assert total is not None
    da = unit_sums(total, unit, inp.coords, post["chain"].values, post["draw"].values)
    da.attrs["partner_conditioning"] = partner_conditioning
    return xr.Dataset({"log_lik": da}, attrs={"unit": unit, "partner_conditioning": partner_conditioning})


class AsemKFoldWrapper(KFoldWrapper):
    """:class:`asem_bayes.kfold.KFoldWrapper` for comparing an ASEM fit with the APIM on one rating.

    A fold holds out only ``outcome``'s ratings of its units that are in ``cells`` (the trait
    waves, other daily ratings and unscored ratings stay in training: the comparison does not
    score them, and PSIS-LOO of :func:`asem_log_likelihood` leaves them in the posterior too) and
    scores the held-out units with :func:`asem_log_likelihood` on ``cells`` with
    ``partner_conditioning``.

    Parameters
    ----------
    fit : xarray.DataTree
        The full-data ASEM fit.
    data : xarray.Dataset
        Its study.
    compiled : CompiledModel
        Compiled for this design, variant, mode and residual option.
    sample_kwargs : dict
        :meth:`CompiledModel.fit` settings of each refit (fold ``j`` samples with ``seed + j``).
    outcome : str
        The daily rating compared.
    unit : str
        Leave-out unit.
    units : numpy.ndarray
        Flat indices (C order of the unit dims) of the units compared; a held-out index of
        :func:`arviz_stats.loo_kfold` is a position in it.
    cells : numpy.ndarray
        Boolean ``(dyad, person, day)``: the cells scored.
    partner_conditioning : {"none", "partner"}
        As in :func:`asem_log_likelihood`.
    """

    def __init__(
        self,
        fit: xr.DataTree,
        data: xr.Dataset,
        compiled: Any,
        sample_kwargs: dict[str, Any],
        outcome: str,
        unit: str,
        units: np.ndarray,
        cells: np.ndarray,
        partner_conditioning: PartnerConditioning,
    ) -> None:
        proxy = xr.DataTree.from_dict({"posterior": fit.posterior.to_dataset()})
        proxy.attrs.update({**fit.attrs, "loo_unit": unit})  # the base class reads the unit here
        super().__init__(proxy, data, compiled, sample_kwargs)
        self.outcome = outcome
        self.units = np.asarray(units, dtype=int)
        self.cells = np.asarray(cells, bool)
        self.partner_conditioning = partner_conditioning

    def held_out_cells(self, units: np.ndarray) -> np.ndarray:
        """Boolean ``(dyad, person, day)`` mask of the scored cells (:attr:`cells`) of the units at
        positions ``units`` of :attr:`units`: what PSIS-LOO leaves out (a unit's unscored ratings,
        e.g. a first day the lagged APIM cannot score, stay in training)."""
        return super().held_out_cells(self.units[np.asarray(units, dtype=int)]) & self.cells

    def sel_observations(self, idx: np.ndarray) -> tuple[xr.Dataset, np.ndarray]:
        cells = xr.DataArray(self.held_out_cells(idx), dims=D.PERSON_DAY_DIMS)
        train = self.data.copy()
        da = train[self.outcome]
        train[self.outcome] = da.transpose(*D.PERSON_DAY_DIMS).where(~cells).transpose(*da.dims)
        return train, np.asarray(idx, dtype=int)

    def log_likelihood__i(self, excluded_obs: np.ndarray, idata__i: xr.DataTree) -> xr.DataArray:
        ll = asem_log_likelihood(
            idata__i, self.data, [self.outcome], self.unit, partner_conditioning=self.partner_conditioning,
            cells=self.cells,
        )["log_lik"]  # fmt: skip
        flat = unit_values(ll)[:, :, self.units][:, :, excluded_obs]
        return xr.DataArray(flat, dims=("chain", "draw", "unit"), coords={"unit": excluded_obs})


def simulate_apim(
    n_dyads: int = 50,
    n_days: int = 14,
    params: Mapping[str, float] | None = None,
    *,
    missing: float = 0.0,
    seed: int | None = None,
) -> xr.Dataset:
    """Simulate an APIM study: predictor ``x`` (person-day) and outcome ``y``.

    ``x`` varies within persons (standard normal) around person means (sd 0.5). Defaults:
    ``alpha=4, actor=0.5, partner=0.25, tau_dyad=0.4, tau_person=0.3, sigma=0.8, r=0.3`` and
    no lag dependence, ``stability=0, influence=0``. With a lag coefficient the process is the
    lagged APIM's: from day 1 on, ``stability * y[i, t-1] + influence * y[j, t-1]`` is added to
    the day's mean (day 0 has no day before; the same random numbers as without lags).
    ``missing`` is the probability that a person-day's ``y`` is missing (after the process ran
    on every day). True values are in ``attrs``.
    """
    p = {
        "alpha": 4.0,
        "actor": 0.5,
        "partner": 0.25,
        "tau_dyad": 0.4,
        "tau_person": 0.3,
        "sigma": 0.8,
        "r": 0.3,
        "stability": 0.0,
        "influence": 0.0,
    }
    unknown = sorted(set(params or {}) - set(p))
    if unknown:
        raise ValueError(f"unknown APIM parameter(s) {unknown}; choose from {sorted(p)}")
    p.update(params or {})
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.5, (n_dyads, 2, 1)) + rng.standard_normal((n_dyads, 2, n_days))
    u = p["tau_dyad"] * rng.standard_normal((n_dyads, 1, 1))
    v = p["tau_person"] * rng.standard_normal((n_dyads, 2, 1))
    e0 = rng.standard_normal((n_dyads, n_days))
    e1 = p["r"] * e0 + np.sqrt(1 - p["r"] ** 2) * rng.standard_normal((n_dyads, n_days))
    e = p["sigma"] * np.stack([e0, e1], axis=1)
    y = p["alpha"] + p["actor"] * x + p["partner"] * x[:, ::-1] + u + v + e
    if p["stability"] or p["influence"]:
        for t in range(1, n_days):
            y[..., t] += p["stability"] * y[..., t - 1] + p["influence"] * y[:, ::-1, t - 1]
    y = np.where(rng.random(y.shape) < missing, np.nan, y)
    coords = {D.DYAD: np.arange(n_dyads), D.PERSON: np.arange(2), D.DAY: np.arange(n_days)}
    return xr.Dataset(
        {
            "x": (D.PERSON_DAY_DIMS, x, {"role": "covariate"}),
            "y": (D.PERSON_DAY_DIMS, y, {"role": D.ROLE_RATING}),
        },
        coords=coords,
        attrs={f"true_{k}": float(val) for k, val in p.items()},
    )
