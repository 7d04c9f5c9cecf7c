"""The ASEM variants' log density in JAX, taken from the PyMC graph, and many NUTS fits at once.

There is one log density: the PyMC model of :func:`asem_bayes.model.build_model`. :class:`JaxModel`
compiles that model's graph with PyTensor's JAX backend, in the same sampling coordinates as
nutpie (the sheared coordinates of :mod:`asem_bayes.coords`) and with the data containers
(``ev_*``, ``idx_*``, ``y_*``) turned into inputs, so one compiled density serves every dataset of a
design. The compiled day loop (:class:`asem_bayes.kernels.LatentPath`) has a JAX implementation
(:func:`asem_bayes.kernels.register_jax`): a :func:`jax.lax.scan` over
:func:`asem_bayes.dynamics.update`, differentiated by JAX. ``tests/test_jax_vmap.py`` ties its
density and gradient to the PyMC model's.

:func:`sample_many` fits a stacked batch of datasets at once, ``vmap`` over datasets and chains,
with blackjax's NUTS and its window adaptation (step size and diagonal mass matrix), jitted once
per design and batch size. Datasets stack when they observe the same number of cells of each
kind (e.g. every simulation of an SBC design without missing ratings).

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
import pytensor
import xarray as xr

from asem_bayes import dims as D
from asem_bayes.inputs import DataError, ModelInputs
from asem_bayes.kernels import register_jax
from asem_bayes.registry import get_variant
from asem_bayes.start import POPULATION_JITTER, jittered_rvs

__all__ = [
    "JaxModel",
    "ValueVar",
    "enable_x64",
    "sample_many",
    "SamplerSettings",
    "stack_data",
    "posterior_datasets",
]


def enable_x64() -> None:
    """Compute in float64, as the PyMC model does (JAX defaults to float32)."""
    jax.config.update("jax_enable_x64", True)


register_jax()  # the compiled day loop of the PyMC graph, in JAX


@dataclass(frozen=True)
class ValueVar:
    """One unconstrained coordinate block: a value variable of the PyMC model.

    Parameters
    ----------
    name : str
        PyMC's value-variable name (``k_A_log__``, ``e_safe_logodds__``, ``s0_z``, ``k_A_sheared``).
    shape : tuple of int
        Its shape (``()`` or ``(dyad, person)``).
    """

    name: str
    shape: tuple[int, ...]

    @property
    def person(self) -> bool:
        return len(self.shape) > 0


def _jaxify(model, outputs: list, data_names: Sequence[str]):
    """A JAX function of (value variables..., data...) computing ``outputs`` of the PyMC graph."""
    from pymc.sampling.jax import get_jaxified_graph

    shared = {d.name: d for d in model.data_vars}
    inputs = {name: shared[name].type(name=name) for name in data_names}
    outs = pytensor.graph.replace.graph_replace(outputs, {shared[n]: inputs[n] for n in data_names}, strict=False)
    return get_jaxified_graph(inputs=[*model.value_vars, *inputs.values()], outputs=outs)


class JaxModel:
    """Log density of one ASEM variant for one study design, data passed as an argument.

    Parameters
    ----------
    example : ModelInputs
        Inputs of a dataset of the design (:func:`asem_bayes.inputs.prepare_inputs`): numbers of
        dyads and days, rating scale, which ratings (and, joint mode, which events) are observed
        and how many cells of each.
    variant : str or Variant
        Registered variant.
    mode : {"conditional", "joint"} or None
        As in :func:`asem_bayes.model.build_model` (default: the variant's default mode).

    Notes
    -----
    A *position* is a dict of unconstrained arrays keyed by the PyMC model's value-variable
    names (:attr:`value_vars`). :meth:`logdensity` is the PyMC model's ``logp()`` (Jacobians and
    the sheared coordinates' potential included), compiled to JAX.
    """

    def __init__(self, example: ModelInputs, variant: str = "asem", mode: str | None = None) -> None:
        from asem_bayes.model import build_model

        self.variant = get_variant(variant)
        self.model = build_model(example, self.variant, mode=mode, trajectories=False)
        self.mode = self.model.asem_mode
        self.design_key = example.design_key
        self.n_dyads, self.n_days, self.likert = example.n_dyads, example.n_days, example.likert
        self.coords = {k: np.asarray(c) for k, c in example.coords.items()}
        self._shapes = {k: np.shape(x) for k, x in example.data_arrays(self.variant.residuals).items()}
        self.data_names = tuple(self._shapes)
        start = self.model.initial_point()
        self.value_vars = tuple(ValueVar(v.name, tuple(np.shape(start[v.name]))) for v in self.model.value_vars)
        self._start = {k: np.asarray(x, dtype=float) for k, x in start.items()}
        # person-level variables have no transform: their value variables carry the RV's name
        self._jittered = {rv.name for rv in jittered_rvs(self.model)}
        v = self.variant
        self.param_names = (*v.param_names, *v.person_param_names, *v.correlation_names)
        logp = _jaxify(self.model, [self.model.logp()], self.data_names)
        outs = self.model.replace_rvs_by_values([self.model[n] for n in self.param_names])
        params = _jaxify(self.model, outs, self.data_names)
        names = [v.name for v in self.value_vars]
        self._logp = lambda pos, data: logp(*(pos[n] for n in names), *(data[k] for k in self.data_names))[0]
        self._params = lambda pos, data: params(*(pos[n] for n in names), *(data[k] for k in self.data_names))

    def data(self, inp: ModelInputs) -> dict[str, np.ndarray]:
        """The data arrays of one dataset (numpy; stack several with :func:`stack_data`)."""
        if inp.design_key != self.design_key:
            raise DataError(f"dataset design {inp.design_key} differs from the model's design {self.design_key}")
        arrays = inp.data_arrays(self.variant.residuals)
        if set(arrays) != set(self._shapes):
            raise DataError(f"dataset has data {sorted(arrays)}, the model was built for {sorted(self._shapes)}")
        for k, x in arrays.items():
            if np.shape(x) != self._shapes[k]:
                raise DataError(
                    f"{k} has shape {np.shape(x)}, the model's design has {self._shapes[k]}: datasets of one "
                    "JAX model must observe the same number of cells (e.g. no missing ratings)"
                )
        return arrays

    def constrain(self, position: Mapping[str, jax.Array], data: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        """Parameters on their own scale: population values and person-level values ``(dyad, person)``."""
        return dict(zip(self.param_names, self._params(position, data), strict=True))

    def unconstrain(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Position at given parameter values (population and person level, e.g. a simulation's truth)."""
        from asem_bayes.model import point_from_params

        return point_from_params(self.model, self.variant, params)

    def initial_position(self, key: jax.Array, jitter: float = 1.0) -> dict[str, jax.Array]:
        """The package's start (:mod:`asem_bayes.start`): the model's initial point plus
        Uniform(-jitter, jitter) on the person-level variables and Uniform(-0.1, 0.1) on the others."""
        keys = jax.random.split(key, len(self.value_vars))
        return {
            v.name: self._start[v.name] + jax.random.uniform(k, v.shape, minval=-1.0, maxval=1.0) * (
                jitter if v.name in self._jittered else POPULATION_JITTER
            )
            for k, v in zip(keys, self.value_vars, strict=True)
        }

    def logdensity(self, position: Mapping[str, jax.Array], data: Mapping[str, jax.Array]) -> jax.Array:
        """Log posterior density (up to the evidence) at an unconstrained position, Jacobians included."""
        return self._logp(position, data)


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

    pop = [p.name for p in model.variant.params]
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
            p = model.constrain(unravel(state.position), data)
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
        kept = jax.vmap(lambda x: model.constrain(unravel(x), data))(kept[:n_keep])
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
        "pop_names": [p.name for p in model.variant.params],
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
