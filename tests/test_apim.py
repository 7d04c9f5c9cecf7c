"""The longitudinal APIM baseline (asem_bayes.apim): likelihood, recovery, comparison with ASEM."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy import stats

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.apim import (
    apim_design,
    apim_log_likelihood,
    apim_report,
    asem_log_likelihood,
    build_apim,
    fit_apim,
    simulate_apim,
)
from asem_bayes.inputs import DataError

TRUTH = {"alpha": 4.0, "actor": 0.5, "partner": 0.25, "tau_dyad": 0.4, "tau_person": 0.3, "sigma": 0.8, "r": 0.3}


def test_numpy_log_likelihood_equals_the_model_density():
    """The dyad sums of the stored log-likelihood add up to PyMC's observed log density at any
    point, missing ratings included (marginal terms where a partner is missing)."""
    data = simulate_apim(6, 5, missing=0.25, seed=1)
    design = apim_design(data, "y", ("x",))
    # All three kinds of term present: person 0 marginal, person 1 marginal (partner missing),
    # person 1 conditional on person 0.
    person_of_marg = (design.idx_marg // 5) % 2
    assert (person_of_marg == 0).any() and (person_of_marg == 1).any() and design.idx_cond.size > 0
    model = build_apim(design)
    rng = np.random.default_rng(2)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    logp = float(model.compile_logp(vars=model.observed_RVs, jacobian=False)(point))
    names = ["alpha", "beta", "u", "v", "sigma", "r"]
    # Parameters on their own scale at that point (RVs replaced by their value variables).
    outs = model.replace_rvs_by_values([model[n] for n in names])
    values = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)
    dims = {"beta": ("term",), "u": (D.DYAD,), "v": D.PERSON_DIMS}
    post = xr.Dataset(
        {
            n: (("chain", "draw", *dims.get(n, ())), np.asarray(x)[None, None])
            for n, x in zip(names, values, strict=True)
        },
        coords={"chain": [0], "draw": [0]},
    )
    ll = apim_log_likelihood(post, design)["log_lik"]
    assert ll.dims == ("chain", "draw", D.DYAD)
    np.testing.assert_allclose(float(ll.sum()), logp, rtol=1e-10)

    # Person-level units: each rating given the partner's same-day rating (non-factorised LOO).
    by_day = apim_log_likelihood(post, design, "person-day")["log_lik"].values[0, 0]
    p = {n: np.asarray(x) for n, x in zip(names, values, strict=True)}
    mu = p["alpha"] + design.X @ p["beta"] + p["u"][:, None, None] + p["v"][:, :, None]
    sig, r = float(p["sigma"]), float(p["r"])
    y = design.y
    for d, i, t in [tuple(c) for c in np.argwhere(~np.isnan(y))[:12]]:
        j = 1 - i
        if np.isnan(y[d, j, t]):
            expect = stats.norm.logpdf(y[d, i, t], mu[d, i, t], sig)
        else:
            expect = stats.norm.logpdf(
                y[d, i, t], mu[d, i, t] + r * (y[d, j, t] - mu[d, j, t]), sig * np.sqrt(1 - r**2)
            )
        np.testing.assert_allclose(by_day[d, i, t], expect, rtol=1e-10)
    assert np.all(by_day[np.isnan(y)] == 0)
    week = apim_log_likelihood(post, design, "person-week")["log_lik"]
    assert week.dims == ("chain", "draw", D.DYAD, D.PERSON, D.WEEK) and week.sizes[D.WEEK] == 1
    np.testing.assert_allclose(week.values[0, 0, ..., 0], by_day.sum(-1), rtol=1e-12)


def test_design_errors_and_missing_predictors():
    data = simulate_apim(3, 4, seed=0)
    data["shared"] = ((D.DYAD, D.DAY), np.ones((3, 4)))
    with pytest.raises(DataError, match="no separate partner effect"):
        apim_design(data, "y", ("x",), ("shared",))
    with pytest.raises(DataError, match="not in the data"):
        apim_design(data, "y", ("nope",))
    d = apim_design(data, "y", ("x", "shared"))
    assert d.terms == ["actor:x", "dyad:shared", "partner:x"]
    data["x"][0, 0, 1] = np.nan
    with pytest.raises(DataError, match="missing on 1 person-day"):
        apim_design(data, "y", ("x",), missing_predictors="error")
    d = apim_design(data, "y", ("x",))
    assert any("filled with the person's mean" in n for n in d.notes)
    assert np.isfinite(d.X).all()


@pytest.fixture(scope="module")
def apim_fit():
    data = simulate_apim(40, 14, TRUTH, missing=0.05, seed=7)
    return data, fit_apim(data, "y", ("x",), draws=400, tune=400, chains=2, seed=8, posterior_predictive=True)


def _close(fit: xr.DataTree, truth: dict[str, float]) -> dict[str, bool]:
    """|posterior mean - truth| < 3 posterior sd: a true value fails this by chance with
    probability ~0.003 per parameter for a well-calibrated posterior."""
    post = fit.posterior
    got = {
        "actor": post["beta"].sel(term="actor:x"),
        "partner": post["beta"].sel(term="partner:x"),
        "r": post["r"],
        "sigma": post["sigma"],
    }
    return {k: bool(abs(float(x.mean()) - truth[k]) < 3 * float(x.std())) for k, x in got.items()}


def test_apim_recovers_effects_and_a_swapped_truth_fails(apim_fit):
    data, fit = apim_fit
    assert all(_close(fit, TRUTH).values()), _close(fit, TRUTH)
    # Contraction: the effects are learned, not just covered by a wide prior.
    assert float(fit.posterior["beta"].std(("chain", "draw")).max()) < 0.1
    # Control: a bug that swapped actor and partner (e.g. flipping the person axis twice)
    # must fail the same check, so the check has power.
    swapped = {**TRUTH, "actor": TRUTH["partner"], "partner": TRUTH["actor"]}
    close = _close(fit, swapped)
    assert not close["actor"] and not close["partner"]
    text = apim_report(fit)
    assert "actor:x" in text and "divergences: 0" in text


def test_apim_fit_groups_and_loo(apim_fit):
    data, fit = apim_fit
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood", "posterior_predictive"} <= set(fit.children)
    assert fit.log_likelihood["log_lik"].dims == ("chain", "draw", D.DYAD)
    pp = fit.posterior_predictive["y"]
    assert pp.sizes[D.DYAD] == 40 and pp.sizes[D.DAY] == 14
    # Replicated partner residuals correlate as the fitted r says (a property of the bivariate draw).
    mu_obs = float(np.nanmean(data["y"].values))
    assert abs(float(pp.mean()) - mu_obs) < 0.2
    loo = az.loo(fit, var_name="log_lik")
    assert np.isfinite(loo.elpd)


def test_asem_log_likelihood_restricts_and_compares(compiled_asem, small_study, apim_fit):
    """Restricting an ASEM fit's log-likelihood to all its ratings gives back the stored one;
    restricted to the daily ratings it can sit next to an APIM fit in arviz.compare."""
    fit = compiled_asem.fit(small_study, draws=60, tune=60, chains=2, seed=3, loo_unit="dyad")
    full = asem_log_likelihood(fit, small_study, ratings=list(compiled_asem.prepare(small_study).present_ratings))
    np.testing.assert_allclose(full["log_lik"].values, fit.log_likelihood["log_lik"].values, rtol=1e-10)
    daily = asem_log_likelihood(fit, small_study, ratings=["state_anxiety"])
    assert daily["log_lik"].dims == ("chain", "draw", D.DYAD)
    assert (daily["log_lik"].values > full["log_lik"].values).all()  # fewer (negative) terms
    ap = fit_apim(small_study, "state_anxiety", ("threat", "safe"), draws=100, tune=100, chains=2, seed=4)
    fit_daily = xr.DataTree.from_dict({"posterior": fit.posterior.to_dataset(), "log_likelihood": daily})
    cmp = az.compare({"apim": ap, "asem": fit_daily}, var_name="log_lik")
    assert set(cmp.index) == {"apim", "asem"}
    del apim_fit
