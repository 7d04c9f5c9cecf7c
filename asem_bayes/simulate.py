"""Seeded generative simulator of dyadic daily-diary studies.

Vectorised over persons: the only Python loop is over days. The dynamics are the generic
functions of :mod:`asem_bayes.dynamics` called with ``xp = numpy``, the same code the PyMC
model runs with ``pytensor.tensor``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - short, used on every line
from asem_bayes import dynamics
from asem_bayes import person_correlation as corr
from asem_bayes.covariates import (
    CovariateError,
    PersonCovariates,
    add_covariates,
    check_effects,
    covariate_shift,
    parse,
)
from asem_bayes.registry import get_variant
from asem_bayes.residuals import innovate, option_values, refuse_likert, with_residuals
from asem_bayes.schema import SchemaError, Variant

# The study format lives in asem_bayes.study; its names stay importable from here.
from asem_bayes.study import (
    SHARED_EVENT_MEANINGS,
    SHARED_EVENT_POLICIES,
    SharedEventPolicy,
    combine_partner_reports,
    from_long,
    partner_disagreements,
    to_long,
    wave_positions,
)

__all__ = [
    "Design",
    "simulate",
    "true_params",
    "draw_person_params",
    "resolve_params",
    # the study format, re-exported from asem_bayes.study
    "to_long",
    "from_long",
    "wave_positions",
    "SharedEventPolicy",
    "SHARED_EVENT_POLICIES",
    "SHARED_EVENT_MEANINGS",
    "combine_partner_reports",
    "partner_disagreements",
]


@dataclass(frozen=True)
class Design:
    """A diary study's design.

    Parameters
    ----------
    wave_days : sequence of int or None
        Days (0-based) on which the trait questionnaires are filled in, at the start of the day.
        Default: the first and the last diary day.
    likert : int or None
        ``None`` for continuous daily ratings, ``K`` for 1..K Likert items (ordered logistic with
        cut points half-way between categories; ``sigma_*`` is then the logistic scale).
    missing_days : float
        Probability that a person skips a whole diary day (no ratings, no events reported; the
        states still advance and the true events still act).
    missing_items : float
        Probability that a single daily rating is missing on a day that was reported.
    exogenous_events : mapping or None
        Fixed daily rates for ``threat``, ``safe``, ``soft`` (given a threat), ``confidence`` and
        ``dependence`` that replace the state-dependent event model. SBC of the conditional mode
        needs this (docs/model.md section 9).
    """

    wave_days: tuple[int, ...] | None = None
    likert: int | None = None
    missing_days: float = 0.0
    missing_items: float = 0.0
    exogenous_events: Mapping[str, float] | None = field(default=None)

    def waves(self, n_days: int) -> tuple[int, ...]:
        """The wave days for a study of ``n_days`` days, validated."""
        days = (0, n_days - 1) if self.wave_days is None else tuple(int(d) for d in self.wave_days)
        bad = [d for d in days if not 0 <= d < n_days]
        if bad:
            raise ValueError(f"wave day(s) {bad} outside the study's days 0..{n_days - 1}")
        if len(set(days)) != len(days):
            raise ValueError(f"wave days repeat: {days}")
        return days

    def validate(self) -> None:
        for name in ("missing_days", "missing_items"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"design.{name} must be in [0, 1), got {v}")
        if self.likert is not None and not (isinstance(self.likert, int) and self.likert >= 2):
            raise ValueError(f"design.likert must be an integer >= 2 or None, got {self.likert!r}")
        if self.exogenous_events is not None:
            unknown = set(self.exogenous_events) - set(D.EVENTS)
            if unknown:
                raise ValueError(f"design.exogenous_events has unknown event(s) {sorted(unknown)}")
            for k, v in self.exogenous_events.items():
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"design.exogenous_events[{k!r}]={v} is not a probability")


def draw_person_params(
    variant: Variant,
    pop: Mapping[str, Any],
    n_dyads: int,
    rng: np.random.Generator,
    shift: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Person-level parameters ``link(mu + shift + sd * z)`` with ``z ~ Normal(0, 1)``, shape (dyad, person).

    ``shift`` holds the covariate term ``X @ beta`` (dyad, person) of the parameters that have
    covariates (:mod:`asem_bayes.covariates`); the draws of ``z`` do not depend on it, so the
    same seed gives the same persons with and without covariate effects.

    For the initial working models (``tanh`` link) the linear predictor is also returned, as
    ``s0_latent`` and ``o0_latent``: the day loop starts from it, so an initial model that rounds
    to +-1 in float64 still has its finite latent.

    With correlated effects (``variant.person_correlation``, docs/model.md section 18) ``pop``
    holds their correlations ``corr_<a>_<b>``, and the named parameters' ``z`` are the same
    independent draws times the Cholesky factor of that correlation matrix (so the other
    parameters' draws, and with zero correlations all of them, are those without the option).
    """
    shift = shift or {}
    z = {pp.name: rng.standard_normal((n_dyads, 2)) for pp in variant.person_params}
    z.update(_correlated(variant, pop, z))
    out = {}
    for pp in variant.person_params:
        lin = pop[pp.mu] + shift.get(pp.name, 0.0) + pop[pp.sd] * z[pp.name]
        out[pp.name] = pp.apply_link(np, lin)
        if pp.name in _INITIAL:
            out[f"{pp.name}_latent"] = lin
    return out


def _correlated(variant: Variant, pop: Mapping[str, Any], z: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The option's effects correlated with ``pop``'s correlations (none without the option)."""
    names = variant.person_correlation
    if not names:
        return {}
    R = corr.correlation_matrix(variant, pop)
    joint = corr.correlate(np.stack([z[n] for n in names], axis=-1), R)
    return {n: joint[..., j] for j, n in enumerate(names)}


_INITIAL = ("s0", "o0")  # the initial working models, whose latents start the day loop


def resolve_params(
    variant: Variant,
    params: Mapping[str, Any] | str | None,
    n_dyads: int,
    rng: np.random.Generator,
    shift: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """All parameter values for a simulation: population scalars and (dyad, person) arrays.

    ``None`` uses the schema's reference values, ``"prior"`` draws the population parameters
    from their priors, and a mapping overrides reference values (person-level values may be
    given as scalars or (dyad, person) arrays; missing ones are drawn from the population, with
    the covariate terms ``shift`` of :func:`draw_person_params`; given ones are taken as they are).
    The correlations of ``variant.person_correlation`` (``corr_<a>_<b>``) are population values
    too: reference 0.3 each, drawn from the ``LKJ(2)`` prior with ``"prior"``.
    """
    if params is None:
        given: dict[str, Any] = {}
        pop = variant.defaults() | corr.reference_values(variant)
    elif isinstance(params, str):
        if params != "prior":
            raise ValueError(f"params must be None, 'prior' or a mapping, got {params!r}")
        given = {}
        pop = variant.draw_prior(rng) | corr.prior_values(variant, rng)
    else:
        given = dict(params)
        variant.check(given)
        pop = variant.defaults() | corr.reference_values(variant)
        pop.update({k: float(v) for k, v in given.items() if k in pop})
    person = draw_person_params(variant, pop, n_dyads, rng, shift)
    for name in variant.person_param_names:
        if name in given:
            value = np.asarray(given[name], dtype=float)
            try:
                person[name] = np.broadcast_to(value, (n_dyads, 2)).copy()
            except ValueError:
                raise SchemaError(
                    f"person parameter {name} must be a scalar or a (dyad, person) = ({n_dyads}, 2) array, "
                    f"got shape {value.shape}"
                ) from None
            if name in _INITIAL:
                if np.any(np.abs(person[name]) >= 1):
                    raise SchemaError(f"initial state {name} must lie in (-1, 1)")
                person[f"{name}_latent"] = dynamics.latent(np, person[name])
    return {**pop, **person}


def _spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """Independent child generators (one stream per purpose, see :func:`simulate`)."""
    try:
        return list(rng.spawn(n))
    except TypeError:  # a bit generator without a SeedSequence
        return [np.random.default_rng(int(s)) for s in rng.integers(0, 2**63, size=n)]


def simulate(
    variant: str | Variant = "asem",
    n_dyads: int = 100,
    n_days: int = 56,
    params: Mapping[str, Any] | str | None = None,
    design: Design | None = None,
    seed: int | np.random.Generator | None = None,
    *,
    covariates: Mapping[str, Any] | None = None,
    effects: Mapping[str, Mapping[str, float]] | None = None,
    residuals: Sequence[str] = (),
    person_correlation: Sequence[str] = (),
) -> xr.Dataset:
    """Simulate a dyadic daily-diary study from an ASEM variant.

    Parameters
    ----------
    variant : str or Variant
        Registered variant name, e.g. ``"asem"``.
    n_dyads, n_days : int
        Couples and diary days.
    params : None, "prior" or mapping
        True parameters (see :func:`resolve_params`).
    design : Design
        Wave days, rating scale, missingness and optional exogenous event rates.
    seed : int or numpy Generator
        Seed; the same seed gives the same study. Parameters are drawn first; then the latent
        process (events and states), the rating noise and the missingness each use their own
        child stream, so changing the rating scale or the missingness rates of a design keeps
        the same true parameters, events and trajectories.
    covariates : mapping or None
        Person or couple covariates, ``{name: values}`` with values of shape (dyad,) per couple
        or (dyad, person) per person (numeric; e.g. a randomised arm coded 0/1). Stored in the
        study with ``attrs["role"] = "covariate"``, where a fit finds them.
    effects : mapping or None
        True covariate coefficients per person-level parameter, ``{param: {covariate: beta}}``,
        on the linear predictor's scale: ``param = link(mu + X @ beta + sd * z)`` (docs/model.md,
        "Covariate effects on person-level parameters"). E.g. a trial whose arm 1 learns
        faster from positive evidence about the self: ``covariates={"arm": arm},
        effects={"theta_pos_s": {"arm": 0.7}}``; ``{"arm": 0.0}`` is a null trial. Stored as
        ``beta_<param>`` (dims ``covariate_<param>``) with the other true parameters.
    residuals : sequence of {"ar1", "partner"}
        Extensions of the daily ratings' residuals (docs/model.md section 17; default none, or
        those of a ``variant`` built by :func:`asem_bayes.residuals.with_residuals`): ``"ar1"``
        carries each person's residual over from day to day (``phi_A``, ``phi_V``), ``"partner"``
        correlates the partners' same-day residuals (``corr_A``, ``corr_V``). Their parameters
        join the variant's (``params`` may set them; reference value 0.3); the residual process
        runs on every day, missed ones included. Continuous ratings only; one option at a time.
        Without options the same seed gives the same study as before.
    person_correlation : sequence of str
        Person-level parameters whose standardised effects are correlated across persons, e.g.
        ``("s0", "o0")`` (docs/model.md section 18; default none, or those of a ``variant`` built
        by :func:`asem_bayes.person_correlation.with_person_correlation`). Their correlations
        ``corr_<a>_<b>`` join the parameters (``params`` may set them; reference value 0.3 each,
        ``params="prior"`` draws them from the ``LKJ(2)`` prior) and are stored with the other
        true parameters; ``attrs["person_correlation"]`` names the parameters. The independent
        draws are those without the option, so zero correlations give the same study.

    Returns
    -------
    xarray.Dataset
        Dims ``dyad``, ``person``, ``day``, ``wave``. Variables: events (``threat``,
        ``dependence`` per dyad-day; ``safe``, ``soft``, ``confidence`` per person-day, NaN on
        missed days; float32, since they are 0/1), daily ratings, trait waves, the latent
        ``self_model``, ``others_model`` and ``fatigue`` (true events, start of each day), the
        true events ``<event>_true`` per person-day (``threat_true`` and ``dependence_true``
        are views repeating the dyad-day values for both partners), and every true parameter.
        Each variable's ``attrs["role"]`` says which it is. Event arrays are read-only, since
        without missed days the observed events share memory with the true ones;
        ``ds.copy(deep=True)`` gives an editable copy.
    """
    v = get_variant(variant)
    v = with_residuals(v, tuple(residuals) or v.residuals)
    v = corr.with_person_correlation(v, tuple(person_correlation) or v.person_correlation)
    design = design or Design()
    design.validate()
    refuse_likert(v.residuals, design.likert)
    if n_dyads < 1 or n_days < 2:
        raise ValueError(f"need at least 1 dyad and 2 days, got n_dyads={n_dyads}, n_days={n_days}")
    cov_ds, spec, beta = _covariate_setup(v, n_dyads, covariates, effects)
    shift = {name: covariate_shift(X, beta[name]) for name, X in spec.matrices(cov_ds).items()}
    rng = np.random.default_rng(seed)
    p = resolve_params(v, params, n_dyads, rng, shift)
    waves = design.waves(n_days)
    ev_rng, obs_rng, miss_rng = _spawn(rng, 3)

    # Time-major (day, dyad, person) storage: each day writes one contiguous block, and the
    # Dataset holds transposed views (no copies). All per-day work happens on (dyad, person)
    # arrays small enough to stay in cache, which is what makes the loop fast.
    T, N = n_days, n_dyads
    S = np.empty((T, N, 2))
    O = np.empty((T, N, 2))
    F = np.empty((T, N, 2))
    y_A = np.empty((T, N, 2))
    y_V = np.empty((T, N, 2))
    # Events are 0/1: float32 stores them exactly at half the memory (NaN marks missed days).
    ev_store = {name: np.empty((T, N), np.float32) for name in D.DYAD_EVENTS}
    ev_store.update({name: np.empty((T, N, 2), np.float32) for name in D.PERSON_EVENTS})
    md, mi = design.missing_days, design.missing_items
    missed = np.zeros((T, N, 2), bool) if md > 0 else None

    # Per-day float64 work buffers, so the dynamics see exactly what the PyMC model sees.
    u = np.empty((4, N, 2))
    threat, dep = np.empty(N), np.empty(N)
    safe, soft, conf = np.empty((N, 2)), np.empty((N, 2)), np.empty((N, 2))
    ev = dynamics.Events(threat[:, None], safe, soft, conf, dep[:, None])
    z = np.empty((2, N, 2))
    nan_items = np.zeros((2, N, 2), bool)  # which of the day's two ratings are missing

    # The day loop carries the unbounded latents; the working models are their tanh.
    zs = np.array(p["s0_latent"], dtype=float)
    zo = np.array(p["o0_latent"], dtype=float)
    s, o = np.tanh(zs), np.tanh(zo)
    f = np.zeros((N, 2))
    zeta = p.get("zeta", 0.0)
    exo = design.exogenous_events
    if exo is not None:
        exo_pr = dynamics.EventProbs(*(float(exo.get(k, 0.0)) for k in dynamics.EventProbs._fields))
    sig_A, sig_V, K = p["sigma_A"], p["sigma_V"], design.likert
    opt_A = option_values(v.residuals, p, "state_anxiety")
    opt_V = option_values(v.residuals, p, "state_avoidance")
    e_A = e_V = None  # the previous day's residuals (residual options only)
    for t in range(T):
        S[t], O[t], F[t] = s, o, f
        pr = dynamics.event_probs(np, s, o, f, p, v.fatigue) if exo is None else exo_pr
        ev_rng.random(out=u)  # all of a day's uniforms in one call
        np.less(u[0, :, 0], pr.threat, out=threat, casting="unsafe")
        np.less(u[0, :, 1], pr.dependence, out=dep, casting="unsafe")
        np.less(u[1], pr.safe, out=safe, casting="unsafe")
        np.less(u[2], pr.soft, out=soft, casting="unsafe")
        np.less(u[3], pr.confidence, out=conf, casting="unsafe")
        safe *= ev.threat  # buffering only happens in a threat
        soft *= ev.threat
        for name, x in (("threat", threat), ("dependence", dep), ("safe", safe), ("soft", soft), ("confidence", conf)):
            ev_store[name][t] = x

        # Ratings use the states at the start of the day (before its update).
        mu_A, mu_V = dynamics.rating_means(np, s, o, ev, p)
        if K is None and v.residuals:
            obs_rng.standard_normal(out=z)
            e_A = innovate(z[0], sig_A, prev=e_A, **opt_A)
            e_V = innovate(z[1], sig_V, prev=e_V, **opt_V)
            np.add(mu_A, e_A, out=y_A[t])
            np.add(mu_V, e_V, out=y_V[t])
        elif K is None:
            obs_rng.standard_normal(out=z)
            _noisy(mu_A, sig_A, z[0], out=y_A[t])
            _noisy(mu_V, sig_V, z[1], out=y_V[t])
        else:
            lg = obs_rng.logistic(size=z.shape)
            _likert_day(mu_A, sig_A, lg[0], K, out=y_A[t])
            _likert_day(mu_V, sig_V, lg[1], K, out=y_V[t])
        if md > 0 or mi > 0:
            if md > 0:
                np.less(miss_rng.random((N, 2)), md, out=missed[t])
            if mi > 0:
                np.less(miss_rng.random((2, N, 2)), mi, out=nan_items)
            else:
                nan_items[:] = False
            if md > 0:
                nan_items |= missed[t]
            np.copyto(y_A[t], np.nan, where=nan_items[0])
            np.copyto(y_V[t], np.nan, where=nan_items[1])

        zs, zo = dynamics.step(np, v, zs, zo, ev, p)
        s, o = np.tanh(zs), np.tanh(zo)
        f = dynamics.fatigue_step(np, f, safe, soft, zeta)

    idx = list(waves)
    Sw, Ow = S[idx].transpose(1, 2, 0), O[idx].transpose(1, 2, 0)  # (dyad, person, wave)
    ta_mu, tv_mu = dynamics.trait_means(np, Sw, Ow, p)
    t_A = ta_mu + p["sigma_TA"] * obs_rng.standard_normal(ta_mu.shape)
    t_V = tv_mu + p["sigma_TV"] * obs_rng.standard_normal(tv_mu.shape)

    # Missingness: a missed day hides that person's ratings and reported events; dyad-day
    # events are lost only if both partners missed the day.
    # Event arrays are read-only: without missed days the observed events *are* the true ones
    # (one array, no copy), and a read-only array cannot silently corrupt the truth.
    for x in ev_store.values():
        x.flags.writeable = False
    if missed is None:
        observed = ev_store
    else:
        miss_w = missed[idx].transpose(1, 2, 0)
        t_A = np.where(miss_w, np.nan, t_A)
        t_V = np.where(miss_w, np.nan, t_V)
        both_missed = missed.all(axis=2)
        observed = {name: np.where(both_missed if x.ndim == 2 else missed, np.nan, x) for name, x in ev_store.items()}
        for x in observed.values():
            x.flags.writeable = False

    def pd_view(x: np.ndarray) -> np.ndarray:  # (day, dyad, person) -> (dyad, person, day)
        return x.transpose(1, 2, 0)

    coords = {D.DYAD: np.arange(N), D.PERSON: np.arange(2), D.DAY: np.arange(T), D.WAVE: np.arange(len(idx))}
    pdd = D.PERSON_DAY_DIMS
    data_vars: dict[str, Any] = {}
    for name in D.DYAD_EVENTS:
        data_vars[name] = (D.DYAD_DAY_DIMS, observed[name].T, {"role": D.ROLE_EVENT})
    for name in D.PERSON_EVENTS:
        data_vars[name] = (pdd, pd_view(observed[name]), {"role": D.ROLE_EVENT})
    data_vars["state_anxiety"] = (pdd, pd_view(y_A), {"role": D.ROLE_RATING})
    data_vars["state_avoidance"] = (pdd, pd_view(y_V), {"role": D.ROLE_RATING})
    data_vars["trait_anxiety"] = (D.PERSON_WAVE_DIMS, t_A, {"role": D.ROLE_TRAIT})
    data_vars["trait_avoidance"] = (D.PERSON_WAVE_DIMS, t_V, {"role": D.ROLE_TRAIT})
    for name, x, meaning in (
        ("self_model", S, "model of self at the start of the day"),
        ("others_model", O, "model of others at the start of the day"),
        ("fatigue", F, "buffering load of the person as a giver"),
    ):
        data_vars[name] = (pdd, pd_view(x), {"role": D.ROLE_LATENT, "meaning": meaning})
    for prm in v.params:
        data_vars[prm.name] = ((), float(p[prm.name]), {"role": D.ROLE_PARAMETER, "meaning": prm.meaning})
    for pp in v.person_params:
        data_vars[pp.name] = (D.PERSON_DIMS, p[pp.name], {"role": D.ROLE_PARAMETER, "meaning": pp.meaning})
    data_vars.update(_correlation_vars(v, p))
    for name in D.EVENTS:
        x = ev_store[name]
        # Shared events are stored once per dyad-day; the person-day variable is a view.
        evs = np.broadcast_to(x.T[:, None, :], (N, 2, T)) if x.ndim == 2 else pd_view(x)
        meaning = f"true {name} events, missed days included"
        data_vars[f"{name}_true"] = (pdd, evs, {"role": D.ROLE_LATENT, "meaning": meaning})
    data_vars.update({name: cov_ds[name] for name in cov_ds.data_vars})
    data_vars.update(_effect_vars(spec, beta))
    ds = xr.Dataset(data_vars, coords={**coords, "wave_day": (D.WAVE, np.asarray(idx))})
    ds.attrs.update(
        variant=v.name,
        seed=str(seed) if not isinstance(seed, np.random.Generator) else "generator",
        likert=0 if design.likert is None else design.likert,
        design=repr(asdict(design)),
    )
    if v.residuals:
        ds.attrs["residuals"] = ",".join(v.residuals)
    if v.person_correlation:
        ds.attrs["person_correlation"] = ",".join(v.person_correlation)
    if spec:
        ds.attrs["person_covariates"] = spec.to_json()
    return ds


def _covariate_setup(
    v: Variant,
    n_dyads: int,
    covariates: Mapping[str, Any] | None,
    effects: Mapping[str, Mapping[str, float]] | None,
) -> tuple[xr.Dataset, PersonCovariates, dict[str, np.ndarray]]:
    """The covariates as study variables, the terms the effects name, and the coefficients."""
    covariates = dict(covariates or {})
    effects = dict(effects or {})
    spec = parse({name: list(e) for name, e in effects.items()}, v)
    lacking = [c for c in spec.names if c not in covariates]
    if lacking:
        raise CovariateError(f"effects name covariate(s) {lacking} that covariates= does not give")
    empty = xr.Dataset(coords={D.DYAD: np.arange(n_dyads), D.PERSON: np.arange(2)})
    return add_covariates(empty, **covariates), spec, check_effects(spec, effects)


def _effect_vars(spec: PersonCovariates, beta: Mapping[str, np.ndarray]) -> dict[str, xr.DataArray]:
    """The true coefficients as study variables ``beta_<param>`` (role parameter)."""
    out = {}
    for pp in spec.params():
        dim = pp.effect_dim
        meaning = f"covariate coefficients of {pp.name} (linear predictor scale)"
        out[pp.effect_name] = xr.DataArray(
            beta[pp.name],
            dims=(dim,),
            coords={dim: list(spec.covariates_of(pp.name))},
            attrs={"role": D.ROLE_PARAMETER, "meaning": meaning},
        )
    return out


def _correlation_vars(v: Variant, p: Mapping[str, Any]) -> dict[str, tuple[tuple[()], float, dict[str, str]]]:
    """The true correlations of the option's person-level effects as study variables (role parameter)."""
    names = v.person_correlation
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    return {
        c: ((), float(p[c]), {"role": D.ROLE_PARAMETER, "meaning": f"correlation of the person effects of {a} and {b}"})
        for c, (a, b) in zip(v.correlation_names, pairs, strict=True)
    }


def _noisy(mu: np.ndarray, sigma: Any, z: np.ndarray, out: np.ndarray) -> None:
    """``out = mu + sigma * z`` without temporaries (``z`` is overwritten)."""
    np.multiply(z, sigma, out=z)
    np.add(mu, z, out=out)


def _likert_day(mu: np.ndarray, sigma: Any, noise: np.ndarray, k: int, out: np.ndarray) -> None:
    """Ordered logistic with cut points at 1.5, ..., K - 0.5 and logistic scale ``sigma``."""
    _noisy(mu, sigma, noise, out=out)
    out += 0.5
    np.floor(out, out=out)
    np.clip(out, 1, k, out=out)


def true_params(ds: xr.Dataset) -> dict[str, np.ndarray | float | xr.DataArray]:
    """The true parameters stored in a simulated study: floats, (dyad, person) arrays, and the
    covariate coefficients ``beta_<param>`` as DataArrays labelled by covariate."""
    out: dict[str, np.ndarray | float | xr.DataArray] = {}
    for name, var in ds.data_vars.items():
        if var.attrs.get("role") == D.ROLE_PARAMETER:
            out[str(name)] = float(var) if var.ndim == 0 else var.values if var.ndim == 2 else var.copy()
    return out
