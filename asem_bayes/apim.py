"""The longitudinal Actor-Partner Interdependence Model (APIM): the field's dyadic baseline.

A person's daily outcome is regressed on their own (actor) and their partner's (partner)
predictors, with random intercepts for the dyad and for the person within it, and the two
partners' same-day residuals correlated (Kenny, Kashy & Cook, 2006, ch. 7; Bolger &
Laurenceau, 2013, ch. 8)::

    y[d,i,t] = alpha + sum_k a_k x_k[d,i,t] + sum_k p_k x_k[d,j,t] + u[d] + v[d,i] + e[d,i,t]
    (e[d,0,t], e[d,1,t]) ~ Normal(0, sigma^2 [[1, r], [r, 1]])

Partners are treated as indistinguishable (one residual scale, one set of effects). The
bivariate normal of a dyad-day is written as person 0's marginal times person 1's conditional,
so a day on which one partner's rating is missing keeps the other's (the marginal alone).
The pointwise log-likelihood is summed within a leave-out unit shared with ASEM fits
(``dyad``, or ``person``/``person-week``/``person-day`` scored given the partner's same-day
rating, see :func:`apim_log_likelihood`), so :func:`arviz.compare` can put both side by side
when they score the same outcome (see :func:`asem_log_likelihood`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.inputs import DataError

__all__ = [
    "APIM_PARAMS",
    "LOO_UNITS",
    "ApimDesign",
    "apim_design",
    "build_apim",
    "fit_apim",
    "apim_log_likelihood",
    "apim_posterior_predictive",
    "apim_report",
    "asem_log_likelihood",
    "simulate_apim",
]

APIM_PARAMS: tuple[str, ...] = ("alpha", "beta", "tau_dyad", "tau_person", "sigma", "r")
TERM = "term"
MISSING_PREDICTORS = ("person_mean", "error")


@dataclass
class ApimDesign:
    """Arrays of one APIM fit.

    ``X`` is ``(dyad, person, day, term)`` (grand-mean centred), ``y`` ``(dyad, person, day)``
    with NaN where missing. ``idx_marg`` are flat cells scored by their marginal normal,
    ``idx_cond`` person 1's cells scored given person 0's same-day residual (``idx_part``).
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

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.y.shape  # type: ignore[return-value]


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


def apim_design(
    data: xr.Dataset,
    outcome: str = "state_anxiety",
    actor: Sequence[str] = ("threat",),
    partner: Sequence[str] | None = None,
    *,
    missing_predictors: str = "person_mean",
) -> ApimDesign:
    """Build the APIM arrays from a study Dataset.

    Parameters
    ----------
    data : xarray.Dataset
        A study (simulated or from :func:`asem_bayes.data.load_diary`).
    outcome : str
        Daily person-day variable to model (e.g. ``state_anxiety``).
    actor : sequence of str
        Predictors whose own value acts (``(dyad, person, day)``, ``(dyad, person)`` or, for a
        shared couple-level predictor such as ``threat``, ``(dyad, day)``).
    partner : sequence of str or None
        Predictors whose partner's value acts (default: the person-level ``actor`` ones).
    missing_predictors : {"person_mean", "error"}
        Fill a missing predictor value with the person's mean over days (the grand mean for a
        person never observed), counted in ``notes``; or raise.
    """
    if missing_predictors not in MISSING_PREDICTORS:
        raise ValueError(f"missing_predictors must be one of {MISSING_PREDICTORS}, got {missing_predictors!r}")
    if outcome not in data:
        raise DataError(f"APIM outcome {outcome!r} is not in the data")
    yv = data[outcome]
    if set(yv.dims) != set(D.PERSON_DAY_DIMS):
        raise DataError(f"APIM outcome {outcome!r} must be a daily person variable {D.PERSON_DAY_DIMS}, has {yv.dims}")
    y = yv.transpose(*D.PERSON_DAY_DIMS).astype(float).values
    n_d, _, n_t = y.shape
    if partner is None:
        partner = [a for a in actor if D.PERSON in _predictor(data, a).dims]
    notes: list[str] = []
    cols, terms = [], []
    for role, names in (("actor", actor), ("partner", partner)):
        for name in names:
            x = _predictor(data, name)
            shared = D.PERSON not in x.dims
            if shared and role == "partner":
                raise DataError(
                    f"{name!r} is shared by the couple (no 'person' dim): it has no separate partner effect"
                )
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
    if not cols:
        raise DataError("the APIM needs at least one actor or partner predictor")
    X = np.stack(cols, axis=-1)
    x_mean = X.reshape(-1, X.shape[-1]).mean(axis=0)
    X = X - x_mean
    flat = np.arange(y.size).reshape(y.shape)
    obs0, obs1 = ~np.isnan(y[:, 0]), ~np.isnan(y[:, 1])
    both = obs0 & obs1
    idx_marg = np.sort(np.concatenate([flat[:, 0][obs0], flat[:, 1][obs1 & ~obs0]]))
    idx_cond, idx_part = flat[:, 1][both], flat[:, 0][both]
    if idx_marg.size + idx_cond.size == 0:
        raise DataError(f"APIM outcome {outcome!r} has no observed values")
    coords = {
        D.DYAD: data[D.DYAD].values,
        D.PERSON: data[D.PERSON].values,
        D.DAY: data[D.DAY].values,
        TERM: np.asarray(terms),
    }
    if n_t < 2:
        notes.append("one day only: the residual correlation is confounded with the person intercepts")
    del n_d
    return ApimDesign(outcome, terms, X, x_mean, y, idx_marg, idx_cond, idx_part, coords, notes)


def build_apim(design: ApimDesign) -> pm.Model:
    """The APIM as a PyMC model (non-centred random intercepts).

    Priors are weakly informative on the outcome's own scale: ``alpha ~ Normal(mean y, 2 sd y)``,
    ``beta_k ~ Normal(0, 2 sd y / sd x_k)``, ``tau_dyad, tau_person, sigma ~ HalfNormal(sd y)``,
    ``r ~ Uniform(-1, 1)``.
    """
    y = design.y
    yf = y.reshape(-1)
    obs = yf[~np.isnan(yf)]
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


def apim_log_likelihood(post: xr.Dataset, design: ApimDesign, unit: str = "dyad", chunk: int = 500) -> xr.Dataset:
    """Log-likelihood of every draw summed within each leave-out unit: ``log_lik``.

    The partners' same-day residuals are correlated, so the likelihood does not factorise over
    persons given the parameters. For ``unit="dyad"`` the terms are person 0's marginal and
    person 1's conditional density, which add up to each dyad-day's bivariate normal. For the
    person-level units (``"person"``, ``"person-week"``, ``"person-day"``) each rating is
    scored by its density *given the partner's same-day rating* (the marginal where that is
    missing): the leave-out predictive of a non-factorised normal model (Buerkner, Gabry &
    Vehtari, 2021, Computational Statistics). The dims and coords match an ASEM fit's
    ``log_likelihood`` for the same unit, so :func:`arviz.compare` can take both.
    """
    cell_unit, udims, extra, ushape = _units(unit, *design.shape[::2])
    p = _draws(post)
    n_all = p["alpha"].shape[0]
    n_d, n_p, n_t = design.shape
    y = design.y
    yf = y.reshape(-1)
    if unit == "dyad":
        idx_m, idx_c, idx_p = design.idx_marg, design.idx_cond, design.idx_part
    else:
        flat = np.arange(yf.size).reshape(y.shape)
        obs = ~np.isnan(y)
        partner_obs = obs[:, ::-1]
        idx_m = flat[obs & ~partner_obs]
        idx_c = flat[obs & partner_obs]
        idx_p = flat[:, ::-1][obs & partner_obs]
    n_units = int(np.prod(ushape))
    total = np.zeros((n_all, n_units))
    for start in range(0, n_all, chunk):
        sl = slice(start, min(start + chunk, n_all))
        mu = _mu(design, p, sl)
        sig, r = p["sigma"][sl, None], p["r"][sl, None]
        terms = []
        if idx_m.size:
            terms.append((idx_m, _norm_logpdf(yf[idx_m], mu[:, idx_m], sig)))
        if idx_c.size:
            m = mu[:, idx_c] + r * (yf[idx_p] - mu[:, idx_p])
            terms.append((idx_c, _norm_logpdf(yf[idx_c], m, sig * np.sqrt(1 - r**2))))
        for idx, ll in terms:
            acc = np.zeros((ll.shape[0], n_units))
            np.add.at(acc.T, cell_unit[idx], ll.T)
            total[sl] += acc
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    coords = {k: (extra[k] if k in extra else design.coords[k]) for k in udims}
    coords.update(chain=post["chain"].values, draw=post["draw"].values)
    da = xr.DataArray(
        total.reshape(nc, nd, *ushape), dims=("chain", "draw", *udims), coords=coords, attrs={"unit": unit}
    )
    return xr.Dataset({"log_lik": da}, attrs={"unit": unit})


def apim_posterior_predictive(post: xr.Dataset, design: ApimDesign, rng: np.random.Generator) -> xr.Dataset:
    """Replicated outcomes for every person-day, drawn dyad-day by dyad-day (bivariate normal)."""
    p = _draws(post)
    n_all = p["alpha"].shape[0]
    shape = design.shape
    mu = _mu(design, p, slice(None)).reshape(n_all, *shape)
    sig, r = p["sigma"][:, None, None], p["r"][:, None, None]
    e0 = sig * rng.standard_normal((n_all, shape[0], shape[2]))
    e1 = r * e0 + sig * np.sqrt(1 - r**2) * rng.standard_normal(e0.shape)
    rep = mu + np.stack([e0, e1], axis=2)
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    coords = {k: design.coords[k] for k in D.PERSON_DAY_DIMS}
    coords.update(chain=post["chain"].values, draw=post["draw"].values)
    return xr.Dataset(
        {design.outcome: (("chain", "draw", *D.PERSON_DAY_DIMS), rep.reshape(nc, nd, *shape))}, coords=coords
    )


def fit_apim(
    data: xr.Dataset,
    outcome: str = "state_anxiety",
    actor: Sequence[str] = ("threat",),
    partner: Sequence[str] | None = None,
    *,
    missing_predictors: str = "person_mean",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    cores: int | None = None,
    loo_unit: str | None = "dyad",
    posterior_predictive: bool = False,
    progressbar: bool = False,
    target_accept: float = 0.8,
) -> xr.DataTree:
    """Fit the longitudinal APIM with nutpie.

    Parameters
    ----------
    data, outcome, actor, partner, missing_predictors
        See :func:`apim_design`.
    draws, tune, chains, seed, cores, target_accept, progressbar
        Sampler settings (``pm.sample(nuts_sampler="nutpie")``).
    loo_unit : {"dyad", "person", "person-week", "person-day"} or None
        Leave-out unit of the stored log-likelihood (see :func:`apim_log_likelihood`;
        ``None`` skips it).
    posterior_predictive : bool
        Add replicated outcomes for every person-day.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior`` (``alpha``, ``beta`` over ``term``, ``tau_dyad``,
        ``tau_person``, ``sigma``, ``r``, random intercepts ``u``, ``v``), ``sample_stats``,
        ``observed_data`` (the outcome), ``constant_data`` (the centred predictors),
        ``log_likelihood`` and optionally ``posterior_predictive``; ``attrs`` ``model="apim"``,
        the terms, predictor means, seed, timings and notes. Check it with
        :func:`apim_report` (diagnostics via :func:`asem_bayes.diagnostics.diagnose`).
    """
    design = apim_design(data, outcome, actor, partner, missing_predictors=missing_predictors)
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
    sample_seconds = time.perf_counter() - t0
    if not isinstance(dt, xr.DataTree):  # pragma: no cover - older PyMC returned InferenceData
        dt = xr.DataTree.from_dict({g: dt[g] for g in dt.groups()})
    groups = {g: dt[g].to_dataset() for g in ("posterior", "sample_stats") if g in dt.children}
    out = xr.DataTree.from_dict(groups)
    out["observed_data"] = xr.Dataset({outcome: data[outcome].transpose(*D.PERSON_DAY_DIMS)}).reset_coords(drop=True)
    out["constant_data"] = xr.Dataset(
        {"X": ((*D.PERSON_DAY_DIMS, TERM), design.X)}, coords={k: design.coords[k] for k in (*D.PERSON_DAY_DIMS, TERM)}
    )
    post = out.posterior.to_dataset()
    if loo_unit is not None:
        out["log_likelihood"] = apim_log_likelihood(post, design, loo_unit)
    if posterior_predictive:
        rng = np.random.default_rng(None if seed is None else seed + 1)
        out["posterior_predictive"] = apim_posterior_predictive(post, design, rng)
    out.attrs.update(
        model="apim",
        outcome=outcome,
        terms=list(design.terms),
        x_mean=[float(x) for x in design.x_mean],
        sampler="nutpie",
        seed=-1 if seed is None else int(seed),
        sample_seconds=float(sample_seconds),
        loo_unit=loo_unit or "",
        notes="; ".join(design.notes),
    )
    return out


def apim_report(fit: xr.DataTree, ci_prob: float = 0.9) -> str:
    """Estimates with equal-tailed intervals and the diagnostics in words."""
    from asem_bayes.diagnostics import diagnose

    names = [n for n in APIM_PARAMS if n in fit.posterior]
    tab = az.summary(fit, var_names=names, ci_prob=ci_prob, ci_kind="eti", round_to="none")
    d = diagnose(fit, var_names=names + ["u", "v"])
    lines = [
        f"APIM of {fit.attrs.get('outcome')!r} on {', '.join(fit.attrs.get('terms', []))} "
        f"(predictors centred at their means), {d.n_draws} draws",
        tab.to_string(float_format=lambda x: f"{x:.3f}"),
        "",
        *d.lines(),
    ]
    if fit.attrs.get("notes"):
        lines.append(f"notes: {fit.attrs['notes']}")
    return "\n".join(lines)


def asem_log_likelihood(
    fit: xr.DataTree, data: xr.Dataset, ratings: Sequence[str] | None = None, unit: str = "dyad"
) -> xr.Dataset:
    """An ASEM fit's log-likelihood restricted to some observed ratings, summed within ``unit``.

    ``arviz.compare`` is only meaningful between models that score the same data: an ASEM fit
    also scores trait waves (and, in the joint mode, events) that the APIM does not. This
    recomputes the fit's ``log_lik`` for ``ratings`` only (default: the daily ratings), from the
    events the fit ran on (its ``constant_data``).
    """
    from asem_bayes import model as asem_model
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.registry import get_variant

    v = get_variant(fit.attrs["asem_variant"])
    mode = fit.attrs.get("asem_mode", "conditional")
    inp = prepare_inputs(data, joint=False, missing_events="absent")
    ratings = list(ratings) if ratings is not None else [r for r in D.DAILY_RATINGS if r in inp.obs]
    missing = [r for r in ratings if r not in inp.obs]
    if missing:
        raise DataError(f"the data hold no {missing} ratings to score")
    cd = fit.constant_data.to_dataset()
    events = {k: np.ascontiguousarray(cd[k].transpose(*D.PERSON_DAY_DIMS).values.transpose(2, 0, 1)) for k in D.EVENTS}
    inp = replace(inp, events=events, obs={k: inp.obs[k] for k in ratings})
    return asem_model.log_likelihood(
        fit.posterior.to_dataset(), inp, v, "conditional" if mode == "joint" else mode, unit
    )


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
    ``alpha=4, actor=0.5, partner=0.25, tau_dyad=0.4, tau_person=0.3, sigma=0.8, r=0.3``.
    ``missing`` is the probability that a person-day's ``y`` is missing. True values are in
    ``attrs``.
    """
    p = {"alpha": 4.0, "actor": 0.5, "partner": 0.25, "tau_dyad": 0.4, "tau_person": 0.3, "sigma": 0.8, "r": 0.3}
    p.update(params or {})
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.5, (n_dyads, 2, 1)) + rng.standard_normal((n_dyads, 2, n_days))
    u = p["tau_dyad"] * rng.standard_normal((n_dyads, 1, 1))
    v = p["tau_person"] * rng.standard_normal((n_dyads, 2, 1))
    e0 = rng.standard_normal((n_dyads, n_days))
    e1 = p["r"] * e0 + np.sqrt(1 - p["r"] ** 2) * rng.standard_normal((n_dyads, n_days))
    e = p["sigma"] * np.stack([e0, e1], axis=1)
    y = p["alpha"] + p["actor"] * x + p["partner"] * x[:, ::-1] + u + v + e
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
