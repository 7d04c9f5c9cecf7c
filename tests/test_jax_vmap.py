"""The JAX path (issue 7): its log density equals the PyMC model's, and a vectorised SBC run works.

Sizes are tiny (4 dyads x 7 days) so the suite runs on a CPU; the calibration figure itself comes
from ``benchmarks/sbc_gpu.py`` on an accelerator.

PyMC stores the priors' parameters as float32 constants where that is exact (0.5, 2.0, ...) and
then evaluates some normalising constants in float32 (``betaln(2, 6)`` is off by 2e-7), so its
log density differs from the exact one by a constant of order 1e-7. The tests therefore compare
log-density *differences* between points to 1e-8 (the constant cancels), bound the constant by
1e-6, and compare gradients directly.

The comparison is with the PyMC model in the schema's own coordinates (``reparam=False`` where
:func:`asem_bayes.model.build_model` offers sampling coordinates other than the schema's).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("jax")
pytest.importorskip("blackjax")

from asem_bayes import jax_model as J  # noqa: E402
from asem_bayes.inputs import prepare_inputs  # noqa: E402
from asem_bayes.model import build_model  # noqa: E402
from asem_bayes.simulate import Design, simulate  # noqa: E402

J.enable_x64()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

CASES = {
    # variant, mode, design, tolerance of the log-density differences
    "asem-conditional-missing": ("asem", "conditional", Design(missing_items=0.2), 1e-8),
    "asem_fatigue-joint": ("asem_fatigue", "joint", Design(missing_days=0.1), 1e-8),
    # Likert: differences of logistic CDFs in far-off categories cancel; PyMC rounds them otherwise
    "asem-likert": ("asem", "conditional", Design(likert=7), 1e-6),
    "stable-conditional": ("stable", "conditional", Design(), 1e-8),
}
# PyMC compiles take 10-20 s on a loaded 2-core machine: the default suite checks the main case
SLOW_CASES = ("asem_fatigue-joint", "asem-likert", "stable-conditional")


@functools.cache
def _models(case: str):
    variant, mode, design, _ = CASES[case]
    study = simulate(variant, n_dyads=4, n_days=7, seed=5, design=design)
    missing = "absent" if design.missing_days else "error"
    inp = prepare_inputs(study, joint=mode == "joint", missing_events=missing)
    kw = {"reparam": False} if "reparam" in inspect.signature(build_model).parameters else {}
    pm_model = build_model(inp, variant, mode=mode, trajectories=False, kernel="scan", **kw)
    jm = J.JaxModel(inp, variant, mode)
    return study, inp, pm_model, jm


_LOGP: dict[int, object] = {}


def _logp(pm_model):
    """The PyMC model's compiled log density (Jacobians included), compiled once per model."""
    if id(pm_model) not in _LOGP:
        _LOGP[id(pm_model)] = pm_model.compile_logp(jacobian=True)
    return _LOGP[id(pm_model)]


def _points(jm: J.JaxModel, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {v.name: rng.normal(0.0, 0.6, (jm.n_dyads, 2) if v.person else ()) for v in jm.value_vars} for _ in range(n)
    ]


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c for c in CASES])
def test_logdensity_equals_pymc(case):
    _, inp, pm_model, jm = _models(case)
    assert {v.name for v in jm.value_vars} == {v.name for v in pm_model.value_vars}
    logp = _logp(pm_model)
    data = {k: jnp.asarray(x) for k, x in jm.data(inp).items()}
    f = jax.jit(jm.logdensity)
    pts = _points(jm, 4)
    ours = np.array([float(f(p, data)) for p in pts])
    theirs = np.array([float(logp(p)) for p in pts])
    offset = ours - theirs
    assert np.all(np.isfinite(ours)) and np.ptp(ours) > 10.0  # the points differ, so this tests something
    assert abs(offset[0]) < 1e-6, offset  # PyMC's float32 prior constants (module docstring)
    np.testing.assert_allclose(offset, offset[0], rtol=0, atol=CASES[case][3])


def test_gradient_matches_pymc_directional_derivative():
    """JAX's gradient against central differences of PyMC's log density along random directions."""
    _, inp, pm_model, jm = _models("asem-conditional-missing")
    logp = _logp(pm_model)
    data = {k: jnp.asarray(x) for k, x in jm.data(inp).items()}
    g = jax.jit(jax.grad(jm.logdensity))
    rng = np.random.default_rng(4)
    h = 1e-5
    for p in _points(jm, 2, seed=1):
        d = {k: rng.normal(size=np.shape(x)) for k, x in p.items()}
        ours = sum(float(np.sum(np.asarray(gv) * d[k])) for k, gv in g(p, data).items())
        up = float(logp({k: p[k] + h * d[k] for k in p}))
        down = float(logp({k: p[k] - h * d[k] for k in p}))
        assert abs(ours - (up - down) / (2 * h)) < 1e-5 * max(1.0, abs(ours))


@pytest.mark.slow  # PyTensor compiles the scan's gradient in C: minutes on a loaded 2-core machine
def test_gradient_equals_pymc():
    _, inp, pm_model, jm = _models("asem-conditional-missing")
    dlogp = pm_model.compile_dlogp(jacobian=True)
    data = {k: jnp.asarray(x) for k, x in jm.data(inp).items()}
    g = jax.jit(jax.grad(jm.logdensity))
    for p in _points(jm, 2, seed=1):
        theirs = np.asarray(dlogp(p))
        ours_tree = g(p, data)
        # PyMC's gradient is raveled in the order of the model's value variables
        ours = np.concatenate([np.asarray(ours_tree[v.name]).reshape(-1) for v in pm_model.value_vars])
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


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
    q = dict(p, k_A_log__=p["k_A_log__"] + 0.3)
    assert abs((float(jm.logdensity(q, jm.data(inp))) - float(logp(q))) - base) < 1e-8
    assert abs(float(jm.logdensity(q, jm.data(inp))) - float(jm.logdensity(p, jm.data(inp)))) > 1e-3


def test_truth_round_trip_and_missing_ratings_masked():
    study, inp, _, jm = _models("asem-conditional-missing")
    from asem_bayes.simulate import true_params

    truth = true_params(study)
    pos = jm.unconstrain(truth)
    back = jm.constrain({k: jnp.asarray(v) for k, v in pos.items()})
    for name in ("k_A", "e_safe", "s0_sd", "s0", "theta_pos_s", "c_A"):
        np.testing.assert_allclose(np.asarray(back[name]), np.asarray(truth[name]), rtol=1e-10)
    arrays = jm.data(inp)
    n_obs = int(np.isfinite(study["state_anxiety"].values).sum())
    assert arrays["m_state_anxiety"].sum() == n_obs < study["state_anxiety"].size
    # a masked cell's value does not matter
    hidden = np.flatnonzero(arrays["m_state_anxiety"] == 0)[0]
    moved = dict(arrays, y_state_anxiety=arrays["y_state_anxiety"].copy())
    moved["y_state_anxiety"][hidden] = 100.0
    assert float(jm.logdensity(pos, moved)) == float(jm.logdensity(pos, arrays))


def test_design_mismatch_is_refused():
    _, _, _, jm = _models("asem-conditional-missing")
    other = prepare_inputs(simulate("asem", n_dyads=5, n_days=7, seed=1))
    with pytest.raises(ValueError, match="design"):
        jm.data(other)


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
