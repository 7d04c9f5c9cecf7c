"""The PyMC models against the simulator: log density, trajectories, log-likelihood, errors.

No sampling here: these checks are cheap and catch a likelihood that drifted from the simulator.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

import asem_bayes as ab
from asem_bayes import dims as D
from asem_bayes.inputs import DataError, prepare_inputs
from asem_bayes.model import build_model, point_from_params

VARIANTS = ["stable", "uniform", "asem", "buffer_enhances", "asem_fatigue"]


def _perturbed(variant: str, truth: dict) -> dict:
    """Clearly wrong parameters: learning 5x faster, biases flipped, loadings halved, noise doubled."""
    bad = dict(truth)
    v = ab.get_variant(variant)
    for p in v.params:
        if p.name.startswith("theta_") and p.name.endswith("_mu"):
            bad[p.name] = truth[p.name] + 1.6
        if p.name.startswith("psi_"):
            bad[p.name] = -truth[p.name]
    for pp in v.person_params:
        if pp.name.startswith("theta_"):
            bad[pp.name] = truth[pp.name] + 1.6
    for k in ("k_A", "k_V", "l_A", "l_V"):
        bad[k] = truth[k] * 0.5
    for k in ("sigma_A", "sigma_V"):
        bad[k] = truth[k] * 2.0
    return bad


@pytest.fixture(scope="module", params=VARIANTS)
def variant_case(request):
    """One study per variant and ONE compiled function giving the model's log density, its
    observed part and its trajectories at a point (compiling dominates these tests)."""
    variant = request.param
    study = ab.simulate(variant, n_dyads=15, n_days=28, seed=5)
    model = build_model(study, variant)
    outs = [model.logp(), model.logp(vars=model.observed_RVs), model["self_model"], model["others_model"]]
    fn = model.compile_fn(model.replace_rvs_by_values(outs), inputs=model.value_vars, on_unused_input="ignore")
    return variant, study, model, fn


def test_logp_at_truth_beats_perturbed(variant_case):
    variant, study, model, fn = variant_case
    truth = ab.true_params(study)
    at_truth = fn(point_from_params(model, variant, truth))[0]
    at_bad = fn(point_from_params(model, variant, _perturbed(variant, truth)))[0]
    assert np.isfinite(at_truth)
    # "Clearly": the data are ~1,700 ratings; a wrong model should lose by far more than noise.
    assert at_truth - at_bad > 50, (variant, at_truth, at_bad)


def test_model_trajectories_equal_simulator(variant_case):
    variant, study, model, fn = variant_case
    _, _, S, O = fn(point_from_params(model, variant, ab.true_params(study)))
    np.testing.assert_allclose(S, study["self_model"].values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(O, study["others_model"].values, rtol=0, atol=1e-10)


def test_numpy_loglik_equals_pymc(variant_case):
    """The numpy log-likelihood behind log_lik/LOO equals PyMC's observed log density."""
    import xarray as xr

    from asem_bayes.model import check_mode, log_likelihood

    variant, study, model, fn = variant_case
    v = ab.get_variant(variant)
    mode = check_mode(v, None)
    truth = ab.true_params(study)
    expected = float(fn(point_from_params(model, variant, truth))[1])
    post = xr.Dataset(
        {
            k: (("chain", "draw", *((D.DYAD, D.PERSON) if np.ndim(x) == 2 else ())), np.asarray(x)[None, None])
            for k, x in truth.items()
        }
    )
    inp = prepare_inputs(study, joint=mode == "joint")
    got = float(log_likelihood(post, inp, v, mode, unit="dyad")["log_lik"].sum())
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_likert_model_logp_prefers_truth():
    study = ab.simulate("asem", 15, 28, design=ab.Design(likert=7), seed=8)
    model = build_model(study, "asem")
    truth = ab.true_params(study)
    logp = model.compile_logp()
    assert (
        logp(point_from_params(model, "asem", truth))
        - logp(point_from_params(model, "asem", _perturbed("asem", truth)))
        > 50
    )


def test_missing_ratings_drop_out_and_missing_events_need_a_policy():
    study = ab.simulate("asem", 6, 14, design=ab.Design(missing_days=0.2, missing_items=0.1), seed=3)
    with pytest.raises(DataError, match="missing_events"):
        prepare_inputs(study)
    inp = prepare_inputs(study, missing_events="absent")
    n_obs = int(np.isfinite(study["state_anxiety"].values).sum())
    assert len(inp.obs["state_anxiety"][1]) == n_obs
    # missed days still advance the states: the events arrays keep every day
    assert inp.events["threat"].shape == (14, 6, 2)
    rate = prepare_inputs(study, missing_events="person_rate").events["confidence"]
    assert np.all((rate >= 0) & (rate <= 1))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ds: ds.drop_vars("threat"), "threat"),
        (lambda ds: ds.rename({"person": "partner"}), "person"),
        (lambda ds: ds.isel(person=[0]), "size 2"),
        (lambda ds: ds.assign(safe=ds["safe"] * 3), "safe"),
        (
            lambda ds: ds.assign(
                state_anxiety=ds["state_anxiety"].transpose("day", "dyad", "person").rename(day="days")
            ),
            "state_anxiety",
        ),
        (
            lambda ds: ds.drop_vars(["state_anxiety", "state_avoidance", "trait_anxiety", "trait_avoidance"]),
            "no ratings",
        ),
    ],
)
def test_clear_errors_for_data_that_do_not_fit(small_study, mutate, message):
    with pytest.raises(DataError, match=message):
        prepare_inputs(mutate(small_study))


def test_fatigue_needs_joint_mode(small_study):
    with pytest.raises(ValueError, match="joint"):
        build_model(small_study, "asem_fatigue", mode="conditional")
    with pytest.raises(ab.registry.UnknownVariantError):
        build_model(small_study, "asem_typo")


def test_joint_mode_scores_binary_events_only(small_study):
    wrong = small_study.assign(confidence=small_study["confidence"] * 0.5)
    with pytest.raises(DataError, match="0/1"):
        prepare_inputs(wrong, joint=True)


def test_model_has_named_dims(small_study):
    model = build_model(small_study, "asem")
    assert model.named_vars_to_dims["self_model"] == D.PERSON_DAY_DIMS
    assert model.named_vars_to_dims["theta_pos_s"] == D.PERSON_DIMS
    assert set(ab.get_variant("asem").param_names) <= set(model.named_vars)
    assert isinstance(model, pm.Model)


def test_joint_loglik_for_many_draws_sums_single_draws():
    """Joint-mode log-likelihood of several draws at once equals each draw alone (shapes of
    dyad-level event logits used to clash with the draw axis)."""
    import xarray as xr

    from asem_bayes.model import log_likelihood
    from asem_bayes.simulate import resolve_params

    study = ab.simulate("asem_fatigue", 6, 10, seed=2)
    v = ab.get_variant("asem_fatigue")
    inp = prepare_inputs(study, joint=True)
    rng = np.random.default_rng(0)
    draws = [resolve_params(v, "prior", 6, rng) for _ in range(3)]
    post = xr.Dataset(
        {
            k: (
                ("chain", "draw", *((D.DYAD, D.PERSON) if np.ndim(draws[0][k]) == 2 else ())),
                np.stack([d[k] for d in draws])[None],
            )
            for k in draws[0]
        }
    )
    together = log_likelihood(post, inp, v, "joint", unit="dyad")["log_lik"].values[0]
    for j in range(3):
        alone = log_likelihood(post.isel(draw=[j]), inp, v, "joint", unit="dyad")["log_lik"].values[0, 0]
        np.testing.assert_allclose(together[j], alone, rtol=1e-12)


def _truth_posterior(truth: dict, n_draws: int = 1):
    """The true parameters as a posterior of ``n_draws`` identical draws."""
    import xarray as xr

    return xr.Dataset(
        {
            k: (
                ("chain", "draw", *((D.DYAD, D.PERSON) if np.ndim(x) == 2 else ())),
                np.broadcast_to(np.asarray(x), (1, n_draws, *np.shape(x))),
            )
            for k, x in truth.items()
            if not k.endswith("_latent")
        }
    )


def test_numpy_loglik_equals_pymc_on_likert_ratings():
    """The Likert path of the numpy log-likelihood (ordered logistic) equals PyMC's."""
    from asem_bayes.model import log_likelihood

    study = ab.simulate("asem", 10, 14, design=ab.Design(likert=7), seed=8)
    model = build_model(study, "asem", trajectories=False)
    truth = ab.true_params(study)
    observed = model.compile_fn(
        model.replace_rvs_by_values([model.logp(vars=model.observed_RVs)]), inputs=model.value_vars,
        on_unused_input="ignore",
    )  # fmt: skip
    expected = float(observed(point_from_params(model, "asem", truth))[0])
    got = log_likelihood(_truth_posterior(truth), prepare_inputs(study), ab.get_variant("asem"), "conditional", "dyad")
    assert float(got["log_lik"].sum()) == pytest.approx(expected, rel=1e-9)


def _anxiety_means(study) -> np.ndarray:
    """Expected state anxiety (dyad, person, day) from the simulator's stored states and events."""
    from asem_bayes import dynamics

    day_major = lambda x: np.moveaxis(np.asarray(x, dtype=float), -1, 0)  # noqa: E731
    ev = dynamics.Events(*(day_major(study[f"{k}_true"].values) for k in D.EVENTS))
    mu, _ = dynamics.rating_means(
        np, day_major(study["self_model"]), day_major(study["others_model"]), ev, ab.true_params(study)
    )
    return np.moveaxis(mu, 0, -1)


@pytest.mark.parametrize("likert", [None, 5])
def test_posterior_predictive_noise_is_the_simulators(likert):
    """Replicated ratings at the true parameters carry the simulator's noise around the same
    means: the simulated study's standardised residuals (continuous) or category counts (Likert)
    are a draw from the replicates' distribution. Control: twice the noise scale is detected."""
    from scipy import stats

    from asem_bayes.model import posterior_predictive

    design = ab.Design(likert=likert)
    study = ab.simulate("asem", 30, 14, design=design, seed=3)
    truth, inp, v = ab.true_params(study), prepare_inputs(study), ab.get_variant("asem")
    sim = study["state_anxiety"].values

    def replicate(scale: float) -> np.ndarray:
        post = _truth_posterior({**truth, "sigma_A": truth["sigma_A"] * scale}, 100)
        return posterior_predictive(post, inp, v, np.random.default_rng(1))["state_anxiety"].values[0]

    if likert is None:
        mu, sigma = _anxiety_means(study), truth["sigma_A"]
        res_sim = ((sim - mu) / sigma).ravel()
        assert stats.ks_2samp(((replicate(1.0) - mu) / sigma).ravel(), res_sim).pvalue > 0.01
        assert stats.ks_2samp(((replicate(2.0) - mu) / sigma).ravel(), res_sim).pvalue < 1e-6
    else:
        counts = lambda y: np.bincount(y.astype(int).ravel(), minlength=likert + 1)[1:]  # noqa: E731
        observed = counts(sim)

        def p_value(scale: float) -> float:
            expected = counts(replicate(scale)) / 100  # per replicate, the size of one study
            keep = expected > 0
            return stats.chisquare(observed[keep], expected[keep] * observed.sum() / expected[keep].sum()).pvalue

        assert p_value(1.0) > 0.01
        assert p_value(2.0) < 1e-4
