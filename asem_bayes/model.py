"""PyMC models of the ASEM variants, compiled once and refitted on many datasets.

The one-day update is :func:`asem_bayes.dynamics.step`, the same function the simulator runs,
on the unbounded latents of the working models, compiled with its adjoint
(:mod:`asem_bayes.kernels`; in JAX for the JAX samplers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from threadpoolctl import threadpool_limits

from asem_bayes import coords as sampling_coords
from asem_bayes import dims as D
from asem_bayes import dynamics
from asem_bayes import person_correlation as corr
from asem_bayes.covariates import CovariateSpecLike, PersonCovariates, covariate_shift, data_name, parse
from asem_bayes.inputs import DataError, ModelInputs, prepare_inputs
from asem_bayes.options import LOO_UNITS, MODES, SAMPLERS
from asem_bayes.registry import get_variant
from asem_bayes.residuals import (
    RATING_PARAMS,
    coefficient,
    conditional,
    innovate,
    option_values,
    refuse_likert,
    with_residuals,
)
from asem_bayes.schema import PersonParam, Variant
from asem_bayes.start import initial_point_fn
from asem_bayes.whatif import draw_params

__all__ = [
    "build_model",
    "point_from_params",
    "CompiledModel",
    "fit",
    "trajectories",
    "SAMPLERS",
    "MODES",
    "LOO_UNITS",
    "default_mode",
    "default_lengths",
    "check_mode",
    "resolve_variant",
]



def default_mode(variant: Variant) -> str:
    """``joint`` for variants whose distinctive part lives in the event model, else ``conditional``."""
    return "joint" if variant.fatigue else "conditional"


def check_mode(variant: Variant, mode: str | None) -> str:
    """The mode a variant is fitted in: ``mode`` validated, or the variant's :func:`default_mode`."""
    mode = mode or default_mode(variant)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if variant.fatigue and mode != "joint":
        raise ValueError(
            f"variant {variant.name!r} differs from 'asem' only in the event model (partner fatigue); "
            "conditioning on the events leaves fatigue unidentified: use mode='joint'"
        )
    return mode


# Draws and warm-up draws per chain by sampler. nutpie adapts its mass matrix from the gradients
# and settles within a few hundred draws: on the 100 x 56 benchmark its trees are twice as deep in
# the first 600 of 1000 warm-up draws as afterwards, so its own default of 400 warm-up draws and
# 1600 kept ones give 1.5x the bulk ESS of 1000 + 1000 in 0.8x the time (docs/performance.md,
# "Warm-up"). The other samplers adapt in Stan's expanding windows and keep their usual 1000 + 1000
# (not measured here).
DEFAULT_LENGTHS: dict[str, tuple[int, int]] = {"nutpie": (1600, 400)}
OTHER_LENGTHS = (1000, 1000)


def default_lengths(sampler: str, draws: int | None = None, tune: int | None = None) -> tuple[int, int]:
    """Draws and warm-up draws per chain: the ones given, else the sampler's defaults.

    Parameters
    ----------
    sampler : str
        The NUTS implementation (:data:`asem_bayes.options.SAMPLERS`).
    draws, tune : int or None
        Chosen lengths; ``None`` takes the default of ``sampler`` (nutpie: 1600 draws after 400
        warm-up; the others: 1000 after 1000).

    Returns
    -------
    tuple of int
        ``(draws, tune)``.
    """
    d, t = DEFAULT_LENGTHS.get(sampler, OTHER_LENGTHS)
    return (d if draws is None else int(draws)), (t if tune is None else int(tune))


def resolve_variant(
    variant: str | Variant, residuals: Sequence[str] = (), person_correlation: Sequence[str] = ()
) -> Variant:
    """The variant with its options: the residual options ``residuals`` (docs/model.md section 17)
    and the correlated person-level effects ``person_correlation`` (section 18), each the given
    one or else the one the variant carries."""
    v = get_variant(variant)
    v = with_residuals(v, tuple(residuals) or v.residuals)
    return corr.with_person_correlation(v, tuple(person_correlation) or v.person_correlation)


def _cutpoints(likert: int) -> np.ndarray:
    return np.arange(1, likert) + 0.5


def build_model(
    data: xr.Dataset | ModelInputs,
    variant: str | Variant = "asem",
    *,
    mode: str | None = None,
    missing_events: str = "error",
    trajectories: bool = True,
    kernel: str = "numba",
    reparam: bool = True,
    person_covariates: CovariateSpecLike | PersonCovariates = None,
    covariate_data: xr.Dataset | None = None,
    residuals: Sequence[str] = (),
    person_correlation: Sequence[str] = (),
) -> pm.Model:
    """Build the PyMC model of a variant for a study.

    Parameters
    ----------
    data : xarray.Dataset or ModelInputs
        The study (see :func:`asem_bayes.simulate` for the layout).
    variant : str or Variant
        Registered variant name.
    mode : {"conditional", "joint"} or None
        Condition on the observed events (fast) or also score them with the event model of
        docs/model.md section 5. Default: the variant's :func:`default_mode`.
    missing_events : str
        Policy for missing event reports (see :func:`asem_bayes.inputs.prepare_inputs`).
    trajectories : bool
        Keep the latent working-model trajectories as deterministics ``self_model`` and
        ``others_model`` (dims dyad, person, day).
    kernel : {"numba", "scan"}
        How the day loop is computed: the compiled latent-update kernel with a hand-written
        gradient (every sampler; the JAX samplers compile it through
        :func:`asem_bayes.kernels.register_jax`) or a PyTensor ``scan`` of
        :func:`asem_bayes.dynamics.step` (a reference the tests compare the kernel with).
    reparam : bool
        Sample the loadings, rating intercepts, assimilation biases and learning-rate means in
        the sheared coordinates of :mod:`asem_bayes.coords` (default): the same posterior, which
        NUTS explores several times faster in its slowest directions. ``False`` samples every
        parameter in the schema's own coordinates. Either way the model holds every schema
        parameter under its own name.
    person_covariates : mapping, str, sequence of str or None
        Covariates of person-level parameters (:func:`asem_bayes.covariates.parse`), e.g.
        ``{"theta_pos_s": ["arm"], "s0": ["arm", "length"]}`` or ``"s0 ~ arm + length"``: the
        parameter's linear predictor becomes ``mu + X @ beta + sd * z`` with coefficients
        ``beta_<param>`` (dims ``covariate_<param>``, prior ``Normal(0, effect_sd)`` of the
        schema); docs/model.md, "Covariate effects on person-level parameters".
    covariate_data : xarray.Dataset or None
        The study holding the covariates, needed when ``data`` is a :class:`ModelInputs`.
    residuals : sequence of {"ar1", "partner"}
        Extensions of the daily ratings' residuals (docs/model.md section 17): ``"ar1"`` an AR(1)
        residual of each person's daily ratings (``phi_A``, ``phi_V``), ``"partner"`` the
        partners' same-day correlation (``corr_A``, ``corr_V``). Default none (or those of a
        ``variant`` built by :func:`asem_bayes.residuals.with_residuals`); one at a time, and
        continuous daily ratings only. Each observation is then scored given the observation it
        is linked to (data containers ``prev_<rating>``, ``gap_<rating>``).
    person_correlation : sequence of str
        Person-level parameters whose standardised effects are correlated across persons, e.g.
        ``("s0", "o0")`` (docs/model.md section 18): jointly normal with an ``LKJ(2)``
        correlation matrix, sampled as ``corr_person_raw @ L.T`` with ``L`` the Cholesky factor
        ``corr_person_chol``, reported as ``corr_<a>_<b>``. Default none (or those of a
        ``variant`` built by :func:`asem_bayes.person_correlation.with_person_correlation`):
        independent effects, the model unchanged.

    Returns
    -------
    pymc.Model
        With ``pm.Data`` containers ``ev_*``, ``idx_*``, ``y_*`` and (covariates) ``X_<param>``
        that :class:`CompiledModel` swaps between datasets.
    """
    v = resolve_variant(variant, residuals, person_correlation)
    mode = check_mode(v, mode)
    inp = (
        data
        if isinstance(data, ModelInputs)
        else prepare_inputs(data, joint=mode == "joint", missing_events=missing_events)
    )
    refuse_likert(v.residuals, inp.likert, [r for r in D.DAILY_RATINGS if r in inp.obs])
    T = inp.n_days
    spec = parse(person_covariates, v)
    X = _covariate_matrices(spec, data, covariate_data)
    coords = {k: np.asarray(c) for k, c in inp.coords.items()} | spec.coords() | corr.model_coords(v)
    with pm.Model(coords=coords) as model:
        model.asem_variant = v.name  # type: ignore[attr-defined]
        model.asem_mode = mode  # type: ignore[attr-defined]
        model.asem_covariates = spec  # type: ignore[attr-defined]
        model.asem_residuals = v.residuals  # type: ignore[attr-defined]
        model.asem_person_correlation = v.person_correlation  # type: ignore[attr-defined]
        sc = sampling_coords.plan(v) if reparam else None
        model.asem_coords = sc  # type: ignore[attr-defined]
        arrays = inp.data_arrays(v.residuals)
        ev = {k: pm.Data(f"ev_{k}", arrays[f"ev_{k}"]) for k in inp.events}
        sheared = set(sc.sheared) if sc else set()
        signed = {}
        folded = dict(sc.folded) if sc else {}
        p: dict[str, Any] = {}
        latent: dict[str, Any] = {}
        for prm in v.params:
            if prm.name in folded:  # sd = |y|, y ~ Normal(0, sigma): see asem_bayes.coords
                signed[prm.name] = pm.Normal(prm.name + sampling_coords.SIGNED, 0.0, prm.prior.kwargs["sigma"])
                p[prm.name] = pm.Deterministic(prm.name, pt.abs(signed[prm.name]))
            elif prm.name not in sheared:
                p[prm.name] = prm.prior.pymc(prm.name)

        # Correlated effects (docs/model.md section 18): the sampler's w of each named parameter,
        # z = sign(y) * w where its spread is folded; they read no population mean, so they come first.
        joint = corr.model_effects(v, _folded_signs(v, signed)) if v.person_correlation else {}

        def effect(pp):
            """The parameter's scale and effect, ``lin = mu + shift + scale * effect``."""
            if pp.name in joint:
                w, y = joint[pp.name], signed.get(pp.sd)
                pm.Deterministic(f"{pp.name}_z", w if y is None else pt.sign(y) * w, dims=D.PERSON_DIMS)
                return (p[pp.sd] if y is None else y), w
            if pp.sd in signed:
                y = signed[pp.sd]
                zr = pm.Normal(pp.name + sampling_coords.RAW_Z, 0.0, 1.0, dims=D.PERSON_DIMS)
                pm.Deterministic(f"{pp.name}_z", pt.sign(y) * zr, dims=D.PERSON_DIMS)
                return y, zr
            return p[pp.sd], pm.Normal(f"{pp.name}_z", 0.0, 1.0, dims=D.PERSON_DIMS)

        def person(pp):
            shift = _covariate_term(pp, X)  # X @ beta, or 0 for a parameter without covariates
            scale, z = effect(pp)
            lin = p[pp.mu] + shift + scale * z
            p[pp.name] = pm.Deterministic(pp.name, pp.apply_link(pt, lin), dims=D.PERSON_DIMS)
            latent[pp.name] = lin  # the day loop starts from the linear predictor, not atanh(s0)

        # Person parameters whose population mean and spread are sampled as they are come
        # first: the shears read the initial working models s0 and o0.
        later = [pp for pp in v.person_params if {pp.mu, pp.sd} & sheared]
        for pp in v.person_params:
            if pp not in later:
                person(pp)
        if sc is not None:
            start = sc.start_values()
            free = {n: pm.Flat(n, initval=start[n]) for n in sc.coord_names()}
            pm.Potential("sheared_prior", sc.to_params(pt, free, p))
            for n in sc.sheared:
                p[n] = pm.Deterministic(n, p[n])
        for pp in later:
            person(pp)
        S, O, F = _scan_states(
            v, p, (latent["s0"], latent["o0"]), ev, T, need_fatigue=v.fatigue and mode == "joint", kernel=kernel
        )
        if trajectories:
            pm.Deterministic("self_model", S.transpose(1, 2, 0), dims=D.PERSON_DAY_DIMS)
            pm.Deterministic("others_model", O.transpose(1, 2, 0), dims=D.PERSON_DAY_DIMS)
        events = dynamics.Events(*(ev[k] for k in D.EVENTS))
        mu_A, mu_V = dynamics.rating_means(pt, S, O, events, p)
        ta, tv = dynamics.trait_means(pt, S, O, p)
        flat = {
            "state_anxiety": (mu_A, p["sigma_A"]),
            "state_avoidance": (mu_V, p["sigma_V"]),
            "trait_anxiety": (ta, p["sigma_TA"]),
            "trait_avoidance": (tv, p["sigma_TV"]),
        }
        for name, (mu, sigma) in flat.items():
            if name not in inp.obs:
                continue
            idx = pm.Data(f"idx_{name}", arrays[f"idx_{name}"])
            y = pm.Data(f"y_{name}", arrays[f"y_{name}"])
            mu_obs = mu.transpose(1, 2, 0).reshape((-1,))[idx]
            if inp.likert and name in D.DAILY_RATINGS:
                cut = _cutpoints(inp.likert)
                pm.OrderedLogistic(name, eta=mu_obs / sigma, cutpoints=cut / sigma, observed=y)
            elif v.residuals and name in D.DAILY_RATINGS:
                _linked_normal(name, mu_obs, sigma, y, arrays, v.residuals[0], p)
            else:
                pm.Normal(name, mu=mu_obs, sigma=sigma, observed=y)
        if mode == "joint":
            logits = dynamics.event_logits(pt, S, O, F, p, v.fatigue)
            for name in D.EVENTS:
                key = f"event_{name}"
                if key not in inp.obs:
                    continue
                lg = getattr(logits, name)
                if name in D.DYAD_EVENTS:
                    lg = pt.stack([lg, lg], axis=-1)  # (JAX cannot trace a repeat count)
                idx = pm.Data(f"idx_{key}", arrays[f"idx_{key}"])
                y = pm.Data(f"y_{key}", arrays[f"y_{key}"])
                pm.Bernoulli(key, logit_p=lg.transpose(1, 2, 0).reshape((-1,))[idx], observed=y)
    model.asem_inputs = inp  # type: ignore[attr-defined]
    return model


def _folded_signs(v: Variant, signed: Mapping[str, Any]) -> dict[str, Any]:
    """``sign(y)`` of each person parameter whose spread is sampled folded as ``y`` (asem_bayes.coords)."""
    return {pp.name: pt.sign(signed[pp.sd]) for pp in v.person_params if pp.sd in signed}


def _linked_normal(name: str, mu_obs: Any, sigma: Any, y: Any, arrays: Mapping[str, np.ndarray], kind: str, p: Any):
    """Inside a model context: daily rating ``name`` scored observation by observation given the
    observation each is linked to by residual option ``kind`` (docs/model.md section 17)."""
    prev = pm.Data(f"prev_{name}", arrays[f"prev_{name}"])
    gap = pm.Data(f"gap_{name}", arrays[f"gap_{name}"])
    coef = coefficient(kind, p[RATING_PARAMS[name][kind]], gap)
    shift, factor = conditional(pt, y - mu_obs, prev, coef)
    return pm.Normal(name, mu=mu_obs + shift, sigma=sigma * factor, observed=y)


def _covariate_matrices(
    spec: PersonCovariates, data: xr.Dataset | ModelInputs, covariate_data: xr.Dataset | None
) -> dict[str, np.ndarray]:
    """The covariate matrices ``{param: X (dyad, person, k)}`` of the terms of ``spec``."""
    if not spec:
        return {}
    source = covariate_data if covariate_data is not None else data
    if not isinstance(source, xr.Dataset):
        raise ValueError("person_covariates need the study Dataset: pass covariate_data= with ModelInputs")
    return spec.matrices(source)


def _covariate_term(pp: PersonParam, X: Mapping[str, np.ndarray]) -> Any:
    """Inside a model context: ``X @ beta`` of person parameter ``pp``, with its data container
    ``X_<name>`` and coefficients ``beta_<name>``; 0 when it has no covariates."""
    if pp.name not in X:
        return 0.0
    x = pm.Data(data_name(pp.name), X[pp.name], dims=(*D.PERSON_DIMS, pp.effect_dim))
    beta = pp.effect_prior.pymc(pp.effect_name, dims=pp.effect_dim)
    return covariate_shift(x, beta)


def _scan_states(
    v: Variant,
    p: Mapping[str, Any],
    z0: tuple[Any, Any],
    ev: Mapping[str, Any],
    T: int,
    need_fatigue: bool,
    kernel: str = "numba",
):
    """Working models at the start of every day, ``(day, dyad, person)``, from the initial latents ``z0``.

    ``kernel="numba"``: the compiled latent-update loop with its hand-written adjoint
    (:mod:`asem_bayes.kernels`); ``"scan"``: one PyTensor ``scan`` over
    :func:`asem_bayes.dynamics.step` (needed by the JAX samplers). Both run the same recurrence
    on the latents and return their ``tanh``.
    """
    zs0, zo0 = z0
    F = _fatigue(ev, p["zeta"], T) if need_fatigue else None
    if not v.changes:
        full = (T, *p["s0"].shape)
        return pt.broadcast_to(p["s0"], full), pt.broadcast_to(p["o0"], full), F
    if kernel == "numba":
        from asem_bayes.kernels import latent_path

        days = dynamics.Events(*(ev[k][:-1] for k in D.EVENTS))
        pos_s, neg_s, pos_o, neg_o = v.evidence(pt, days, p)
        # log rates are affine in the state: read theta off at 0 and psi as the slope
        l0 = v.log_rates(pt, 0.0, 0.0, p)
        l1 = v.log_rates(pt, 1.0, 1.0, p)
        psi = [b - a for a, b in zip(l0, l1, strict=True)]
        full = ev["threat"][:-1].shape
        S = latent_path(zs0, l0[0], l0[1], psi[0], psi[1], pt.broadcast_to(pos_s, full), pt.broadcast_to(neg_s, full))
        O = latent_path(zo0, l0[2], l0[3], psi[2], psi[3], pt.broadcast_to(pos_o, full), pt.broadcast_to(neg_o, full))
        return S, O, F
    if kernel != "scan":
        raise ValueError(f"kernel must be 'numba' or 'scan', got {kernel!r}")
    # Only the dynamics' parameters enter the loop: fewer non-sequences, a leaner gradient.
    dyn = {q.name for q in v.params if q.group == "dynamics"} | {
        q.name for q in v.person_params if q.group == "dynamics"
    }
    names = sorted(k for k in p if k in dyn)
    seqs = [ev[k][:-1] for k in D.EVENTS]

    def inner(thr, sa, so, co, de, zs, zo, *vals):
        q = dict(zip(names, vals, strict=True))
        return dynamics.step(pt, v, zs, zo, dynamics.Events(thr, sa, so, co, de), q)

    ZS, ZO = pytensor.scan(
        inner,
        sequences=seqs,
        outputs_info=[zs0, zo0],
        non_sequences=[p[k] for k in names],
        strict=False,
        return_updates=False,
    )
    S = pt.tanh(pt.concatenate([zs0[None], ZS], axis=0))
    return S, pt.tanh(pt.concatenate([zo0[None], ZO], axis=0)), F


def _fatigue(ev: Mapping[str, Any], zeta: Any, T: int):
    """Fatigue of each person as a giver, ``(day, dyad, person)``: the closed form of
    :func:`asem_bayes.dynamics.fatigue_step` from ``F[0] = 0``,
    ``F[t] = sum_{k<t} (1 - zeta)^(t-1-k) * given[k]`` (no loop: it depends on data and zeta only)."""
    given = dynamics.partner(ev["safe"]) + dynamics.partner(ev["soft"])
    t = np.arange(T)
    lag = t[:, None] - 1 - t[None, :]
    weights = pt.where(lag >= 0, (1.0 - zeta) ** np.maximum(lag, 0), 0.0)
    return pt.tensordot(weights, given, axes=[[1], [0]])


def point_from_params(model: pm.Model, variant: str | Variant, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The model's value variables (transformed space) at given parameter values.

    Person-level parameters are mapped back to their standardised ``*_z``; e.g. to evaluate
    the log density at a simulation's true parameters: ``point_from_params(model, "asem",
    true_params(study))``. A model with correlated person-level effects (docs/model.md section
    18) also needs their correlations ``corr_<a>_<b>`` in ``params``; the variant's options are
    the model's own.
    """
    # the model's options; a copy of the model (e.g. freeze_dims_and_data) keeps its coords only
    correlated = getattr(model, "asem_person_correlation", None) or model.coords.get(D.PERSON_PARAM) or ()
    v = resolve_variant(variant, getattr(model, "asem_residuals", ()), tuple(correlated))
    values: dict[str, np.ndarray] = {k: np.asarray(params[k], dtype=float) for k in v.param_names}
    spec = getattr(model, "asem_covariates", None) or PersonCovariates(v.name)
    for pp in v.person_params:
        shift: Any = 0.0
        names = spec.covariates_of(pp.name)
        if names:
            values[pp.effect_name] = beta = _effect_values(params[pp.effect_name], names, pp.effect_name)
            shift = covariate_shift(_data_value(model[data_name(pp.name)]), beta)
        values[f"{pp.name}_z"] = pp.standardise(params[pp.name], params, shift)
    sc = getattr(model, "asem_coords", None)
    if sc is not None:
        values.update(sc.from_params({**values, "s0": params["s0"], "o0": params["o0"]}))
        for sd, name in sc.folded:  # the mirror with y > 0
            values[sd + sampling_coords.SIGNED] = values[sd]
            values[name + sampling_coords.RAW_Z] = values[f"{name}_z"]
    if v.person_correlation:
        z = {n: values[f"{n}_z"] for n in v.person_correlation}
        values.update(corr.sampler_values(v, z, params))
    point = {}
    for rv in model.free_RVs:
        value_var = model.rvs_to_values[rv]
        x = values[rv.name]
        tr = model.rvs_to_transforms.get(rv)
        if tr is not None:
            x = tr.forward(pt.as_tensor(x), *rv.owner.inputs).eval()
        point[value_var.name] = np.asarray(x, dtype=float)
    return point


def _effect_values(value: Any, names: tuple[str, ...], what: str) -> np.ndarray:
    """Coefficients in the order of ``names``, from a mapping, a labelled DataArray or an array."""
    if isinstance(value, Mapping):
        return np.array([float(value[c]) for c in names])
    if isinstance(value, xr.DataArray) and value.ndim == 1:
        return np.asarray(value.sel({value.dims[0]: list(names)}).values, dtype=float)
    arr = np.asarray(value, dtype=float)
    if arr.shape != (len(names),):
        raise ValueError(f"{what} needs {len(names)} value(s), one per covariate {list(names)}, got shape {arr.shape}")
    return arr


def _data_value(var: Any) -> np.ndarray:
    """The value of a data container (shared variable, or a constant after freezing the data)."""
    return np.asarray(var.get_value() if hasattr(var, "get_value") else var.data)


# --------------------------------------------------------------------------------------------
# numpy side: trajectories, log-likelihood and predictions for posterior draws


def states_numpy(v: Variant, p: Mapping[str, np.ndarray], events: Mapping[str, np.ndarray], fatigue: bool = False):
    """Trajectories for many parameter draws at once, time-major ``(day, n, dyad, person)``.

    ``events`` are ``(day, dyad, person)`` arrays. Uses :func:`asem_bayes.dynamics.step`.
    """
    T = next(iter(events.values())).shape[0]
    zs, zo = dynamics.latent(np, p["s0"]), dynamics.latent(np, p["o0"])
    f = np.zeros_like(zs)
    S = np.empty((T, *zs.shape))
    O = np.empty_like(S)
    F = np.empty_like(S) if fatigue else None
    for t in range(T):
        S[t], O[t] = np.tanh(zs), np.tanh(zo)
        if fatigue:
            F[t] = f
        if t == T - 1:
            break
        e = dynamics.Events(*(events[k][t] for k in D.EVENTS))
        zs, zo = dynamics.step(np, v, zs, zo, e, p)
        if fatigue:
            f = dynamics.fatigue_step(np, f, e.safe, e.soft, p["zeta"])
    return S, O, F


def trajectories(post: xr.Dataset, inp: ModelInputs, v: Variant, chunk: int = 250) -> xr.Dataset:
    """The working models of every posterior draw, ``self_model`` and ``others_model`` (chain,
    draw, dyad, person, day), recomputed from the parameters with :func:`states_numpy` (what a fit
    with ``trajectories=True`` stores, to rounding)."""
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    out = {k: np.empty((nc * nd, inp.n_dyads, 2, inp.n_days)) for k in ("self_model", "others_model")}
    for start in range(0, nc * nd, chunk):
        sl = slice(start, min(start + chunk, nc * nd))
        S, O, _ = states_numpy(v, draw_params(post, v, sl), inp.events)
        out["self_model"][sl] = S.transpose(1, 2, 3, 0)
        out["others_model"][sl] = O.transpose(1, 2, 3, 0)
    coords = {k: inp.coords[k] for k in D.PERSON_DAY_DIMS}
    coords.update(chain=post["chain"].values, draw=post["draw"].values)
    dims = ("chain", "draw", *D.PERSON_DAY_DIMS)
    return xr.Dataset({k: (dims, x.reshape(nc, nd, *x.shape[1:])) for k, x in out.items()}, coords=coords)


def unit_index(unit: str, n_dyads: int, n_days: int) -> tuple[np.ndarray, dict[str, Any], tuple[str, ...]]:
    """Map each flat (dyad, person, day) cell to its leave-out unit: the unit of each cell, the
    coordinates of unit dims that are not the study's own (``week``) and the unit dims."""
    d, i, t = np.meshgrid(np.arange(n_dyads), np.arange(2), np.arange(n_days), indexing="ij")
    if unit == "person-day":
        return (np.arange(n_dyads * 2 * n_days)), {}, D.PERSON_DAY_DIMS
    if unit == "person-week":
        W = (n_days + 6) // 7
        return ((d * 2 + i) * W + t // 7).reshape(-1), {D.WEEK: np.arange(W)}, (D.DYAD, D.PERSON, D.WEEK)
    if unit == "person":
        return (d * 2 + i).reshape(-1), {}, D.PERSON_DIMS
    if unit == "dyad":
        return d.reshape(-1), {}, (D.DYAD,)
    raise ValueError(f"loo unit must be one of {LOO_UNITS}, got {unit!r}")


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def pointwise_log_likelihood(
    inp: ModelInputs, v: Variant, p: Mapping[str, np.ndarray], mode: str
) -> dict[str, np.ndarray]:
    """Pointwise log-likelihood ``(n, n_obs)`` of each observed quantity for ``n`` draws.

    With residual options of ``v`` (docs/model.md section 17) each daily rating's entry is its
    density given the observation it is linked to (the person's last observed rating, or the
    partner's same-day one), so the entries sum to the exact joint log-likelihood.
    """
    from scipy.special import expit

    S, O, F = states_numpy(v, p, inp.events, fatigue=v.fatigue and mode == "joint")
    ev = dynamics.Events(*(inp.events[k][:, None] for k in D.EVENTS))
    # (n, 1, 1) and (n, dyad, person) parameters broadcast against (day, n, dyad, person) states
    mu_A, mu_V = dynamics.rating_means(np, S, O, ev, p)
    ta, tv = dynamics.trait_means(np, S, O, p)
    n = S.shape[1]

    def flat(x: np.ndarray) -> np.ndarray:  # (T, n, D, 2) -> (n, D*2*T)
        return np.broadcast_to(x, S.shape).transpose(1, 2, 3, 0).reshape(n, -1)

    sig = {
        "state_anxiety": "sigma_A",
        "state_avoidance": "sigma_V",
        "trait_anxiety": "sigma_TA",
        "trait_avoidance": "sigma_TV",
    }
    means = {"state_anxiety": mu_A, "state_avoidance": mu_V, "trait_anxiety": ta, "trait_avoidance": tv}
    out = {}
    for name, mu in means.items():
        if name not in inp.obs:
            continue
        idx, y = inp.obs[name]
        m = flat(mu)[:, idx]
        sigma = p[sig[name]].reshape(n, 1)
        if inp.likert and name in D.DAILY_RATINGS:
            cut = np.concatenate([[-np.inf], _cutpoints(inp.likert), [np.inf]])
            k = (y - 1).astype(int)
            hi = expit((cut[k + 1] - m) / sigma)
            lo = expit((cut[k] - m) / sigma)
            out[name] = np.log(np.clip(hi - lo, 1e-300, None))
        else:
            if v.residuals and name in D.DAILY_RATINGS:  # given the linked observation (section 17)
                kind = v.residuals[0]
                prev, gap = inp.links(name, kind)
                coef = coefficient(kind, p[RATING_PARAMS[name][kind]].reshape(n, 1), gap)
                shift, factor = conditional(np, y - m, prev, coef)
                m, sigma = m + shift, sigma * factor
            z = (y - m) / sigma
            out[name] = -0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    if mode == "joint":
        # One draw at a time: dyad-level logits drop the person axis, so (n, 1, 1)-shaped
        # population parameters would not broadcast against them.
        per_draw = [
            dynamics.event_logits(
                np,
                S[:, j],
                O[:, j],
                None if F is None else F[:, j],
                {k: x[j] for k, x in p.items()},
                v.fatigue,
            )
            for j in range(n)
        ]
        for name in D.EVENTS:
            key = f"event_{name}"
            if key not in inp.obs:
                continue
            lg = np.stack([getattr(lj, name) for lj in per_draw], axis=1)  # (T, n, D[, 2])
            if name in D.DYAD_EVENTS:
                lg = np.repeat(lg[..., None], 2, axis=-1)
            idx, y = inp.obs[key]
            lgi = flat(lg)[:, idx]
            out[key] = y * _log_sigmoid(lgi) + (1 - y) * _log_sigmoid(-lgi)
    return out


def log_likelihood(
    post: xr.Dataset, inp: ModelInputs, v: Variant, mode: str, unit: str = "person", chunk: int = 250
) -> xr.Dataset:
    """Log-likelihood of every posterior draw, summed within each leave-out unit.

    Returns a Dataset with one variable ``log_lik`` of dims (chain, draw, *unit dims*); shared
    dyad events (joint mode) are counted in person 0's unit. ``unit="dyad"`` leaves out whole
    couples.
    """
    cell_unit, extra_coords, udims = unit_index(unit, inp.n_dyads, inp.n_days)
    n_units = int(cell_unit.max()) + 1
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    total = np.zeros((nc * nd, n_units))
    for start in range(0, nc * nd, chunk):
        sl = slice(start, min(start + chunk, nc * nd))
        p = draw_params(post, v, sl)
        for key, ll in pointwise_log_likelihood(inp, v, p, mode).items():
            units = cell_unit[inp.obs[key][0]]
            acc = np.zeros((ll.shape[0], n_units))
            np.add.at(acc.T, units, ll.T)
            total[sl] += acc
    shape = [nc, nd] + [len(inp.coords[d]) if d in inp.coords else len(extra_coords[d]) for d in udims]
    coords = {d: (inp.coords[d] if d in inp.coords else extra_coords[d]) for d in udims}
    coords.update(chain=post["chain"].values, draw=post["draw"].values)
    da = xr.DataArray(total.reshape(shape), dims=("chain", "draw", *udims), coords=coords)
    da.attrs["unit"] = unit
    return xr.Dataset({"log_lik": da}, attrs={"unit": unit})


def posterior_predictive(
    post: xr.Dataset, inp: ModelInputs, v: Variant, rng: np.random.Generator, chunk: int = 250
) -> xr.Dataset:
    """Replicated daily ratings (dyad, person, day) and trait waves (dyad, person, wave)."""
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    n_all = nc * nd
    Dn, T, W = inp.n_dyads, inp.n_days, len(inp.wave_pos)
    out = {k: np.empty((n_all, Dn, 2, T)) for k in D.DAILY_RATINGS}
    out.update({k: np.empty((n_all, Dn, 2, W)) for k in D.TRAITS})
    for start in range(0, n_all, chunk):
        sl = slice(start, min(start + chunk, n_all))
        p = draw_params(post, v, sl)
        S, O, _ = states_numpy(v, p, inp.events)
        ev = dynamics.Events(*(inp.events[k][:, None] for k in D.EVENTS))
        mu_A, mu_V = dynamics.rating_means(np, S, O, ev, p)
        ta, tv = dynamics.trait_means(np, S[inp.wave_pos], O[inp.wave_pos], p)
        for name, mu, sig in (("state_anxiety", mu_A, "sigma_A"), ("state_avoidance", mu_V, "sigma_V")):
            mu = np.broadcast_to(mu, S.shape).transpose(1, 2, 3, 0)
            sigma = p[sig].reshape(-1, 1, 1, 1)
            if inp.likert:
                lat = mu + sigma * rng.logistic(size=mu.shape)
                out[name][sl] = np.clip(np.floor(lat + 0.5), 1, inp.likert)
            elif v.residuals:
                out[name][sl] = mu + _residual_paths(v.residuals, p, name, rng.standard_normal(mu.shape))
            else:
                out[name][sl] = mu + sigma * rng.standard_normal(mu.shape)
        for name, mu, sig in (("trait_anxiety", ta, "sigma_TA"), ("trait_avoidance", tv, "sigma_TV")):
            mu = mu.transpose(1, 2, 3, 0)
            out[name][sl] = mu + p[sig].reshape(-1, 1, 1, 1) * rng.standard_normal(mu.shape)
    coords = {**{k: inp.coords[k] for k in D.PERSON_DAY_DIMS}, D.WAVE: np.arange(W)}
    ds = xr.Dataset(
        {
            k: (
                ("chain", "draw", *(D.PERSON_DAY_DIMS if k in D.DAILY_RATINGS else D.PERSON_WAVE_DIMS)),
                x.reshape(nc, nd, *x.shape[1:]),
            )
            for k, x in out.items()
            if k in inp.present_ratings
        },
        coords={**coords, "chain": post["chain"].values, "draw": post["draw"].values},
    )
    return ds


def _residual_paths(residuals: tuple[str, ...], p: Mapping[str, np.ndarray], name: str, z: np.ndarray) -> np.ndarray:
    """Residuals ``(n, dyad, person, day)`` of daily rating ``name`` from standard normals ``z``,
    day by day with the simulator's process (:func:`asem_bayes.residuals.innovate`)."""
    n = z.shape[0]
    sigma = p[RATING_PARAMS[name]["sigma"]].reshape(n, 1, 1)
    opts = {k: None if x is None else x.reshape(n, 1, 1) for k, x in option_values(residuals, p, name).items()}
    e = np.empty_like(z)
    prev = None
    for t in range(z.shape[-1]):
        prev = e[..., t] = innovate(z[..., t], sigma, prev=prev, **opts)
    return e


_predict = posterior_predictive  # alias used inside CompiledModel.fit


def observed_dataset(inp: ModelInputs, data: xr.Dataset) -> xr.Dataset:
    """The observed ratings in their (dyad, person, day|wave) layout."""
    return xr.Dataset({k: data[k] for k in inp.present_ratings}).reset_coords(drop=False)


def constant_dataset(inp: ModelInputs) -> xr.Dataset:
    """The events the dynamics ran on (after the missing-event policy), (dyad, person, day)."""
    return xr.Dataset(
        {k: (D.PERSON_DAY_DIMS, x.transpose(1, 2, 0)) for k, x in inp.events.items()},
        coords={k: inp.coords[k] for k in D.PERSON_DAY_DIMS},
    )


# --------------------------------------------------------------------------------------------


class CompiledModel:
    """A variant's model compiled once for a study design, refitted on many datasets.

    With the default ``nutpie`` sampler the log density is compiled by numba once; each
    :meth:`fit` swaps in the new dataset's arrays (``with_data``) without recompiling. Other
    samplers (``pymc``, ``numpyro``, ``blackjax``) go through :func:`pymc.sample` after
    :func:`pymc.set_data`.

    Parameters
    ----------
    data : xarray.Dataset
        A study of the design to compile for (dyads, days, scale, which variables exist).
    variant, mode, missing_events, trajectories
        As in :func:`build_model`.
    sampler : {"nutpie", "pymc", "numpyro", "blackjax"}
        NUTS implementation.
    reparam : bool
        Sample in the sheared coordinates of :mod:`asem_bayes.coords` (default; same posterior,
        faster mixing) or in the schema's own (``False``). The returned posterior holds the
        schema parameters either way.
    person_covariates : mapping, str, sequence of str or None
        Covariates of person-level parameters, as in :func:`build_model`; every dataset fitted
        must hold them (their values may differ between datasets).
    residuals : sequence of {"ar1", "partner"}
        Extensions of the daily ratings' residuals, as in :func:`build_model`; recorded in the
        fit's ``attrs["residuals"]``.
    person_correlation : sequence of str
        Person-level parameters with correlated effects, as in :func:`build_model`; recorded in
        the fit's ``attrs["person_correlation"]`` (e.g. ``"s0,o0"``).
    """

    def __init__(
        self,
        data: xr.Dataset,
        variant: str | Variant = "asem",
        *,
        mode: str | None = None,
        sampler: str = "nutpie",
        missing_events: str = "error",
        trajectories: bool = True,
        reparam: bool = True,
        person_covariates: CovariateSpecLike | PersonCovariates = None,
        residuals: Sequence[str] = (),
        person_correlation: Sequence[str] = (),
    ) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        self.variant = resolve_variant(variant, residuals, person_correlation)
        self.mode = check_mode(self.variant, mode)
        self.sampler = sampler
        self.missing_events = missing_events
        self.trajectories = trajectories
        self.person_covariates = parse(person_covariates, self.variant)
        inp = self.prepare(data)
        self.design_key = inp.design_key
        if sampler in ("numpyro", "blackjax"):
            from asem_bayes.kernels import register_jax

            register_jax()  # the same graph, its day loop compiled by JAX
        self.model = build_model(
            inp,
            self.variant,
            mode=self.mode,
            trajectories=trajectories,
            reparam=reparam,
            person_covariates=self.person_covariates,
            covariate_data=data,
        )
        self.compile_seconds = 0.0
        self._compiled = None
        self.compile_cache = "off"
        if sampler == "nutpie":
            from asem_bayes.compile_cache import compile_nutpie

            t0 = time.perf_counter()
            # on disk per design and code: a later process loads it (docs/performance.md)
            self._compiled = compile_nutpie(self.model)
            self.compile_seconds = time.perf_counter() - t0
            self.compile_cache = getattr(self._compiled, "cache_status", "off")

    def prepare(self, data: xr.Dataset) -> ModelInputs:
        """Validate a dataset for this model (its covariates included) and build its arrays."""
        inp = prepare_inputs(data, joint=self.mode == "joint", missing_events=self.missing_events)
        self.person_covariates.matrices(data)
        return inp

    def fit(
        self,
        data: xr.Dataset,
        *,
        draws: int | None = None,
        tune: int | None = None,
        chains: int = 4,
        seed: int | None = None,
        cores: int | None = None,
        loo_unit: str | None = "person-week",
        posterior_predictive: bool = False,
        progressbar: bool = False,
        target_accept: float = 0.8,
        adaptation: str = "diag",
        blas_threads: int | None = 1,
    ) -> xr.DataTree:
        """Sample the posterior for one dataset.

        ``adaptation`` (nutpie only): ``"diag"`` or ``"low_rank"`` mass-matrix adaptation; the
        latter helps when parameters are strongly correlated a posteriori. ``blas_threads``: BLAS
        threads while sampling; the chains run in parallel already, so the default is one (None
        leaves the library's own choice). ``draws`` and ``tune`` default to the sampler's
        :func:`default_lengths`.

        Returns
        -------
        xarray.DataTree
            Groups ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``,
            ``log_likelihood`` (``log_lik`` summed within each ``loo_unit``; skipped when None)
            and, on request, ``posterior_predictive``. ``attrs`` record the variant, mode,
            sampler, seed, compile and sampling seconds.
        """
        from asem_bayes.coverage import uninformed_parameters  # (coverage builds on this module)

        inp = self.prepare(data)
        if inp.design_key != self.design_key:
            raise DataError(
                f"dataset design {inp.design_key} differs from the compiled design {self.design_key}; "
                "compile a new model for it"
            )
        arrays = inp.data_arrays(self.variant.residuals) | self.person_covariates.data_arrays(data)
        draws, tune = default_lengths(self.sampler, draws, tune)
        t0 = time.perf_counter()
        # Chains already run in parallel: a BLAS library's own threads (the fatigue load is a matrix
        # product) only compete with them, and OpenBLAS's threads spin while waiting (docs/performance.md)
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            dt = self._sample(arrays, draws, tune, chains, seed, cores, progressbar, target_accept, adaptation)
        sample_seconds = time.perf_counter() - t0
        dt = _keep_groups(dt, ("posterior", "sample_stats"))
        sc = self.model.asem_coords
        # sampler-only coordinates: the schema parameters are in the posterior
        sampler_only = [*(sc.sampler_only_names() if sc is not None else ()), *corr.SAMPLER_ONLY]
        post = dt.posterior.to_dataset()
        if any(n in post for n in sampler_only):
            dt["posterior"] = post.drop_vars([n for n in sampler_only if n in post])
        dt["observed_data"] = observed_dataset(inp, data)
        dt["constant_data"] = constant_dataset(inp).merge(self.person_covariates.dataset(data))
        if loo_unit is not None:
            dt["log_likelihood"] = log_likelihood(dt.posterior.to_dataset(), inp, self.variant, self.mode, loo_unit)
        if posterior_predictive:
            rng = np.random.default_rng(None if seed is None else seed + 1)
            # the argument ``posterior_predictive`` shadows the module function of that name
            dt["posterior_predictive"] = _predict(dt.posterior.to_dataset(), inp, self.variant, rng)
        dt.attrs.update(
            asem_variant=self.variant.name,
            asem_mode=self.mode,
            sampler=self.sampler,
            sampling_coordinates="schema" if sc is None else "sheared",
            seed=-1 if seed is None else int(seed),
            compile_seconds=float(self.compile_seconds),
            compile_cache=self.compile_cache,
            sample_seconds=float(sample_seconds),
            loo_unit=loo_unit or "",
            notes="; ".join(inp.notes),
            uninformed=json.dumps(uninformed_parameters(inp, self.variant, self.mode)),
            person_covariates=self.person_covariates.to_json() if self.person_covariates else "",
        )
        if self.variant.residuals:
            dt.attrs["residuals"] = ",".join(self.variant.residuals)
        if self.variant.person_correlation:
            dt.attrs["person_correlation"] = ",".join(self.variant.person_correlation)
        return dt

    def _sample(self, arrays: Mapping[str, Any], draws: int, tune: int, chains: int, seed: int | None,
                cores: int | None, progressbar: bool, target_accept: float, adaptation: str) -> xr.DataTree:
        """The sampler's own output for one dataset's arrays."""
        if self.sampler == "nutpie":
            import nutpie

            from asem_bayes.compile_cache import data_names

            # The compiled density drops data containers it never reads (e.g. 'stable' never reads
            # ev_confidence); nutpie refuses updates of those, so pass only the ones it knows.
            known = data_names(self._compiled)
            compiled = self._compiled.with_data(**{k: x for k, x in arrays.items() if k in known})
            dt = nutpie.sample(
                compiled,
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores or chains,
                seed=seed,
                progress_bar=progressbar,
                save_warmup=False,
                target_accept=target_accept,
                adaptation=adaptation,
            )
        else:
            with self.model:
                pm.set_data(arrays)
                dt = pm.sample(
                    draws=draws,
                    tune=tune,
                    chains=chains,
                    cores=cores or min(chains, 2),
                    random_seed=seed,
                    nuts_sampler=self.sampler,
                    progressbar=progressbar,
                    compute_convergence_checks=False,
                    target_accept=target_accept,
                    **_start_kwargs(self.model, self.sampler, chains, seed),
                )
        return dt


def _keep_groups(dt: xr.DataTree, groups: tuple[str, ...]) -> xr.DataTree:
    return xr.DataTree.from_dict({g: dt[g].to_dataset() for g in groups if g in dt.children})


def _start_kwargs(model: pm.Model, sampler: str, chains: int, seed: int | None) -> dict[str, Any]:
    """``pymc.sample`` arguments for the package's start (:mod:`asem_bayes.start`) instead of
    jittering every variable; nutpie gets it from the compiled model."""
    fn = initial_point_fn(model, transformed=False)
    starts = [fn(int(s)) for s in np.random.default_rng(seed).integers(2**31, size=chains)]
    if sampler == "pymc":
        return {"initvals": starts, "init": "adapt_diag"}
    return {"initvals": starts, "nuts": {"jitter": False}}


def fit(
    data: xr.Dataset,
    variant: str | Variant = "asem",
    *,
    sampler: str = "nutpie",
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 4,
    seed: int | None = None,
    mode: str | None = None,
    missing_events: str = "error",
    loo_unit: str | None = "person-week",
    posterior_predictive: bool = False,
    trajectories: bool = True,
    progressbar: bool = False,
    target_accept: float = 0.9,
    reparam: bool = True,
    person_covariates: CovariateSpecLike | PersonCovariates = None,
    residuals: Sequence[str] = (),
    person_correlation: Sequence[str] = (),
) -> xr.DataTree:
    """Fit an ASEM variant to a diary study.

    Parameters
    ----------
    data : xarray.Dataset
        Simulated (:func:`asem_bayes.simulate`) or loaded (:func:`asem_bayes.from_long`) study.
    variant : str
        ``stable``, ``uniform``, ``asem``, ``buffer_enhances`` or ``asem_fatigue``.
    sampler : {"nutpie", "pymc", "numpyro", "blackjax"}
        NUTS implementation (nutpie, compiled with numba, is the default).
    draws, tune, chains, seed
        Sampler settings (``draws`` and ``tune``: the sampler's :func:`default_lengths` unless
        given); the same ``seed`` repeats the draws once the compile cache holds the model
        (docs/model.md section 3: the very first compile of a design gives other, equally valid draws).
    mode : {"conditional", "joint"} or None
        Condition on the events, or also score them (needed for ``asem_fatigue``).
    missing_events : {"error", "absent", "person_rate"}
        What to do with missing event reports.
    loo_unit : {"person-day", "person-week", "person", "dyad"} or None
        Leave-out unit of the stored log-likelihood (``None`` skips it); the person-week by
        default, since leaving whole persons out makes PSIS-LOO unreliable here.
    posterior_predictive : bool
        Add replicated ratings and trait waves.
    trajectories : bool
        Keep the latent trajectories in the posterior.
    reparam : bool
        Sample in the sheared coordinates of :mod:`asem_bayes.coords` (default) or in the
        schema's own; the posterior is the same.
    person_covariates : mapping, str, sequence of str or None
        Covariates of person-level parameters (see :func:`build_model`), e.g.
        ``{"s0": ["arm"]}`` or ``"theta_pos_s ~ arm"``; the covariates are variables of ``data``.
    residuals : sequence of {"ar1", "partner"}
        Extensions of the daily ratings' residuals (docs/model.md section 17; default none):
        carry-over (``"ar1"``) or the partners' same-day correlation (``"partner"``).
    person_correlation : sequence of str
        Person-level parameters whose effects are correlated across persons (docs/model.md
        section 18; default none), e.g. ``("s0", "o0")``: the posterior holds their correlations
        ``corr_<a>_<b>``.

    Returns
    -------
    xarray.DataTree
        See :meth:`CompiledModel.fit`. Print :func:`asem_bayes.diagnostics.report` for the
        summary with diagnostics.
    """
    cm = CompiledModel(
        data,
        variant,
        mode=mode,
        sampler=sampler,
        missing_events=missing_events,
        trajectories=trajectories,
        reparam=reparam,
        person_covariates=person_covariates,
        residuals=residuals,
        person_correlation=person_correlation,
    )
    return cm.fit(
        data,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        loo_unit=loo_unit,
        posterior_predictive=posterior_predictive,
        progressbar=progressbar,
        target_accept=target_accept,
    )
