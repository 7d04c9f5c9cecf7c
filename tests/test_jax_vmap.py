"""The JAX path: its log density and gradient are the PyMC model's, and a vectorised SBC run works.

The JAX density is compiled from the PyMC graph (:mod:`asem_bayes.jax_model`), in the same
sampling coordinates as nutpie; what is written twice is the compiled day loop (numba kernel with a
hand-written adjoint for nutpie and PyMC, a JAX ``scan`` differentiated by JAX here), so every
variant's density and gradient are compared at random points. Sizes are tiny (4 dyads x 7 days)
so the suite runs on a CPU.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("jax")
pytest.importorskip("blackjax")

from asem_bayes import jax_model as J  # noqa: E402
from asem_bayes.inputs import prepare_inputs  # noqa: E402
from asem_bayes.person_correlation import with_person_correlation  # noqa: E402
from asem_bayes.registry import get_variant  # noqa: E402
from asem_bayes.residuals import with_residuals  # noqa: E402
from asem_bayes.simulate import Design, simulate  # noqa: E402

J.enable_x64()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

CASES = {
    # variant, mode, design
    "asem-conditional-missing": ("asem", "conditional", Design(missing_items=0.2)),
    "asem_fatigue-joint": ("asem_fatigue", "joint", Design(missing_days=0.1)),
    "asem-likert": ("asem", "conditional", Design(likert=7)),
    "stable-conditional": ("stable", "conditional", Design()),
    "uniform-conditional": ("uniform", "conditional", Design()),
    "buffer_enhances-joint": ("buffer_enhances", "joint", Design()),
    # the residual options (docs/model.md section 17): links to the earlier observation as data
    "asem-ar1": (with_residuals(get_variant("asem"), ("ar1",)), "conditional", Design(missing_items=0.2)),
    "asem-partner": (with_residuals(get_variant("asem"), ("partner",)), "conditional", Design(missing_items=0.2)),
    # correlated person-level effects (docs/model.md section 18), a folded spread among them
    "asem-person-correlation": (
        with_person_correlation(get_variant("asem"), ("s0", "o0", "theta_pos_s")),
        "conditional",
        Design(),
    ),
}


@functools.cache
def _models(case: str):
    variant, mode, design = CASES[case]
    study = simulate(variant, n_dyads=4, n_days=7, seed=5, design=design)
    missing = "absent" if design.missing_days else "error"
    inp = prepare_inputs(study, joint=mode == "joint", missing_events=missing)
    jm = J.JaxModel(inp, variant, mode)
    return study, inp, jm.model, jm


_LOGP: dict[int, object] = {}


def _logp_dlogp(pm_model):
    """The PyMC model's log density and gradient (Jacobians included), compiled once per model.

    One function for both (one numba compile, the suite's main cost here, instead of two)."""
    if id(pm_model) not in _LOGP:
        fn = pm_model.compile_fn([pm_model.logp(jacobian=True), pm_model.dlogp(jacobian=True)])
        _LOGP[id(pm_model)] = fn
    return _LOGP[id(pm_model)]


def _logp(pm_model):
    """The PyMC model's log density at a point."""
    return lambda p: _logp_dlogp(pm_model)(p)[0]


def _points(jm: J.JaxModel, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Random positions around the model's start (the sheared coordinates live far from 0)."""
    rng = np.random.default_rng(seed)
    return [
        {v.name: jm.initial_position(jax.random.key(seed * 100 + i))[v.name] for v in jm.value_vars}
        | {
            v.name: np.asarray(jm.initial_position(jax.random.key(0))[v.name]) + rng.normal(0.0, 0.3, v.shape)
            for v in jm.value_vars
        }
        for i in range(n)
    ]


# The default suite checks three cases (continuous ratings with missing cells, Likert ratings,
# a variant without change); `make test-slow` adds the other variants, the joint mode,
# the residual options and the correlated person-level effects.
SLOW_CASES = {
    "asem_fatigue-joint", "buffer_enhances-joint", "uniform-conditional", "asem-person-correlation", "asem-ar1",
    "asem-partner",
}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c for c in CASES]
)
def test_logdensity_and_gradient_equal_pymc(case):
    """The JAX density and gradient (JAX's autodiff through its day loop) equal the PyMC model's
    (numba kernel and hand-written adjoint) at random points, for every variant and mode."""
    _, inp, pm_model, jm = _models(case)
    logp, dlogp = _logp(pm_model), (lambda p: _logp_dlogp(pm_model)(p)[1])
    data = {k: jnp.asarray(x) for k, x in jm.data(inp).items()}
    f, g = jax.jit(jm.logdensity), jax.jit(jax.grad(jm.logdensity))
    pts = _points(jm, 3)
    ours = np.array([float(f(p, data)) for p in pts])
    theirs = np.array([float(logp(p)) for p in pts])
    assert np.all(np.isfinite(ours)) and np.ptp(ours) > 1.0  # the points differ, so this tests something
    np.testing.assert_allclose(ours, theirs, rtol=1e-11)
    for p in pts:
        grad = g(p, data)  # PyMC's gradient is raveled in the order of the model's value variables
        flat = np.concatenate([np.asarray(grad[v.name]).reshape(-1) for v in pm_model.value_vars])
        np.testing.assert_allclose(flat, dlogp(p), rtol=1e-9, atol=1e-9)


def test_perturbations_are_seen():
    """Controls: a changed rating or a changed parameter moves the JAX density like PyMC's."""
    study, inp, pm_model, jm = _models("asem-conditional-missing")
    logp = _logp(pm_model)
    (p,) = _points(jm, 1, seed=2)
    base = float(jm.logdensity(p, jm.data(inp))) - float(logp(p))
    # a different dataset (one rating moved) no longer matches the PyMC model built on the original
    bumped = study.copy(deep=True)  # (the cached study itself stays untouched)
    first = np.argwhere(np.isfinite(bumped["state_anxiety"].values))[0]
    bumped["state_anxiety"].values[tuple(first)] += 0.5
    other = float(jm.logdensity(p, jm.data(prepare_inputs(bumped)))) - float(logp(p))
    assert abs(other - base) > 1e-3
    # a changed parameter changes both densities by the same amount
    q = dict(p, s0_mu=p["s0_mu"] + 0.3)
    assert abs((float(jm.logdensity(q, jm.data(inp))) - float(logp(q))) - base) < 1e-8
    assert abs(float(jm.logdensity(q, jm.data(inp))) - float(jm.logdensity(p, jm.data(inp)))) > 1e-3


def test_truth_round_trip():
    study, inp, _, jm = _models("asem-conditional-missing")
    from asem_bayes.simulate import true_params

    truth = true_params(study)
    pos = jm.unconstrain(truth)
    data = {k: jnp.asarray(x) for k, x in jm.data(inp).items()}
    back = jm.constrain({k: jnp.asarray(v) for k, v in pos.items()}, data)
    for name in ("k_A", "e_safe", "s0_sd", "s0", "theta_pos_s", "c_A", "psi_neg_s"):
        np.testing.assert_allclose(np.asarray(back[name]), np.asarray(truth[name]), rtol=1e-9)


def test_design_mismatch_is_refused():
    study, _, _, jm = _models("asem-conditional-missing")
    other = prepare_inputs(simulate("asem", n_dyads=5, n_days=7, seed=1))
    with pytest.raises(ValueError, match="design"):
        jm.data(other)
    fewer = study.copy(deep=True)  # the same design, one more rating missing: another shape
    first = np.argwhere(np.isfinite(fewer["state_anxiety"].values))[0]
    fewer["state_anxiety"].values[tuple(first)] = np.nan
    with pytest.raises(ValueError, match="idx_state_anxiety"):
        jm.data(prepare_inputs(fewer))


@pytest.mark.slow  # several minutes of compiling and fitting: `make test-slow`
def test_sbc_smoke_resume_and_load(tmp_path):
    """Tiny vectorised SBC: ranks of the right shape and range, a batch padded to full size,
    checkpointed per simulation, resumed, and loaded by ``load_sbc`` into the same result."""
    from asem_bayes.sbc import AsemGenerator, JaxVmapBackend, load_sbc, run_sbc

    gen = AsemGenerator("asem", n_dyads=4, n_days=7)
    backend = JaxVmapBackend("asem", draws=40, tune=80, chains=2, thin=4, batch_size=2, target_accept=0.9)
    out = tmp_path / "run"
    res = run_sbc(gen, backend, 3, out, seed=3, workers=0, progress=False)
    assert res.failed == {}
    assert res.n_sims == 3 and res.n_ranks == backend.n_ranks == 20
    names = list(res.ranks["quantity"].values)
    assert {"s0_mu", "k_A", "sigma_A", "loglik", "self_change", "others_change"} <= set(names)
    assert "a0" not in names  # event-model parameters are not ranked in the conditional mode
    r = res.ranks.values
    assert r.shape == (3, len(names)) and np.all((r >= 0) & (r <= 20)) and len(np.unique(r)) > 3
    for key in ("divergences", "max_rhat", "min_ess_bulk", "fit_seconds", "compile_seconds"):
        assert key in res.diagnostics
    assert np.all(res.diagnostics["max_rhat"].values < 2.0)
    tree = xr.open_datatree(out / "fits" / "sim_00002.nc")
    post = tree["posterior"]
    assert post["s0"].dims == ("chain", "draw", "dyad", "person") and post.sizes["draw"] == 10
    # resume: asking for one more simulation fits only that one; ranks of the others are unchanged
    res4 = run_sbc(gen, backend, 4, out, seed=3, workers=0, progress=False)
    assert res4.fitted_now == 1 and res4.n_sims == 4
    np.testing.assert_array_equal(res4.ranks.values[:3], r)
    again = load_sbc(out)
    np.testing.assert_array_equal(again.ranks.values, res4.ranks.values)
    assert again.config["backend"]["class"] == "JaxVmapBackend"


@pytest.mark.slow  # compiles the JAX sampler for two variants
def test_model_recovery_with_jax_backend_runs_and_resumes(tmp_path):
    from asem_bayes.recovery import run_model_recovery

    kw = dict(
        variants=("stable", "asem"),
        reps=2,
        n_dyads=4,
        n_days=7,
        draws=40,
        tune=60,
        chains=2,
        workers=0,
        progress=False,
        backend="jax-vmap",
        batch_size=2,
    )
    res = run_model_recovery(tmp_path / "mr", **kw)
    assert res.failed == {} and len(res.loo) == 8 and res.fitted_now == 8
    assert set(res.loo["candidate"]) == {"stable", "asem"} and res.loo["elpd"].notna().all()
    assert not res.coverage().empty
    again = run_model_recovery(tmp_path / "mr", **kw)
    assert again.fitted_now == 0


@dataclasses.dataclass(frozen=True)
class _EventGapGenerator:
    """An ``asem`` generator whose studies lack one event report (the backend's default
    missing-event policy refuses them)."""

    def generate(self, seed: int):
        from asem_bayes.sbc import AsemGenerator

        truth, data = AsemGenerator("asem", n_dyads=4, n_days=7).generate(seed)
        gap = data["confidence"].copy(deep=True)
        gap.values[0, 0, 3] = np.nan
        data["confidence"] = gap
        return truth, data

    def spec(self) -> dict:
        return {"class": "_EventGapGenerator"}


def test_failed_batch_is_recorded_for_each_simulation(tmp_path):
    from asem_bayes.sbc import JaxVmapBackend, run_sbc

    backend = JaxVmapBackend("asem", draws=10, tune=10, thin=1, batch_size=2)
    res = run_sbc(_EventGapGenerator(), backend, 3, tmp_path / "bad", workers=0, progress=False)
    assert sorted(res.failed) == [0, 1, 2] and res.n_sims == 0
    assert all("DataError" in msg and "confidence" in msg for msg in res.failed.values())


def test_jax_tracing_note_is_dropped_from_errors():
    from asem_bayes.sbc.jax_backend import without_jax_note

    def bad(x):
        raise TypeError("boom")

    with pytest.raises(TypeError) as info:
        jax.jit(bad)(1.0)
    err = without_jax_note(info.value)
    assert not any("JAX has removed" in n for n in getattr(err, "__notes__", []))
