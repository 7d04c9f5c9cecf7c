"""The longitudinal APIM baseline (asem_bayes.apim): likelihood, recovery, comparison with ASEM."""

from __future__ import annotations

import warnings
from dataclasses import replace

import arviz as az
import numpy as np
import pandas as pd
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
    post, logp = _posterior_at(model, design, np.random.default_rng(2))
    ll = apim_log_likelihood(post, design)["log_lik"]
    assert ll.dims == ("chain", "draw", D.DYAD)
    np.testing.assert_allclose(float(ll.sum()), logp, rtol=1e-10)

    # Person-level units: each rating given the partner's same-day rating (non-factorised LOO),
    # or marginally over it (the default, the fair comparison with ASEM fits).
    by_day = apim_log_likelihood(post, design, "person-day", partner_conditioning="partner")["log_lik"].values[0, 0]
    marginal = apim_log_likelihood(post, design, "person-day")["log_lik"].values[0, 0]
    p = {n: post[n].values[0, 0] for n in post.data_vars}
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
        np.testing.assert_allclose(marginal[d, i, t], stats.norm.logpdf(y[d, i, t], mu[d, i, t], sig), rtol=1e-10)
    assert np.all(by_day[np.isnan(y)] == 0)
    # Where the partner did not rate, both choices give the marginal.
    alone = ~np.isnan(y) & np.isnan(y[:, ::-1])
    np.testing.assert_allclose(by_day[alone], marginal[alone], rtol=1e-12)
    assert not np.allclose(by_day[~np.isnan(y) & ~alone], marginal[~np.isnan(y) & ~alone])
    # A dyad unit is scored by the joint density under either choice.
    ll_none = apim_log_likelihood(post, design, partner_conditioning="none")["log_lik"]
    np.testing.assert_allclose(ll_none.values, ll.values, rtol=1e-12)
    week = apim_log_likelihood(post, design, "person-week", partner_conditioning="partner")["log_lik"]
    assert week.dims == ("chain", "draw", D.DYAD, D.PERSON, D.WEEK) and week.sizes[D.WEEK] == 1
    np.testing.assert_allclose(week.values[0, 0, ..., 0], by_day.sum(-1), rtol=1e-12)


def test_design_errors_and_missing_predictors():
    data = simulate_apim(3, 4, seed=0)
    data["shared"] = ((D.DYAD, D.DAY), np.ones((3, 4)))
    with pytest.raises(DataError, match="no separate partner effect"):
        apim_design(data, "y", ("x",), ("shared",))
    with pytest.raises(DataError, match="not in the data"):
        apim_design(data, "y", ("nope",))
    with pytest.raises(ValueError, match="APIM kind must be one of .* got 'lag'"):
        apim_design(data, "y", ("x",), kind="lag")
    with pytest.raises(DataError, match="no ASEM events"):
        apim_design(data, "y")
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


# --- the lagged APIM, the conditioning on the partner's rating, the fair comparison ------------


def _posterior_at(model, design, rng) -> xr.Dataset:
    """A random point of ``model`` as a one-draw posterior of the APIM's parameters (on their
    own scale: RVs replaced by their value variables), and PyMC's observed log density there."""
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    names = ["alpha", "beta", "u", "v", "sigma", "r"]
    outs = model.replace_rvs_by_values([model[n] for n in names])
    values = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)
    dims = {"beta": ("term",), "u": (D.DYAD,), "v": D.PERSON_DIMS}
    post = xr.Dataset(
        {
            n: (("chain", "draw", *dims.get(n, ())), np.asarray(x)[None, None])
            for n, x in zip(names, values, strict=True)
        },
        coords={"chain": [0], "draw": [0], "term": design.terms},
    )
    return post, float(model.compile_logp(vars=model.observed_RVs, jacobian=False)(point))


def test_lagged_design_scores_days_with_lags_and_matches_the_model_density():
    """The lagged APIM scores a rating only where both partners rated the day before (never a
    first day); its stored dyad log-likelihood equals PyMC's density; a held-out rating leaves
    the likelihood both as an outcome and as the next day's lag."""
    data = simulate_apim(6, 8, {"stability": 0.3, "influence": 0.1}, missing=0.2, seed=1)
    design = apim_design(data, "y", ("x",), kind="lagged")
    assert design.terms[:2] == ["stability:y", "influence:y"]
    y = design.y
    obs = ~np.isnan(y)
    assert not design.scored[..., 0].any()
    expect = obs.copy()
    expect[..., 0] = False
    expect[..., 1:] &= (obs[:, 0, :-1] & obs[:, 1, :-1])[:, None, :]
    np.testing.assert_array_equal(design.scored, expect)
    assert 0 < design.scored.sum() < obs.sum()
    # Lag columns hold the ratings of the day before (centred) on the scored cells.
    d, i, t = np.argwhere(design.scored)[0]
    assert design.X[d, i, t, 0] + design.x_mean[0] == pytest.approx(y[d, i, t - 1])
    assert design.X[d, i, t, 1] + design.x_mean[1] == pytest.approx(y[d, 1 - i, t - 1])
    model = build_apim(design)
    post, logp = _posterior_at(model, design, np.random.default_rng(3))
    np.testing.assert_allclose(float(apim_log_likelihood(post, design)["log_lik"].sum()), logp, rtol=1e-10)
    # A held-out rating leaves the likelihood as an outcome but stays the next day's lag.
    held = np.zeros(y.shape, bool)
    held[d, i, t] = True
    train = design.held_out(held)
    np.testing.assert_array_equal(train.scored, design.scored & ~held)
    assert train.idx_marg.size + train.idx_cond.size == train.scored.sum()
    np.testing.assert_array_equal(train.X, design.X)


def test_apim_event_predictors_are_the_columns_asem_reads():
    """ASEM events enter the APIM with ASEM's values: a shared event once per couple, missing
    reports filled by the same policy; by default every event in the data."""
    import asem_bayes as ab
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.simulate import Design

    study = ab.simulate("asem", 4, 10, design=Design(missing_days=0.3), seed=2)
    assert bool(study["threat"].isnull().any())
    design = apim_design(study, "state_anxiety", missing_events="absent")
    assert set(design.events) == {e for e in D.EVENTS if e in study}
    assert "dyad:threat" in design.terms and "partner:threat" not in design.terms
    assert "actor:safe" in design.terms and "partner:safe" in design.terms
    inp = prepare_inputs(study, missing_events="absent")
    for name, values in design.events.items():
        np.testing.assert_array_equal(values, inp.events[name].transpose(1, 2, 0))
    with pytest.raises(DataError, match="missing"):
        apim_design(study, "state_anxiety", missing_predictors="error")


def _interval(fit: xr.DataTree, term: str, prob: float = 0.9) -> tuple[float, float, float, float]:
    x = fit.posterior["beta"].sel(term=term).values.ravel()
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return float(x.mean()), float(x.std()), float(lo), float(hi)


def test_lagged_apim_recovers_stability_and_influence_and_finds_none_without_lags():
    """Recovery from a linear lagged process (30 couples x 14 days); control: on the same design
    simulated without lag dependence the 90% intervals of both lag effects cover 0."""
    truth = {"stability": 0.4, "influence": 0.2}
    lagged = simulate_apim(30, 14, truth, missing=0.05, seed=21)
    fit = fit_apim(lagged, "y", ("x",), kind="lagged", draws=300, tune=300, chains=2, seed=5, loo_unit="person-week")
    assert fit.attrs["apim_kind"] == "lagged"
    for name, value in truth.items():
        mean, sd, lo, hi = _interval(fit, f"{name}:y")
        assert abs(mean - value) < 3 * sd and lo > 0, (name, mean, sd, lo, hi)
    assert fit.log_likelihood["log_lik"].dims == ("chain", "draw", D.DYAD, D.PERSON, D.WEEK)
    assert "Lagged APIM" in apim_report(fit)
    flat = simulate_apim(30, 14, {"stability": 0.0, "influence": 0.0}, missing=0.05, seed=21)
    fit0 = fit_apim(flat, "y", ("x",), kind="lagged", draws=300, tune=300, chains=2, seed=5, loo_unit=None)
    for name in truth:
        mean, sd, lo, hi = _interval(fit0, f"{name}:y")
        assert lo < 0 < hi, (name, mean, sd, lo, hi)


def _elpd_gain(r: float) -> tuple[float, float]:
    """PSIS-LOO elpd by person-week of an APIM scored given the partner's same-day rating minus
    scored without it, and the standard error of the difference."""
    from arviz_stats import loo

    data = simulate_apim(20, 14, {"r": r}, missing=0.05, seed=31)
    fit = fit_apim(data, "y", ("x",), draws=200, tune=200, chains=2, seed=6, loo_unit=None)
    design = apim_design(data, "y", ("x",))
    post = fit.posterior.to_dataset()
    elpd = {}
    for c in ("none", "partner"):
        ll = apim_log_likelihood(post, design, "person-week", partner_conditioning=c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pareto k: the same units under both choices
            elpd[c] = loo(xr.DataTree.from_dict({"posterior": post, "log_likelihood": ll}), var_name="log_lik",
                          pointwise=True).elpd_i.values.ravel()  # fmt: skip
    diff = elpd["partner"] - elpd["none"]
    return float(diff.sum()), float(np.sqrt(diff.size) * diff.std())


def test_conditioning_on_the_partner_pays_only_when_partners_correlate():
    """Partners simulated independent (r = 0): conditioning on the partner's same-day rating
    changes the elpd by little (within 2 SE or 4); correlated (r = 0.6): it gains a lot."""
    gain0, se0 = _elpd_gain(0.0)
    assert abs(gain0) < max(4.0, 2 * se0), (gain0, se0)
    gain, se = _elpd_gain(0.6)
    assert gain > 4 * se and gain > 50, (gain, se)


def test_asem_partner_conditioning_is_the_swapped_partners_conditional():
    """An ASEM fit with the "partner" residual option: conditioning on the partner scores person 0
    by its density given person 1's rating, which is what the model's own (person 1 given
    person 0) density gives with the partners swapped; without conditioning, the marginal
    density of the fit without the option. A fit without the option scores alike either way."""
    import asem_bayes as ab
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.model import constant_dataset, log_likelihood, resolve_variant
    from asem_bayes.simulate import Design, true_params

    study = ab.simulate("stable", 5, 10, params={"corr_A": 0.6, "corr_V": -0.4}, seed=4, residuals=("partner",),
                        design=Design(missing_items=0.2))  # fmt: skip
    v = resolve_variant("stable", ("partner",))

    def as_fit(ds: xr.Dataset, residuals: str) -> xr.DataTree:
        tp = true_params(ds)
        post = xr.Dataset(
            {k: (("chain", "draw"), [[float(tp[k])]]) for k in v.param_names}
            | {k: (("chain", "draw", D.DYAD, D.PERSON), np.asarray(tp[k])[None, None]) for k in v.person_param_names},
            coords={"chain": [0], "draw": [0], D.DYAD: ds[D.DYAD].values, D.PERSON: ds[D.PERSON].values},
        )
        fit = xr.DataTree.from_dict({"posterior": post, "constant_data": constant_dataset(prepare_inputs(ds))})
        fit.attrs.update(asem_variant="stable", asem_mode="conditional", residuals=residuals)
        return fit

    fit = as_fit(study, "partner")
    for rating in ("state_anxiety", "state_avoidance"):
        cond = asem_log_likelihood(fit, study, [rating], "person-day", partner_conditioning="partner")["log_lik"]
        marg = asem_log_likelihood(fit, study, [rating], "person-day", partner_conditioning="none")["log_lik"]
        # Person 0 given person 1: the model's person-1 conditional on the swapped study.
        # (isel swaps every person-level variable: ratings, events and true person parameters)
        swapped = study.isel(person=[1, 0]).assign_coords(person=study[D.PERSON].values)
        inp = prepare_inputs(swapped)
        inp = replace(inp, obs={rating: inp.obs[rating]})
        native = log_likelihood(as_fit(swapped, "partner").posterior.to_dataset(), inp, v, "conditional", "person-day")
        y = study[rating].transpose(*D.PERSON_DAY_DIMS).values
        both = ~np.isnan(y[:, 0]) & ~np.isnan(y[:, 1])
        assert both.sum() > 10 and (~np.isnan(y[:, 0]) & ~both).any()
        np.testing.assert_allclose(cond.values[0, 0, :, 0][both], native["log_lik"].values[0, 0, :, 1][both],
                                   rtol=1e-9)  # fmt: skip
        # A dyad is scored by the joint density: the model's own score.
        one = prepare_inputs(study)
        one = replace(one, obs={rating: one.obs[rating]})
        own = log_likelihood(fit.posterior.to_dataset(), one, v, "conditional", "dyad")["log_lik"]
        for c in ("none", "partner"):
            dyad = asem_log_likelihood(fit, study, [rating], "dyad", partner_conditioning=c)["log_lik"]
            np.testing.assert_allclose(dyad.values, own.values, rtol=1e-10)
        # Marginal: the fit without the option.
        plain = asem_log_likelihood(as_fit(study, ""), study, [rating], "person-day", partner_conditioning="partner")
        np.testing.assert_allclose(plain["log_lik"].values, marg.values, rtol=1e-12)


@pytest.mark.slow  # K-fold refits or several compiles: `make test-slow`
def test_fair_comparison_scores_every_model_on_the_same_ratings(compiled_asem, small_study, tmp_path):
    """ASEM and both APIMs ranked on the same ratings per unit (the lagged APIM's first days
    dropped from all), by PSIS-LOO and by exact K-fold on one split; the refits checkpointed in a
    store are read back, not sampled again, by the other conditioning and by a rerun."""
    from asem_bayes.compare import ComparisonError, fair_comparison
    from asem_bayes.sbc import Store

    fit = compiled_asem.fit(small_study, draws=60, tune=60, chains=2, seed=3, loo_unit=None)
    kw = {"draws": 100, "tune": 100, "chains": 2, "seed": 4, "loo_unit": None}
    fits = {
        "asem": fit,
        "apim": fit_apim(small_study, "state_anxiety", **kw),
        "lagged": fit_apim(small_study, "state_anxiety", kind="lagged", **kw),
    }
    store = Store(tmp_path / "refits", {"test": "fair"})
    kw = {"kfold": 2, "kfold_when": "always", "compiled": {"asem": compiled_asem}, "refit_store": store}
    res = fair_comparison(fits, small_study, "state_anxiety", **kw)
    assert len(store.keys()) == 6 and not any("refit store" in n for n in res.notes)
    again = fair_comparison(fits, small_study, "state_anxiety", **kw)
    assert "6 of the 6 refits read from the refit store, not sampled again" in again.notes
    pd.testing.assert_frame_equal(again.kfold, res.kfold)
    other = fair_comparison(fits, small_study, "state_anxiety", partner_conditioning="partner", **kw)
    assert len(store.keys()) == 6 and any("6 of the 6 refits" in n for n in other.notes)
    apim_elpd = [float(t.loc["apim", "elpd"]) for t in (res.kfold, other.kfold)]
    assert apim_elpd[0] != apim_elpd[1]  # the same refits, scored given the partner's rating
    y = small_study["state_anxiety"].transpose(*D.PERSON_DAY_DIMS).values
    assert not res.cells[..., 0].any() and res.cells.sum() < (~np.isnan(y)).sum()
    counts = list(res.cells_per_unit.values())
    assert all(np.array_equal(c, counts[0]) for c in counts) and counts[0].sum() == res.cells.sum()
    for table in (res.psis, res.kfold):
        assert set(table.index) == set(fits) and (table["n_units"] == res.units.size).all()
        assert np.isfinite(table["elpd"].astype(float)).all()
    assert res.kfold.attrs["method"] == "kfold" and res.table is res.kfold
    assert any("dropped from every model" in n for n in res.notes)
    assert "Fair comparison of 'state_anxiety'" in res.describe()
    text = res.report()  # both tables (K-fold ran), the legend and the words
    assert text.index("PSIS-LOO") < text.index("exact K-fold") < text.index(res.describe())
    # The compared log-likelihood of each model is its person-day score on the common cells.
    ll = res.trees["apim"].log_likelihood["log_lik"]
    by_day = apim_log_likelihood(fits["apim"].posterior.to_dataset(), apim_design(small_study, "state_anxiety"),
                                 "person-day")["log_lik"]  # fmt: skip
    common = xr.DataArray(res.cells, dims=D.PERSON_DAY_DIMS)
    np.testing.assert_allclose(float(ll.sum()), float(by_day.where(common).sum()))
    with pytest.raises(ComparisonError, match="models 'state_anxiety', not 'state_avoidance'"):
        fair_comparison(fits, small_study, "state_avoidance", kfold=0)
