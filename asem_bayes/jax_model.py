"""The ASEM variants' log density in JAX, and many NUTS fits at once (``vmap``) for SBC on an accelerator.

:class:`JaxModel` is a hand-written twin of the PyMC model of :func:`asem_bayes.model.build_model`:
the same priors (from the variant's schema), the same non-centred person parameters, the same
unconstrained parametrisation as PyMC's value variables (``<name>_log__`` for HalfNormal and
LogNormal priors, ``<name>_logodds__`` for Beta priors, the identity for Normal priors and the
standardised ``<name>_z``), Jacobians included, so ``JaxModel.logdensity`` equals the PyMC model's
``compile_logp(jacobian=True)`` at every point (``tests/test_jax_vmap.py`` checks it). The day loop
is one :func:`jax.lax.scan` over :func:`asem_bayes.dynamics.step` with ``xp = jax.numpy``, on the
latents of the working models, differentiated by JAX.

The data are an argument of the log density (a dict of dense, fixed-shape arrays, see
:meth:`JaxModel.data`): missing ratings are masked, not dropped, so datasets of one design stack
along a leading axis and :func:`sample_many` fits them all at once, ``vmap`` over datasets and
chains, with blackjax's NUTS and its window adaptation (step size and diagonal mass matrix), jitted
once per design and batch size.

Importing this module imports JAX; call :func:`enable_x64` (or set ``JAX_ENABLE_X64=1``) before
creating arrays when the double precision of the PyMC model is wanted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from asem_bayes import dims as D
from asem_bayes import dynamics
from asem_bayes.inputs import DataError, ModelInputs
from asem_bayes.registry import get_variant
from asem_bayes.schema import Prior, Variant

__all__ = [
    "JaxModel",
    "ValueVar",
    "enable_x64",
    "sample_many",
    "SamplerSettings",
    "stack_data",
    "posterior_datasets",
]

_LOG_2PI = math.log(2.0 * math.pi)
_TRANSFORM = {"Normal": None, "HalfNormal": "log", "LogNormal": "log", "Beta": "logodds"}


def enable_x64() -> None:
    """Compute in float64, as the PyMC model does (JAX defaults to float32)."""
    jax.config.update("jax_enable_x64", True)


@dataclass(frozen=True)
class ValueVar:
    """One unconstrained coordinate block, named as PyMC names its value variable.

    Parameters
    ----------
    name : str
        PyMC's value-variable name (``k_A_log__``, ``e_safe_logodds__``, ``s0_z``, ``c_A_mu``).
    param : str
        The random variable's name (``k_A``, ``e_safe``, ``s0_z``).
    prior : Prior
        Its prior (``Normal(0, 1)`` for a person parameter's ``_z``).
    transform : {"log", "logodds"} or None
        Map from the constrained value to the unconstrained one.
    person : bool
        Shape ``(dyad, person)`` rather than scalar.
    """

    name: str
    param: str
    prior: Prior
    transform: str | None
    person: bool = False


def _prior_logp(prior: Prior, x: jax.Array) -> jax.Array:
    """Log density of a schema prior at constrained values ``x`` (PyMC's parametrisation)."""
    k = prior.kwargs
    if prior.dist == "Normal":
        z = (x - k["mu"]) / k["sigma"]
        return -0.5 * z**2 - math.log(k["sigma"]) - 0.5 * _LOG_2PI
    if prior.dist == "HalfNormal":
        z = x / k["sigma"]
        return 0.5 * math.log(2.0 / math.pi) - math.log(k["sigma"]) - 0.5 * z**2
    if prior.dist == "LogNormal":
        z = (jnp.log(x) - k["mu"]) / k["sigma"]
        return -jnp.log(x) - math.log(k["sigma"]) - 0.5 * _LOG_2PI - 0.5 * z**2
    if prior.dist == "Beta":
        a, b = k["alpha"], k["beta"]
        betaln = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
        return (a - 1.0) * jnp.log(x) + (b - 1.0) * jnp.log1p(-x) - betaln
    raise NotImplementedError(f"prior {prior.dist} has no JAX log density")


def _constrain(transform: str | None, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Constrained value and ``log |dx/dy|`` of an unconstrained value ``y``."""
    if transform is None:
        return y, jnp.zeros_like(y)
    if transform == "log":
        return jnp.exp(y), y
    if transform == "logodds":
        return jax.nn.sigmoid(y), jax.nn.log_sigmoid(y) + jax.nn.log_sigmoid(-y)
    raise NotImplementedError(f"transform {transform!r}")


def _unconstrain(transform: str | None, x: np.ndarray) -> np.ndarray:
    if transform is None:
        return x
    if transform == "log":
        return np.log(x)
    return np.log(x) - np.log1p(-x)


def _support_point(prior: Prior) -> float:
    """PyMC's default initial value of a prior (before jitter)."""
    k = prior.kwargs
    if prior.dist == "Normal":
        return k["mu"]
    if prior.dist == "HalfNormal":
        return k["sigma"]
    if prior.dist == "LogNormal":
        return math.exp(k["mu"] + k["sigma"] ** 2 / 2)
    return k["alpha"] / (k["alpha"] + k["beta"])


_STD_NORMAL = Prior("Normal", {"mu": 0.0, "sigma": 1.0})


class JaxModel:
    """Log density of one ASEM variant for one study design, data passed as an argument.

    Parameters
    ----------
    example : ModelInputs
        Inputs of a dataset of the design (:func:`asem_bayes.inputs.prepare_inputs`): numbers of
        dyads and days, rating scale, which ratings (and, joint mode, which events) are observed.
    variant : str or Variant
        Registered variant.
    mode : {"conditional", "joint"} or None
        As in :func:`asem_bayes.model.build_model` (default: the variant's default mode).
    unroll : int
        Days per iteration of the ``scan`` (XLA's ``unroll``); 1 compiles fastest.

    Notes
    -----
    A *position* is a dict of unconstrained arrays keyed by PyMC's value-variable names
    (:attr:`value_vars`): scalars for population parameters, ``(dyad, person)`` for ``<name>_z``.
    The log density includes every constant and Jacobian term PyMC includes.
    """

    def __init__(
        self,
        example: ModelInputs,
        variant: str | Variant = "asem",
        mode: str | None = None,
        unroll: int = 1,
    ) -> None:
        from asem_bayes.model import _check_mode

        self.variant = get_variant(variant)
        self.mode = _check_mode(self.variant, mode)
        self.design_key = example.design_key
        self.n_dyads, self.n_days, self.likert = example.n_dyads, example.n_days, example.likert
        self.obs_names = tuple(sorted(example.obs))
        if self.mode == "joint" and not any(k.startswith("event_") for k in self.obs_names):
            raise DataError("joint mode needs scored events: prepare the inputs with joint=True")
        self.coords = {k: np.asarray(c) for k, c in example.coords.items()}
        vv = []
        for prm in self.variant.params:
            tr = _TRANSFORM[prm.prior.dist]
            vv.append(ValueVar(prm.name if tr is None else f"{prm.name}_{tr}__", prm.name, prm.prior, tr))
        for pp in self.variant.person_params:
            vv.append(ValueVar(f"{pp.name}_z", f"{pp.name}_z", _STD_NORMAL, None, person=True))
        self.value_vars: tuple[ValueVar, ...] = tuple(vv)
        self._fatigue = self.variant.fatigue and self.mode == "joint"
        self.unroll = int(unroll)

    # ---------------------------------------------------------------------------------------
    # data

    def data(self, inp: ModelInputs) -> dict[str, np.ndarray]:
        """Dense, fixed-shape arrays of one dataset (numpy; stack several with :func:`stack_data`).

        ``ev_<event>``: time-major ``(day, dyad, person)``; ``y_<obs>`` and ``m_<obs>``: values and
        0/1 mask on the same time-major grid, flattened (traits sit on their wave day), zero where
        unobserved.
        """
        if inp.design_key != self.design_key:
            raise DataError(f"dataset design {inp.design_key} differs from the model's design {self.design_key}")
        if tuple(sorted(inp.obs)) != self.obs_names:
            raise DataError(f"dataset observes {sorted(inp.obs)}, the model was built for {list(self.obs_names)}")
        Dn, T = self.n_dyads, self.n_days
        out = {f"ev_{k}": np.asarray(inp.events[k], dtype=float) for k in D.EVENTS}
        for k, (idx, y) in inp.obs.items():
            # ModelInputs index the (dyad, person, day) grid in C order; the model runs time-major
            d, rest = np.divmod(idx, 2 * T)
            i, t = np.divmod(rest, T)
            pos = (t * Dn + d) * 2 + i
            vals, mask = np.zeros(Dn * 2 * T), np.zeros(Dn * 2 * T)
            vals[pos], mask[pos] = y, 1.0
            out[f"y_{k}"], out[f"m_{k}"] = vals, mask
        return out

    # ---------------------------------------------------------------------------------------
    # parameters

    def constrain(self, position: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        """Parameters on their own scale: population values and person-level values (``(dyad, person)``)."""
        return self._params(position)[0]

    def _params(self, position: Mapping[str, jax.Array]) -> tuple[dict[str, jax.Array], jax.Array]:
        p: dict[str, jax.Array] = {}
        lp = 0.0
        for v in self.value_vars:
            x, log_jac = _constrain(v.transform, position[v.name])
            p[v.param] = x
            lp = lp + jnp.sum(_prior_logp(v.prior, x) + log_jac)
        for pp in self.variant.person_params:
            lin = p[pp.mu] + p[pp.sd] * p[f"{pp.name}_z"]
            p[pp.name] = pp.apply_link(jnp, lin)
            if pp.name in ("s0", "o0"):
                p[f"{pp.name}_latent"] = lin  # the day loop starts from it (no atanh of tanh)
        return p, lp

    def unconstrain(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Position at given parameter values (population and person level, e.g. a simulation's truth)."""
        pos = {}
        for v in self.value_vars:
            if v.person:
                pp = next(q for q in self.variant.person_params if f"{q.name}_z" == v.name)
                pos[v.name] = pp.standardise(params[pp.name], params)
            else:
                pos[v.name] = _unconstrain(v.transform, np.asarray(params[v.param], dtype=float))
        return pos

    def initial_position(self, key: jax.Array, jitter: float = 1.0) -> dict[str, jax.Array]:
        """PyMC's ``jitter+adapt_diag`` start: the priors' support points (0 for ``_z``) in the
        unconstrained space plus Uniform(-jitter, jitter)."""
        keys = jax.random.split(key, len(self.value_vars))
        pos = {}
        for k, v in zip(keys, self.value_vars, strict=True):
            shape = (self.n_dyads, 2) if v.person else ()
            centre = 0.0 if v.person else float(_unconstrain(v.transform, np.asarray(_support_point(v.prior))))
            pos[v.name] = centre + jax.random.uniform(k, shape, minval=-jitter, maxval=jitter)
        return pos

    # ---------------------------------------------------------------------------------------
    # the model

    def states(self, p: Mapping[str, jax.Array], data: Mapping[str, jax.Array]):
        """Working models (and fatigue as a giver) at the start of every day, ``(day, dyad, person)``.

        One :func:`jax.lax.scan` over :func:`asem_bayes.dynamics.step` on the latents, differentiated
        by JAX; the working models are their ``tanh``.
        """
        s0, o0 = p["s0"], p["o0"]
        T = self.n_days
        if not self.variant.changes and not self._fatigue:
            rep = (T, *s0.shape)
            return jnp.broadcast_to(s0, rep), jnp.broadcast_to(o0, rep), None
        v = self.variant

        def body(carry, ev):
            zs, zo, f = carry
            e = dynamics.Events(*ev)
            zs, zo = dynamics.step(jnp, v, zs, zo, e, p)
            if self._fatigue:
                f = dynamics.fatigue_step(jnp, f, e.safe, e.soft, p["zeta"])
            return (zs, zo, f), (zs, zo, f)

        z0 = (p["s0_latent"], p["o0_latent"])
        xs = tuple(data[f"ev_{k}"][:-1] for k in D.EVENTS)
        _, (ZS, ZO, F) = jax.lax.scan(body, (*z0, jnp.zeros_like(s0)), xs, unroll=self.unroll)
        S = jnp.tanh(jnp.concatenate([z0[0][None], ZS], axis=0))
        O = jnp.tanh(jnp.concatenate([z0[1][None], ZO], axis=0))
        F = jnp.concatenate([jnp.zeros_like(s0)[None], F], axis=0) if self._fatigue else None
        return S, O, F

    def logdensity(self, position: Mapping[str, jax.Array], data: Mapping[str, jax.Array]) -> jax.Array:
        """Log posterior density (up to the evidence) at an unconstrained position, Jacobians included."""
        p, lp = self._params(position)
        S, O, F = self.states(p, data)
        ev = dynamics.Events(*(data[f"ev_{k}"] for k in D.EVENTS))
        mu_A, mu_V = dynamics.rating_means(jnp, S, O, ev, p)
        ta, tv = dynamics.trait_means(jnp, S, O, p)
        means = {
            "state_anxiety": (mu_A, p["sigma_A"]),
            "state_avoidance": (mu_V, p["sigma_V"]),
            "trait_anxiety": (ta, p["sigma_TA"]),
            "trait_avoidance": (tv, p["sigma_TV"]),
        }
        shape = S.shape

        def flat(x: jax.Array) -> jax.Array:  # (day, dyad, person), flattened as the data are
            return jnp.broadcast_to(x, shape).reshape(-1)

        for name, (mu, sigma) in means.items():
            if name not in self.obs_names:
                continue
            y, m, mu = data[f"y_{name}"], data[f"m_{name}"], flat(mu)
            if self.likert and name in D.DAILY_RATINGS:
                ll = _ordered_logistic_logp(y, mu, sigma, self.likert)
            else:
                z = (y - mu) / sigma
                ll = -0.5 * z**2 - jnp.log(sigma) - 0.5 * _LOG_2PI
            lp = lp + jnp.sum(jnp.where(m > 0, ll, 0.0))
        if self.mode == "joint":
            logits = dynamics.event_logits(jnp, S, O, F, p, self.variant.fatigue)
            for name in D.EVENTS:
                key = f"event_{name}"
                if key not in self.obs_names:
                    continue
                lg = getattr(logits, name)
                if name in D.DYAD_EVENTS:
                    lg = jnp.repeat(lg[..., None], 2, axis=-1)
                lg, y, m = flat(lg), data[f"y_{key}"], data[f"m_{key}"]
                ll = y * jax.nn.log_sigmoid(lg) + (1.0 - y) * jax.nn.log_sigmoid(-lg)
                lp = lp + jnp.sum(jnp.where(m > 0, ll, 0.0))
        return lp


def _ordered_logistic_logp(y: jax.Array, mu: jax.Array, sigma: jax.Array, likert: int) -> jax.Array:
    """PyMC's ``OrderedLogistic(eta=mu / sigma, cutpoints=c / sigma)`` at categories ``y`` in 1..K."""
    cut = jnp.arange(1, likert) + 0.5
    above = jax.nn.sigmoid((mu[:, None] - cut[None, :]) / sigma)  # P(Y > k), k = 1..K-1
    ones = jnp.ones_like(mu)[:, None]
    p_gt = jnp.concatenate([ones, above, 0.0 * ones], axis=1)  # P(Y > k), k = 0..K
    k = jnp.clip(y.astype(jnp.int32), 1, likert)  # masked cells hold 0: any valid category
    hi = jnp.take_along_axis(p_gt, (k - 1)[:, None], axis=1)[:, 0]
    lo = jnp.take_along_axis(p_gt, k[:, None], axis=1)[:, 0]
    return jnp.log(hi - lo)


def stack_data(items: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack the :meth:`JaxModel.data` of several datasets along a new leading axis."""
    return {k: np.stack([d[k] for d in items]) for k in items[0]}


# --------------------------------------------------------------------------------------------
# many NUTS fits at once


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings of :func:`sample_many`.

    Parameters
    ----------
    draws : int
        Post-warm-up draws per chain; rounded up to a multiple of ``thin``.
    tune : int
        Warm-up (window adaptation: step size and diagonal mass matrix) steps per chain.
    chains : int
        Independent chains per dataset, each with its own adaptation.
    thin : int
        Keep every ``thin``-th draw of the person and population parameters (the population
        parameters' every draw is kept for R-hat and ESS).
    target_accept : float
        Target acceptance rate of the step-size adaptation.
    max_tree_depth : int
        Maximum number of trajectory doublings of NUTS.
    """

    draws: int = 500
    tune: int = 500
    chains: int = 2
    thin: int = 10
    target_accept: float = 0.8
    max_tree_depth: int = 10

    @property
    def n_keep(self) -> int:
        return math.ceil(self.draws / self.thin)


def _chain_fn(model: JaxModel, cfg: SamplerSettings):
    """One chain on one dataset: ``(key, data) -> (kept draws, per-draw records, step size)``.

    Warm-up and sampling run in one ``scan`` through one NUTS kernel (blackjax's
    ``nuts.build_kernel``): during the ``tune`` warm-up steps the step size and diagonal inverse
    mass matrix come from blackjax's window adaptation (Stan's schedule: fast, doubling slow
    windows, fast), afterwards they are that adaptation's final values. Compiling the NUTS
    trajectory builder once instead of twice halves the compile time. Every ``thin``-th draw of
    the whole position is written into a buffer (the carry), so memory does not grow with
    ``draws`` times the number of person parameters.
    """
    import blackjax
    from blackjax.adaptation.window_adaptation import base, build_schedule
    from jax.flatten_util import ravel_pytree

    pop = [v.param for v in model.value_vars if not v.person]
    tune, n_keep, thin = cfg.tune, cfg.n_keep, cfg.thin
    total = tune + n_keep * thin
    sched = np.asarray(build_schedule(tune), dtype=np.int32).reshape(tune, 2) if tune else np.zeros((0, 2), np.int32)
    stage = np.concatenate([sched[:, 0], np.zeros(total - tune, np.int32)])
    window_end = np.concatenate([sched[:, 1], np.zeros(total - tune, np.int32)]).astype(bool)
    warm = np.arange(total) < tune
    slot = np.clip((np.arange(total) - tune) // thin, 0, max(n_keep - 1, 0)).astype(np.int32)
    keep = (~warm) & ((np.arange(total) - tune) % thin == thin - 1)
    adapt_init, adapt_step, adapt_final = base(True, cfg.target_accept)
    kernel = blackjax.nuts.build_kernel()

    def run(key: jax.Array, data: Mapping[str, jax.Array]):
        k_init, k_run = jax.random.split(key)
        # One flat vector instead of a dict of ~60 arrays: NUTS carries several copies of the
        # position through its trajectory, and a flat one keeps the compiled graph small.
        flat0, unravel = ravel_pytree(model.initial_position(k_init))

        def logdensity(x: jax.Array) -> jax.Array:
            return model.logdensity(unravel(x), data)

        def one(carry, xs):
            state, astate, kept = carry
            k, st, wend, is_warm, j, is_keep = xs
            fin_ss, fin_imm = adapt_final(astate)
            ss = jnp.where(is_warm, astate.step_size, fin_ss)
            imm = jnp.where(is_warm, astate.inverse_mass_matrix, fin_imm)
            state, info = kernel(k, state, logdensity, ss, imm, max_num_doublings=cfg.max_tree_depth)
            new_astate = adapt_step(astate, (st, wend), state.position, info.acceptance_rate)
            astate = jax.tree.map(lambda a, b: jnp.where(is_warm, a, b), new_astate, astate)
            kept = kept.at[j].set(jnp.where(is_keep, state.position, kept[j]))
            p = model.constrain(unravel(state.position))
            rec = {
                "pop": jnp.stack([p[n] for n in pop]),
                "diverging": info.is_divergent,
                "energy": info.energy,
                "n_steps": info.num_integration_steps,
                "accept": info.acceptance_rate,
            }
            return (state, astate, kept), (rec, ss)

        carry0 = (
            blackjax.nuts.init(flat0, logdensity),
            adapt_init(flat0, 1.0),
            jnp.zeros((max(n_keep, 1), flat0.size), flat0.dtype),
        )
        xs = (jax.random.split(k_run, total), stage, window_end, warm, slot, keep)
        (_, _, kept), (rec, ss) = jax.lax.scan(one, carry0, xs)
        rec = jax.tree.map(lambda x: x[tune:], rec)
        kept = jax.vmap(lambda x: model.constrain(unravel(x)))(kept[:n_keep])
        return kept, rec, ss[-1]

    return run


_COMPILED: dict[Any, Any] = {}


def _compiled_sampler(model: JaxModel, cfg: SamplerSettings, keys: jax.Array, data: Mapping[str, jax.Array]):
    """The jitted sampler, ``vmap``-ed over datasets and chains,, compiled once per design and batch shape,
    and the seconds its compilation took (0 when it was compiled before)."""
    sig = (
        id(model),
        cfg,
        keys.shape,
        tuple(sorted((k, v.shape, str(v.dtype)) for k, v in data.items())),
        bool(jax.config.read("jax_enable_x64")),
    )
    fresh = sig not in _COMPILED
    if fresh:
        chain = _chain_fn(model, cfg)
        n_data, n_chains = keys.shape

        def batched(keys: jax.Array, data: Mapping[str, jax.Array]):
            # One vmap over (dataset, chain) lanes, each reading its dataset by index: a nested
            # vmap (datasets of chains) compiles about 1.6 times slower.
            lane = jnp.repeat(jnp.arange(n_data), n_chains)
            out = jax.vmap(lambda k, i: chain(k, jax.tree.map(lambda x: x[i], data)))(keys.reshape(-1), lane)
            return jax.tree.map(lambda x: x.reshape(n_data, n_chains, *x.shape[1:]), out)

        t0 = time.perf_counter()
        compiled = jax.jit(batched).lower(keys, data).compile()
        _COMPILED[sig] = (compiled, time.perf_counter() - t0, model)  # keep the model alive: id() is in the key
    compiled, seconds, _ = _COMPILED[sig]
    return compiled, seconds if fresh else 0.0


def sample_many(
    model: JaxModel,
    data: Mapping[str, np.ndarray],
    seeds: Sequence[int],
    cfg: SamplerSettings,
) -> dict[str, Any]:
    """Fit every dataset of a stacked batch at once: ``vmap`` over datasets and chains.

    Parameters
    ----------
    model : JaxModel
        The model of the batch's design.
    data : mapping
        :func:`stack_data` of the datasets' :meth:`JaxModel.data` (leading axis: dataset).
    seeds : sequence of int
        One seed per dataset; a dataset's chains derive their keys from it alone.
    cfg : SamplerSettings
        Sampler settings.

    Returns
    -------
    dict
        ``kept``: constrained parameters at the thinned draws, ``(dataset, chain, draw, ...)``;
        ``pop_trace``: every post-warm-up draw of the population parameters,
        ``(dataset, chain, draw, parameter)`` with ``pop_names``; ``diverging``, ``energy``,
        ``n_steps``, ``accept``: ``(dataset, chain, draw)``; ``step_size``: ``(dataset, chain)``;
        ``compile_seconds`` (0 when the sampler was compiled before) and ``sample_seconds``.
    """
    keys = jnp.stack([jax.random.split(jax.random.key(int(s) % 2**32), cfg.chains) for s in seeds])
    arrays = {k: jnp.asarray(v) for k, v in data.items()}
    compiled, compile_seconds = _compiled_sampler(model, cfg, keys, arrays)
    t0 = time.perf_counter()
    kept, rec, step_size = compiled(keys, arrays)
    kept = jax.tree.map(np.asarray, kept)  # blocks until the batch is done
    rec = jax.tree.map(np.asarray, rec)
    seconds = time.perf_counter() - t0
    return {
        "kept": kept,
        "pop_trace": rec["pop"],
        "pop_names": [v.param for v in model.value_vars if not v.person],
        "diverging": rec["diverging"],
        "energy": rec["energy"],
        "n_steps": rec["n_steps"],
        "accept": rec["accept"],
        "step_size": np.asarray(step_size),
        "compile_seconds": compile_seconds,
        "sample_seconds": seconds,
    }


def posterior_datasets(model: JaxModel, out: Mapping[str, Any], n: int | None = None) -> list[xr.Dataset]:
    """The thinned draws of :func:`sample_many` as one posterior Dataset per dataset.

    Population parameters have dims ``(chain, draw)``, person parameters ``(chain, draw, dyad,
    person)`` with the design's coordinates, as in the PyMC model's posterior.
    """
    v = model.variant
    kept = out["kept"]
    n = n if n is not None else next(iter(kept.values())).shape[0]
    res = []
    for i in range(n):
        first = kept[v.params[0].name][i]
        coords = {"chain": np.arange(first.shape[0]), "draw": np.arange(first.shape[1])}
        coords.update({d: model.coords[d] for d in D.PERSON_DIMS})
        data_vars = {prm.name: (("chain", "draw"), kept[prm.name][i]) for prm in v.params}
        data_vars.update({pp.name: (("chain", "draw", *D.PERSON_DIMS), kept[pp.name][i]) for pp in v.person_params})
        res.append(xr.Dataset(data_vars, coords=coords))
    return res


def diagnostics_arrays(out: Mapping[str, Any], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-dataset sampler diagnostics over the population parameters ``names``, vectorised.

    Returns ``divergences``, ``max_rhat`` (rank-normalised split R-hat), ``min_ess_bulk``,
    ``min_ess_tail`` (ArviZ's estimators and defaults, as :func:`asem_bayes.diagnostics.diagnose`, on every
    post-warm-up draw) and ``min_bfmi``, each of
    shape ``(dataset,)``.
    """
    from arviz_stats.base import array_stats
    from arviz_stats.validate import validate_ci_prob

    cols = [out["pop_names"].index(n) for n in names]
    tr = np.moveaxis(out["pop_trace"][..., cols], -1, 1)  # (dataset, parameter, chain, draw)
    rhat = array_stats.rhat(tr, chain_axis=-2, draw_axis=-1)
    ess_b = array_stats.ess(tr, chain_axis=-2, draw_axis=-1, method="bulk")
    ess_t = array_stats.ess(tr, chain_axis=-2, draw_axis=-1, method="tail", prob=validate_ci_prob(None))
    e = out["energy"]
    bfmi = np.sum(np.diff(e, axis=-1) ** 2, axis=-1) / np.sum((e - e.mean(-1, keepdims=True)) ** 2, axis=-1)
    return {
        "divergences": out["diverging"].sum(axis=(1, 2)).astype(int),
        "max_rhat": np.nanmax(rhat, axis=1),
        "min_ess_bulk": np.nanmin(ess_b, axis=1),
        "min_ess_tail": np.nanmin(ess_t, axis=1),
        "min_bfmi": np.min(bfmi, axis=1),
    }
