"""Where chains start (asem_bayes.start): population parameters at the priors' centre, person effects jittered."""

from __future__ import annotations

import numpy as np
import pytest
from pymc.initial_point import make_initial_point_fn

from asem_bayes.start import POPULATION_JITTER, initial_point_fn, jittered_rvs

SEEDS = range(40)


def _support_point(model, transformed: bool = True) -> dict[str, np.ndarray]:
    return make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=transformed)(0)


def _split(model) -> tuple[set[str], set[str]]:
    person = {rv.name for rv in jittered_rvs(model)}
    return person, {v.name for v in model.value_vars} - person


def test_person_effects_are_the_jittered_variables(compiled_asem):
    person, population = _split(compiled_asem.model)
    assert {"s0_z", "o0_z", "c_A_z", "theta_pos_s_zraw"} <= person
    assert {"s0_mu", "psi_pos_s_sc", "theta_pos_s_sd_signed"} <= population
    assert not any(n.endswith(("_z", "_zraw")) for n in population)


def test_population_starts_at_the_centre_and_persons_apart(compiled_asem):
    model = compiled_asem.model
    person, population = _split(model)
    centre = _support_point(model)
    fn = initial_point_fn(model)
    starts = [fn(s) for s in SEEDS]
    for name in population:
        dev = np.array([np.abs(p[name] - centre[name]).max() for p in starts])
        assert dev.max() <= POPULATION_JITTER, name
        assert dev.max() > 0, name  # jittered: nutpie refuses an exactly zero gradient component
    for name in person:
        values = np.stack([p[name] for p in starts])
        assert np.abs(values - centre[name]).max() <= 1.0
        assert values.std(axis=0).min() > 0.3, name  # U(-1, 1) has sd 0.58
    # the same seed gives the same start
    assert all(np.array_equal(fn(3)[k], fn(3)[k]) for k in centre)


def test_default_jitter_reaches_the_tails_the_package_start_avoids(compiled_asem):
    """The control: jittering every variable (nutpie's default) starts a learning rate's spread at
    up to 1, more than 3 prior scales (half-normal, 0.3), in some of 40 chains; the package never."""
    model = compiled_asem.model
    everything = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
    ours = initial_point_fn(model)
    name = "theta_pos_s_sd_signed"
    assert max(abs(float(everything(s)[name])) for s in SEEDS) > 0.9
    assert max(abs(float(ours(s)[name])) for s in SEEDS) <= POPULATION_JITTER


def test_constrained_start_for_pymc_is_the_support_point(compiled_asem):
    model = compiled_asem.model
    person, _ = _split(model)
    centre = _support_point(model, transformed=False)
    start = initial_point_fn(model, transformed=False)(5)
    assert set(start) == set(centre)
    for name, value in start.items():
        if name in person:
            assert not np.array_equal(value, centre[name])
        else:
            np.testing.assert_array_equal(value, centre[name], err_msg=name)


def test_nutpie_compiled_model_starts_by_the_rule(compiled_asem):
    compiled = compiled_asem._compiled
    names, _, shapes = compiled.shape_info
    person, _ = _split(compiled_asem.model)
    centre = _support_point(compiled_asem.model)
    flat = compiled.initial_point_func(7)
    offset = 0
    for name, shape in zip(names[: len(compiled_asem.model.free_RVs)], shapes, strict=False):
        size = int(np.prod(shape))
        part = flat[offset : offset + size]
        width = 1.0 if name in person else POPULATION_JITTER
        assert np.abs(part - np.ravel(centre[name])).max() <= width, name
        offset += size


def test_jax_path_starts_by_the_rule(small_study):
    jax = pytest.importorskip("jax")
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.jax_model import JaxModel

    jm = JaxModel(prepare_inputs(small_study), "asem")
    person, _ = _split(jm.model)
    pos = jm.initial_position(jax.random.PRNGKey(0))
    centre = _support_point(jm.model)
    for name, value in pos.items():
        dev = np.abs(np.asarray(value) - centre[name]).max()
        assert dev <= (1.0 if name in person else POPULATION_JITTER), name


@pytest.mark.parametrize("blas_threads", [1, None])
def test_fit_limits_blas_threads_while_sampling(compiled_asem, small_study, monkeypatch, blas_threads):
    """Chains run in parallel threads; BLAS threads (which spin) would compete with them."""
    import nutpie
    from threadpoolctl import threadpool_info

    seen = []
    real = nutpie.sample

    def recording(*args, **kwargs):
        seen.append([d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"])
        return real(*args, **kwargs)

    monkeypatch.setattr(nutpie, "sample", recording)
    outside = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    if not outside:
        pytest.skip("no BLAS library loaded")
    compiled_asem.fit(small_study, draws=10, tune=10, chains=2, seed=1, loo_unit=None, blas_threads=blas_threads)
    assert seen == [[1] * len(outside)] if blas_threads == 1 else seen == [outside]
    assert [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"] == outside  # restored
