"""Sampling coordinates (asem_bayes.coords) leave the posterior exactly as the schema defines it.

The sheared (and folded) model's log density at a point must equal the schema-coordinate model's log density
at the mapped point plus the log-Jacobian of the map, which is computed here by autodiff, not by
the module's formula. A control drops the Jacobian and must fail.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytensor.tensor as pt
import pytest
from pymc.model.transform.optimization import freeze_dims_and_data
from pymc.sampling.jax import get_jaxified_graph

import asem_bayes as ab
from asem_bayes import coords
from asem_bayes.model import build_model, point_from_params, resolve_variant

# JAX: compiles these small graphs in seconds, where numba or the C linker (cold cache) take
# minutes; the day loop is the scan of dynamics.step, which the JAX linker knows
_MODE = "JAX"

VARIANTS = ["stable", "uniform", "asem", "buffer_enhances", "asem_fatigue"]


@functools.cache
def _pair(variant: str, person_correlation: tuple[str, ...] = ()):
    """The sheared and the schema-coordinate model of a small study (with correlated person-level
    effects when ``person_correlation`` names them, docs/model.md section 18)."""
    study = ab.simulate(variant, n_dyads=3, n_days=8, seed=4, person_correlation=person_correlation)
    opts = {"trajectories": False, "kernel": "scan", "person_correlation": person_correlation}
    built = build_model(study, variant, **opts)
    # JAX traces shapes statically: dims and data become constants (same value variables)
    sheared = freeze_dims_and_data(built)
    schema = freeze_dims_and_data(build_model(study, variant, reparam=False, **opts))
    v = resolve_variant(variant, person_correlation=person_correlation)
    names = [*v.param_names, *v.person_param_names, *(f"{pp.name}_z" for pp in v.person_params)]
    names += v.correlation_names
    ins = sheared.value_vars
    # the schema model's value variables as functions of the sheared model's
    by_name = {vv.name: vv for vv in ins}
    outs = []
    for vv in schema.value_vars:
        if vv.name in by_name:
            outs.append(by_name[vv.name])
        else:  # a sheared parameter: its schema coordinate (log for the LogNormal loadings)
            rv = sheared[vv.name.removesuffix("_log__")]
            x = sheared.replace_rvs_by_values([rv])[0]
            outs.append(pt.log(x) if vv.name.endswith("_log__") else x)
    flat_out = pt.concatenate([o.ravel() for o in outs])
    f = sheared.compile_fn(
        [sheared.logp(), *sheared.replace_rvs_by_values([sheared[n] for n in names])],
        inputs=ins,
        on_unused_input="ignore",
        mode=_MODE,
    )
    # The Jacobian of that map: JAX's forward-mode autodiff of the same PyTensor graph, after the
    # JAX mode's rewrites (they fold the constant size of an LKJ factor, which JAX needs static)
    jfn = get_jaxified_graph(inputs=ins, outputs=[flat_out])
    start = sheared.initial_point()
    shapes = [np.shape(start[vv.name]) for vv in ins]
    cuts = np.cumsum([int(np.prod(sh)) for sh in shapes])[:-1]

    def flat_map(u):
        return jfn(*(x.reshape(sh) for x, sh in zip(jnp.split(u, cuts), shapes, strict=True)))[0]

    jac_at = jax.jit(jax.jacfwd(flat_map))

    def logp_and_jac(point):
        lp, *vals = f(point)
        return lp, np.asarray(jac_at(np.concatenate([np.ravel(point[vv.name]) for vv in ins]))), vals

    return study, v, built, schema, names, logp_and_jac, schema.compile_logp(mode=_MODE)


def _points(model, n: int, seed: int):
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    return [{k: x + rng.normal(0.0, 0.5, np.shape(x)) for k, x in ip.items()} for _ in range(n)]


# asem (biases) and uniform (a rate shared by both models) in the default suite; each variant
# costs 17-32 s of JAX tracing and compiling on 2 cores
_DEFAULT = ("asem", "uniform")


@pytest.mark.parametrize("variant", [v if v in _DEFAULT else pytest.param(v, marks=pytest.mark.slow) for v in VARIANTS])
def test_sheared_density_is_the_schema_density(variant):
    _check_identity(variant)


@pytest.mark.slow  # another 20-30 s of JAX tracing and compiling
def test_sheared_density_is_the_schema_density_with_correlated_effects():
    """Correlated person-level effects (docs/model.md section 18), among them one with a folded
    spread: the two models share the correlated effects' variables, which map by name where the
    folded spread's ``y`` is positive (elsewhere the mirror point, tests/test_person_correlation.py)."""
    _check_identity("asem", ("s0", "o0", "theta_pos_s"))


def _check_identity(variant: str, person_correlation: tuple[str, ...] = ()) -> None:
    study, v, sheared, schema, names, f, schema_logp = _pair(variant, person_correlation)
    plan = coords.plan(variant)
    correlated = {name + coords.RAW_Z for _, name in plan.folded if name in person_correlation}
    assert set(plan.sampler_only_names()) - correlated <= {vv.name for vv in sheared.value_vars}
    assert bool(plan.folded) == ab.get_variant(variant).changes  # the learning-rate spreads
    positive = {sd + coords.SIGNED for sd, name in plan.folded if name in person_correlation}
    rows = []
    for u in _points(sheared, 5, seed=1):
        u = {k: np.abs(x) if k in positive else x for k, x in u.items()}
        lp, J, vals = f(u)
        params = dict(zip(names, vals, strict=True))
        theirs = schema_logp(point_from_params(schema, variant, params))
        sign, logdet = np.linalg.slogdet(J)
        assert sign != 0
        rows.append((lp, theirs, logdet))
    lp, theirs, logdet = map(np.array, zip(*rows, strict=True))
    assert np.ptp(lp) > 1.0  # the points differ, so the identity says something
    # A folded spread's y ~ Normal(0, sigma) has half the density of |y| ~ HalfNormal(sigma):
    # log 2 per folded spread; PyMC also evaluates some prior constants in float32
    # (tests/test_jax_vmap.py), a constant <= 1e-6.
    offset = lp - (theirs + logdet) + len(plan.folded) * np.log(2.0)
    assert abs(offset[0]) < 1e-5, offset
    np.testing.assert_allclose(offset, offset[0], rtol=0, atol=1e-8)
    if plan.biases:  # control: without the Jacobian (it varies with the spread S) it must fail
        assert np.ptp(lp - theirs) > 1e-3


@pytest.mark.parametrize("variant", ["asem", "uniform"])
def test_point_from_params_round_trips(variant):
    study, v, sheared, schema, names, f, _ = _pair(variant)
    truth = ab.true_params(study)
    _, _, vals = f(point_from_params(sheared, variant, truth))
    for name, x in zip(names, vals, strict=True):
        if name.endswith("_z"):
            continue
        np.testing.assert_allclose(x, truth[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_plans_read_the_variants_rate_structure():
    asem = coords.plan("asem")
    assert {b.psi: b.slots for b in asem.biases} == {
        "psi_pos_s": (0,),
        "psi_neg_s": (1,),
        "psi_pos_o": (2,),
        "psi_neg_o": (3,),
    }
    uniform = coords.plan("uniform")
    assert not uniform.biases
    assert {r.theta_mu: r.slots for r in uniform.rates} == {"theta_pos_mu": (0, 2), "theta_neg_mu": (1, 3)}
    stable = coords.plan("stable")
    assert not stable.rates and {n for n, _ in stable.loadings} == {"k_A", "l_A", "k_V", "l_V"}
