"""Residual extensions of the daily ratings: carry-over (AR(1)) and the partners' same-day correlation.

docs/model.md section 17. The simulator and the likelihood are tied three ways: the PyMC model's
log-likelihood at the true parameters equals the exact Gaussian density computed directly from
the covariance (scipy, missing days included); the numpy pointwise log-likelihood sums to the
PyMC one; and a profile of the likelihood over the option's parameter peaks at the simulator's
value, a check that fails on data simulated without the option (the control).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import asem_bayes as ab
from asem_bayes.checks import score_check
from asem_bayes.inputs import prepare_inputs, residual_links
from asem_bayes.model import (
    build_model,
    point_from_params,
    pointwise_log_likelihood,
    posterior_predictive,
    resolve_variant,
)
from asem_bayes.residuals import ResidualError, check_residuals, with_residuals
from asem_bayes.schema import SchemaError
from asem_bayes.simulate import Design, true_params

TRUTH = {"ar1": {"phi_A": 0.5, "phi_V": -0.3}, "partner": {"corr_A": 0.5, "corr_V": -0.3}}


def _flat_params(study: xr.Dataset, v) -> dict[str, np.ndarray]:
    """The study's true parameters shaped as one posterior draw (numpy log-likelihood)."""
    tp = true_params(study)
    out = {k: np.full((1, 1, 1), float(tp[k])) for k in v.param_names}
    out.update({k: np.asarray(tp[k], dtype=float)[None] for k in v.person_param_names})
    return out


def _residuals_by_cell(study: xr.Dataset) -> dict[str, np.ndarray]:
    """Residuals ``y - mu`` (dyad, person, day) of the daily ratings, the means written out by hand."""
    tp = true_params(study)
    s, o = study["self_model"].values, study["others_model"].values
    threat = study["threat"].values[:, None, :]
    safe, soft = study["safe"].values, study["soft"].values
    c_A, c_V = tp["c_A"][..., None], tp["c_V"][..., None]
    mu_A = c_A - tp["k_A"] * (s - np.tanh(tp["s0_mu"])) + threat * (tp["tau_A"] - tp["b_safe"] * safe)
    mu_V = (
        c_V
        - tp["k_V"] * (o - np.tanh(tp["o0_mu"]))
        + threat * (tp["tau_V"] - tp["b_soft"] * soft)
        + tp["b_backfire"] * safe * np.maximum(0.0, -o)
    )
    return {
        "state_anxiety": study["state_anxiety"].values - mu_A,
        "state_avoidance": study["state_avoidance"].values - mu_V,
    }


def _exact_density(study: xr.Dataset, kind: str) -> float:
    """The joint Gaussian log density of the observed daily ratings, from their covariance.

    ``ar1``: each person's observed residuals with covariance ``sigma^2 phi^|t - s|``;
    ``partner``: each couple's with ``sigma^2`` on the diagonal, ``sigma^2 corr`` between the
    partners' same-day residuals and 0 elsewhere.
    """
    tp = true_params(study)
    total = 0.0
    for name, e in _residuals_by_cell(study).items():
        suffix = name == "state_anxiety" and "A" or "V"
        sigma = tp[f"sigma_{suffix}"]
        for d in range(e.shape[0]):
            if kind == "ar1":
                for i in range(2):
                    days = np.flatnonzero(~np.isnan(e[d, i]))
                    cov = sigma**2 * tp[f"phi_{suffix}"] ** np.abs(days[:, None] - days[None, :])
                    total += stats.multivariate_normal(np.zeros(days.size), cov).logpdf(e[d, i, days])
            else:
                person, day = np.nonzero(~np.isnan(e[d]))
                same_day = (day[:, None] == day[None, :]) & (person[:, None] != person[None, :])
                cov = sigma**2 * (np.eye(day.size) + tp[f"corr_{suffix}"] * same_day)
                total += stats.multivariate_normal(np.zeros(day.size), cov).logpdf(e[d, person, day])
    return float(total)


@pytest.fixture(scope="module", params=["ar1", "partner"])
def gappy_study(request):
    """A small ``asem`` study with the option on and a third of the single ratings missing (the
    events stay reported, so the model's working models are the true ones)."""
    kind = request.param
    study = ab.simulate(
        "asem", 5, 12, params=TRUTH[kind], design=Design(missing_items=0.35), seed=11, residuals=(kind,)
    )
    return kind, study


def test_links_of_each_option():
    # 5 days; dyad 0: person 0 rates days 0, 2, 3, person 1 days 0, 3; dyad 1: person 0 day 4
    idx = np.array([0, 2, 3, 5, 8, 14])
    prev, gap = residual_links(idx, 5, "ar1")
    assert prev.tolist() == [-1, 0, 1, -1, 3, -1]
    assert gap[prev >= 0].tolist() == [2, 1, 3]
    prev, _ = residual_links(idx, 5, "partner")
    assert prev.tolist() == [-1, -1, -1, 0, 2, -1]


def test_pymc_loglik_is_the_exact_density(gappy_study):
    kind, study = gappy_study
    assert np.isnan(study["state_anxiety"].values).mean() > 0.2
    v = resolve_variant("asem", (kind,))
    model = build_model(study, "asem", residuals=(kind,))
    assert model.asem_residuals == (kind,)
    ratings = [model["state_anxiety"], model["state_avoidance"]]
    point = point_from_params(model, v, true_params(study))
    pymc_ll = float(model.compile_logp(vars=ratings, jacobian=False)(point))
    np.testing.assert_allclose(pymc_ll, _exact_density(study, kind), rtol=1e-8)  # scipy: eigh
    ll = pointwise_log_likelihood(prepare_inputs(study), v, _flat_params(study, v), "conditional")
    np.testing.assert_allclose(ll["state_anxiety"].sum() + ll["state_avoidance"].sum(), pymc_ll, rtol=1e-10)


def test_default_model_is_unchanged_and_zero_option_is_the_default(gappy_study):
    kind, study = gappy_study
    plain = build_model(study, "stable")
    assert not {"phi_A", "phi_V", "corr_A", "corr_V"} & set(plain.named_vars)
    assert not any(k.startswith(("prev_", "gap_")) for k in plain.named_vars)
    extended = build_model(study, "stable", residuals=(kind,))
    zero = {**true_params(study), **{k: 0.0 for k in TRUTH[kind]}}
    lp = {}
    for name, m in (("plain", plain), ("zero", extended)):
        v = resolve_variant("stable", m.asem_residuals)
        f = m.compile_logp(vars=[m["state_anxiety"], m["state_avoidance"]], jacobian=False)
        lp[name] = float(f(point_from_params(m, v, zero)))
    np.testing.assert_allclose(lp["zero"], lp["plain"], rtol=1e-12)


def _profile_peak(study: xr.Dataset, kind: str, name: str) -> float:
    """The value of option parameter ``name`` on a grid that maximises the likelihood, the other
    parameters at their true values (the numpy log-likelihood, tied to PyMC above)."""
    v = resolve_variant("stable", (kind,))
    inp = prepare_inputs(study)
    p = _flat_params(study, resolve_variant("stable")) | {k: np.zeros((1, 1, 1)) for k in TRUTH[kind]}
    rating = "state_anxiety" if name.endswith("_A") else "state_avoidance"
    grid = np.round(np.linspace(-0.9, 0.9, 37), 3)
    ll = []
    for g in grid:
        ll.append(pointwise_log_likelihood(inp, v, {**p, name: np.full((1, 1, 1), g)}, "conditional")[rating].sum())
    return float(grid[int(np.argmax(ll))])


@pytest.mark.parametrize("kind", ["ar1", "partner"])
def test_control_profile_peaks_at_the_truth_only_when_simulator_and_likelihood_agree(kind):
    design = Design(missing_items=0.2)
    name = next(iter(TRUTH[kind]))  # phi_A or corr_A, true value 0.5
    matched = ab.simulate("stable", 40, 28, params=TRUTH[kind], design=design, seed=5, residuals=(kind,))
    assert abs(_profile_peak(matched, kind, name) - 0.5) <= 0.1
    # Control: the same study simulated without the option (a simulator that forgot it), scored by
    # the option's likelihood as if the truth were 0.5: the same check fails.
    forgot = ab.simulate("stable", 40, 28, design=design, seed=5)
    assert abs(_profile_peak(forgot, kind, name) - 0.5) > 0.3
    # and the default likelihood scores the matched data differently from the exact one
    v0, v1 = resolve_variant("stable"), resolve_variant("stable", (kind,))
    inp = prepare_inputs(matched)
    ll0 = pointwise_log_likelihood(inp, v0, _flat_params(matched, v0), "conditional")["state_anxiety"].sum()
    ll1 = pointwise_log_likelihood(inp, v1, _flat_params(matched, v1), "conditional")["state_anxiety"].sum()
    assert abs(ll1 - ll0) > 10


@pytest.mark.parametrize("kind", ["ar1", "partner"])
def test_score_check_with_the_option(kind):
    """The score check (docs/model.md section 9) of the extended model: clean on data simulated with
    the option, and the option's parameter flagged on data simulated without it (control)."""
    design = Design(missing_items=0.2)
    v = resolve_variant("asem", (kind,))
    matched = ab.simulate("asem", 100, 21, params=TRUTH[kind], design=design, seed=3, residuals=(kind,))
    t = score_check(matched, v)["t"]
    assert t[list(TRUTH[kind])].abs().max() < 3 and t.abs().max() < 4
    forgot = ab.simulate("asem", 100, 21, design=design, seed=3)
    t = score_check(forgot, v, params={**true_params(forgot), **TRUTH[kind]})["t"]
    assert t.abs().idxmax() in TRUTH[kind] and t.abs().max() > 8


@pytest.mark.parametrize("kind", ["ar1", "partner"])
def test_posterior_predictive_follows_the_process(kind):
    study = ab.simulate("stable", 60, 30, params=TRUTH[kind], seed=2, residuals=(kind,))
    v = resolve_variant("stable", (kind,))
    post = xr.Dataset(
        {k: (("chain", "draw"), [[float(study[k])]]) for k in v.param_names}
        | {k: (("chain", "draw", "dyad", "person"), study[k].values[None, None]) for k in v.person_param_names},
        coords={"chain": [0], "draw": [0]},
    )
    rep = posterior_predictive(post, prepare_inputs(study), v, np.random.default_rng(0))
    for data in (study, rep.isel(chain=0, draw=0)):
        e = _residuals_by_cell(study.assign(state_anxiety=data["state_anxiety"]))["state_anxiety"]
        if kind == "ar1":
            r = np.corrcoef(e[..., 1:].reshape(-1), e[..., :-1].reshape(-1))[0, 1]
        else:
            r = np.corrcoef(e[:, 0].reshape(-1), e[:, 1].reshape(-1))[0, 1]
        assert abs(r - 0.5) < 0.06


def test_refusals():
    with pytest.raises(ResidualError, match="together are not supported"):
        check_residuals(["ar1", "partner"])
    with pytest.raises(ResidualError, match="unknown residual option"):
        check_residuals(["ar2"])
    with pytest.raises(ResidualError, match="'state_anxiety', 'state_avoidance'"):
        ab.simulate("stable", 2, 5, design=Design(likert=5), seed=1, residuals=("ar1",))
    likert = ab.simulate("stable", 2, 5, design=Design(likert=5), seed=1)
    with pytest.raises(ResidualError, match="Likert.*'state_anxiety'"):
        build_model(likert, "stable", residuals=("partner",))
    with pytest.raises(ResidualError, match="Likert"):
        ab.ASEMModel(likert, "stable", residuals=("ar1",))
    with pytest.raises(SchemaError, match="phi_A"):
        ab.simulate("stable", 2, 5, params={"phi_A": 0.5}, seed=1)  # not a parameter without the option


def test_schema_and_prior():
    v = with_residuals(resolve_variant("asem"), ["ar1"])
    assert v.residuals == ("ar1",) and {"phi_A", "phi_V"} <= set(v.param_names)
    assert with_residuals(v, ()).param_names == resolve_variant("asem").param_names
    draws = v.param("phi_A").prior.draw(np.random.default_rng(0), 20000)
    assert -1 < draws.min() and draws.max() < 1 and abs(draws.mean()) < 0.02
    assert abs(draws.std() - np.sqrt(1 / 5)) < 0.01  # 2 * Beta(2, 2) - 1: variance 4 / 20


@pytest.mark.slow  # K-fold refits or several compiles: `make test-slow`
def test_save_load_round_trip(tmp_path):
    study = ab.simulate("stable", 4, 10, params=TRUTH["ar1"], seed=4, residuals=("ar1",))
    config = ab.SamplerConfig(draws=30, tune=30, chains=1)
    model = ab.ASEMModel(study, "stable", config=config, residuals=("ar1",))
    idata = model.fit(seed=1)
    assert idata.attrs["residuals"] == "ar1" and "phi_A" in idata.posterior
    again = ab.ASEMModel.load(model.save(tmp_path / "fit.nc"))
    assert again._variant.residuals == ("ar1",)
    np.testing.assert_allclose(
        again.idata["log_likelihood"]["log_lik"].values, idata["log_likelihood"]["log_lik"].values, rtol=1e-10
    )
    rep = again.sample_posterior_predictive(seed=1)
    assert rep["state_anxiety"].shape == (1, 30, 4, 2, 10)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ar1", "partner"])
def test_recovery(kind):
    """phi (corr) within their 90% intervals, 30 couples x 28 days, ``stable``."""
    study = ab.simulate(
        "stable", 30, 28, params=TRUTH[kind], design=Design(missing_days=0.15), seed=8, residuals=(kind,)
    )
    fit = ab.fit(study, "stable", draws=300, tune=300, chains=2, seed=1, missing_events="absent", residuals=(kind,))
    for name, truth in TRUTH[kind].items():
        lo, hi = np.quantile(fit.posterior[name].values, [0.05, 0.95])
        print(f"{kind}: {name} truth {truth}, mean {float(fit.posterior[name].mean()):.3f}, 90% [{lo:.3f}, {hi:.3f}]")
        assert lo < truth < hi, (name, lo, hi)
