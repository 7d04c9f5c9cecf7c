"""Parameter recovery and model recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes.recovery import RecoveryResult, load_recovery, parameter_recovery, run_model_recovery


@pytest.fixture(scope="module")
def small_fit(compiled_asem, small_study):
    return compiled_asem.fit(small_study, draws=150, tune=200, chains=2, seed=5, loo_unit=None)


def test_parameter_recovery_table(small_fit, small_study):
    truth = ab.true_params(small_study)
    df = parameter_recovery(small_fit, truth, prob=0.9)
    v = ab.get_variant("asem")
    assert set(df.index) == set(v.param_names)
    assert {"truth", "mean", "sd", "lower", "upper", "covered", "z", "contraction"} <= set(df.columns)
    assert (df["lower"] <= df["upper"]).all()
    # Observation-model parameters are well identified even in this tiny study: they contract.
    assert df.loc[["sigma_A", "sigma_V"], "contraction"].min() > 0.5
    # A short fit of 12 dyads: most 90% intervals should still cover the truth (loose bound, so
    # that only a broken pipeline fails it; the broken control below must fail it).
    assert df["covered"].mean() > 0.6, df


def test_parameter_recovery_detects_wrong_truth(small_fit, small_study):
    truth = ab.true_params(small_study)
    df0 = parameter_recovery(small_fit, truth)
    shifted = {k: (float(x) + 10 * df0.loc[k, "sd"] if k in df0.index else x) for k, x in truth.items()}
    df = parameter_recovery(small_fit, shifted)
    assert not df["covered"].any()
    assert (df["z"] < -5).all()


def _fake_result() -> RecoveryResult:
    rows = []
    for true, picks in (("stable", ["stable", "stable", "asem", "stable"]), ("asem", ["asem", "asem", "asem", "asem"])):
        for rep, sel in enumerate(picks):
            rows.append({"true": true, "rep": rep, "selected": sel, "selected_parsimony": "stable", "complete": True,
                         "w_stable": 0.9 if sel == "stable" else 0.1, "w_asem": 0.1 if sel == "stable" else 0.9})
    rows.append({"true": "asem", "rep": 9, "selected": "stable", "selected_parsimony": "stable", "complete": False,
                 "w_stable": 1.0, "w_asem": np.nan})
    return RecoveryResult(pd.DataFrame(), pd.DataFrame(rows), pd.DataFrame(), ("stable", "asem"), ("stable", "asem"))


def test_confusion_matrix_and_weights():
    res = _fake_result()
    conf = res.confusion()
    assert conf.loc["stable", "stable"] == 0.75 and conf.loc["stable", "asem"] == 0.25
    assert conf.loc["asem", "asem"] == 1.0  # the incomplete dataset is left out
    assert res.confusion(normalize=False).to_numpy().sum() == 8
    w = res.mean_weights()
    np.testing.assert_allclose(w.loc["stable", "stable"], (0.9 * 3 + 0.1) / 4)
    assert "data simulated from 'stable': 'stable' itself was selected in 75% of datasets by the highest elpd" in (
        res.summary()
    )
    pars = res.confusion(rule="parsimony")  # the rule's own column, not the highest-elpd one
    assert pars.loc["stable", "stable"] == 1.0 and pars.loc["asem", "stable"] == 1.0
    assert "and in 100% by the rule 'simplest candidate about as good as the best'" in res.summary()
    with pytest.raises(ValueError, match="rule"):
        res.confusion(rule="best")


def test_every_fit_is_its_own_task_in_candidate_order():
    """A task's fits are stored when it returns: one fit per task checkpoints each fit. The fits
    of a candidate come in a row, so the workers compile each candidate once."""
    from asem_bayes.recovery import _batches, _RecJob

    jobs = [_RecJob(None, t, r, c) for t in ("stable", "asem") for r in range(3) for c in ("stable", "asem")]
    tasks = _batches(jobs, workers=4)
    assert all(len(t) == 1 for t in tasks) and len(tasks) == len(jobs)
    cands = [t[0].candidate for t in tasks]
    assert cands == ["stable"] * 6 + ["asem"] * 6
    assert sorted((j.true, j.rep, j.candidate) for t in tasks for j in t) == sorted(
        (j.true, j.rep, j.candidate) for j in jobs
    )


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="params"):
        run_model_recovery(tmp_path, params="truth")
    with pytest.raises(ValueError, match="loo_unit"):
        run_model_recovery(tmp_path, loo_unit="day")
    with pytest.raises(KeyError):
        run_model_recovery(tmp_path, variants=("nonesuch",))


@pytest.mark.slow
def test_model_recovery_small_run_resumes(tmp_path, compiled_asem):
    """Two variants, two datasets each, both fitted to every dataset; compiles 'stable' once and
    reuses the session's 'asem' model through the per-process cache."""
    from asem_bayes.sbc.runner import _CACHE

    n_dyads, n_days = compiled_asem.design_key[0], compiled_asem.design_key[1]
    _CACHE[("recovery", "asem", "conditional", n_dyads, n_days)] = compiled_asem
    kw = dict(variants=("stable", "asem"), reps=2, n_dyads=n_dyads, n_days=n_days, draws=100, tune=150, chains=2,
              workers=0, progress=False, seed=3)
    res = run_model_recovery(tmp_path / "mr", **kw)
    assert not res.failed, res.failed
    assert len(res.loo) == 8 and len(res.choices) == 4
    assert res.confusion(normalize=False).to_numpy().sum() == 4
    assert set(res.parameters["variant"]) == {"stable", "asem"}
    assert res.fitted_now == 8
    again = run_model_recovery(tmp_path / "mr", **kw)
    assert again.fitted_now == 0
    pd.testing.assert_frame_equal(load_recovery(tmp_path / "mr").loo, res.loo)
    # the run's dataset, rebuilt: the fingerprint of its ratings and events is the one stored with
    # the fit's LOO (and rep 0's is not)
    from asem_bayes.kfold import data_fingerprint
    from asem_bayes.recovery import recovery_dataset
    from asem_bayes.sbc.runner import Store

    stored = Store(tmp_path / "mr").read_fit("asem__rep001__stable")["loo"].attrs["asem_data"]
    for rep, same in ((1, True), (0, False)):
        assert (data_fingerprint(recovery_dataset(tmp_path / "mr", "asem", rep)) == stored) is same
    with pytest.raises(ValueError, match="not in the run"):
        recovery_dataset(tmp_path / "mr", "uniform", 0)


@pytest.mark.slow  # K-fold refits or several compiles: `make test-slow`
def test_model_recovery_by_kfold(tmp_path, compiled_asem):
    """Selection by exact K-fold at the person-week: every fit stores its K-fold elpd and the
    choice uses it (no Pareto k involved). One dataset from each of two variants, both fitted."""
    from asem_bayes.sbc.runner import _CACHE

    n_dyads, n_days = compiled_asem.design_key[0], compiled_asem.design_key[1]
    _CACHE[("recovery", "asem", "conditional", n_dyads, n_days)] = compiled_asem
    kw = dict(variants=("stable", "asem"), reps=1, n_dyads=n_dyads, n_days=n_days, draws=100, tune=150, chains=2,
              workers=0, progress=False, seed=4, loo_unit="person-week", kfold=2, target_accept=0.95)
    res = run_model_recovery(tmp_path / "kf", **kw)
    assert not res.failed, res.failed
    assert len(res.loo) == 4 and (res.loo["criterion"] == "kfold").all()
    assert (res.loo["k_bad"] == 0).all() and (res.loo["n_units"] == n_dyads * 2 * 3).all()
    assert "2-fold" in res.summary()
    # the stored K-fold elpd is what the table ranks by
    from asem_bayes.recovery import fit_key, kfold_result
    from asem_bayes.sbc.runner import Store

    tree = Store(tmp_path / "kf").read_fit(fit_key("asem", 0, "asem"))
    row = res.loo.query("true == 'asem' and candidate == 'asem'").iloc[0]
    assert row["elpd"] == pytest.approx(kfold_result(tree["kfold"].to_dataset()).elpd)
    # one fold split per dataset, shared by its candidates (paired elpd differences), and a
    # different split for the other dataset
    store = Store(tmp_path / "kf")
    pairs = [(t, c) for t in kw["variants"] for c in kw["variants"]]
    folds = {(t, c): store.read_fit(fit_key(t, 0, c))["kfold"]["fold"].values for t, c in pairs}
    np.testing.assert_array_equal(folds[("asem", "asem")], folds[("asem", "stable")])
    np.testing.assert_array_equal(folds[("stable", "asem")], folds[("stable", "stable")])
    assert not np.array_equal(folds[("asem", "asem")], folds[("stable", "stable")])
    with pytest.raises(ValueError, match="kfold"):
        run_model_recovery(tmp_path / "x", kfold=1)


@pytest.mark.slow  # moved from the default suite to keep it under 10 minutes on 2 cores
def test_model_recovery_survives_damaged_checkpoints(tmp_path):
    """One fit file truncated, another overwritten with garbage: reading the store warns naming
    them (no xarray IO-backend error), and resuming sets them aside and fits them again."""
    from asem_bayes.recovery import fit_key
    from asem_bayes.sbc import DamagedFitWarning

    kw = dict(variants=("stable",), reps=3, n_dyads=4, n_days=7, draws=40, tune=60, chains=1, workers=0,
              progress=False, seed=2)
    first = run_model_recovery(tmp_path / "mr", **kw)
    assert first.fitted_now == 3 and not first.failed
    fits = tmp_path / "mr" / "fits"
    truncated, garbage = fits / f"{fit_key('stable', 0, 'stable')}.nc", fits / f"{fit_key('stable', 2, 'stable')}.nc"
    truncated.write_bytes(truncated.read_bytes()[:2000])
    garbage.write_bytes(b"\0garbage" * 300)
    with pytest.warns(DamagedFitWarning) as seen:
        partial = load_recovery(tmp_path / "mr")
    text = " ".join(str(w.message) for w in seen)
    assert truncated.name in text and garbage.name in text
    assert set(partial.parameters["rep"]) == {1}
    with pytest.warns(DamagedFitWarning) as seen:
        again = run_model_recovery(tmp_path / "mr", **kw)
    text = " ".join(str(w.message) for w in seen)
    assert str(truncated) in text and str(garbage) in text
    assert again.run.fitted == 2 and not again.failed
    assert set(again.parameters["rep"]) == {0, 1, 2}
    assert {p.name for p in (tmp_path / "mr" / "damaged").iterdir()} == {truncated.name, garbage.name}


def _ll_tree(rng: np.random.Generator, shift: float, *, true: str = "stable", rep: int = 0) -> xr.DataTree:
    """A stand-in fit: log-likelihood draws at the person-day of 3 dyads x 2 persons x 5 days."""
    ll = rng.normal(-1.0 + shift, 0.3, size=(2, 200, 3, 2, 5))
    ll[:, :, 0, 0, 0] += rng.normal(0, 3.0, size=(2, 200))  # one influential unit: Pareto k above 0.7
    dims = ("chain", "draw", "dyad", "person", "day")
    attrs = {"asem_mode": "joint", "loo_unit": "person-day", "true_variant": true, "fit_variant": "stable", "rep": rep}
    return xr.DataTree.from_dict({
        "/": xr.Dataset(attrs=attrs),
        "posterior": xr.Dataset({"sigma_A": (("chain", "draw"), rng.normal(1, 0.1, (2, 200)))}),
        "log_likelihood": xr.Dataset({"log_lik": (dims, ll)}),
    })


def test_stored_loo_compares_as_the_log_likelihood_does():
    """A recovery fit keeps its pointwise PSIS-LOO, not its log-likelihood draws: the comparison
    table (elpd, differences, their SE, weights, bad Pareto k) is the same either way."""
    from asem_bayes.compare import ComparisonError, compare
    from asem_bayes.recovery import loo_dataset, loo_result

    rng = np.random.default_rng(11)
    trees = {"stable": _ll_tree(rng, 0.0), "asem": _ll_tree(rng, 0.05)}
    with pytest.warns(UserWarning, match="Pareto k"):
        full = compare(trees)
    data = ab.simulate("stable", 3, 5, seed=1)
    stored = {n: loo_result(loo_dataset(t, data)) for n, t in trees.items()}
    with pytest.warns(UserWarning, match="Pareto k"):
        small = compare(stored)
    cols = ["elpd", "elpd_diff", "dse", "se", "weight", "k_bad", "n_units"]
    pd.testing.assert_frame_equal(small[cols], full[cols], rtol=1e-5)  # elpd_i is stored in float32
    assert small.attrs["method"] == "psis-loo" and small.attrs["unit"] == "person-day"
    # results of different data are refused (control: the fingerprint is checked)
    other = loo_result(loo_dataset(trees["asem"], ab.simulate("stable", 3, 5, seed=2)))
    with pytest.raises(ComparisonError, match="data"):
        compare({"stable": stored["stable"], "asem": other})


def test_compact_store_replaces_log_likelihood_by_loo(tmp_path):
    """An old store's fits lose their log-likelihood draws for the pointwise LOO, with new
    checksums; the fingerprint is that of the run's own dataset."""
    from asem_bayes.kfold import data_fingerprint
    from asem_bayes.recovery import _run_dataset, compact_store, fit_key, loo_result
    from asem_bayes.sbc.runner import Store

    cfg = {"kind": "model_recovery", "variants": ["stable", "asem"], "candidates": ["stable", "asem"],
           "n_dyads": 3, "n_days": 5, "params": "reference", "seed": 7, "mode": "joint"}
    store = Store(tmp_path / "mr", cfg)
    rng = np.random.default_rng(3)
    tree = _ll_tree(rng, 0.0, true="asem", rep=1)
    store.write_fit(fit_key("asem", 1, "stable"), tree)
    assert compact_store(tmp_path / "mr") == 1
    assert compact_store(tmp_path / "mr") == 0  # already compact
    again = Store(tmp_path / "mr", cfg)  # reopening checks every checksum: nothing set aside
    assert not (tmp_path / "mr" / "damaged").exists()
    new = again.read_fit(fit_key("asem", 1, "stable"))
    # another candidate's fit keeps no posterior (the choice reads the LOO only)
    assert "log_likelihood" not in new.children and "posterior" not in new.children
    assert new["loo"]["elpd_i"].dtype == np.float32
    res = loo_result(new["loo"].to_dataset())
    assert res.asem_data == data_fingerprint(_run_dataset(cfg, "asem", 1))
    from arviz_stats import loo

    with pytest.warns(UserWarning):
        assert res.elpd == pytest.approx(loo(tree, var_name="log_lik").elpd)


def test_observation_model_options_reach_the_data_and_keep_old_stores_resumable(tmp_path):
    """Options change the run's settings and its simulated data; without options the settings
    are what stores written before the options existed recorded (so they resume)."""
    from asem_bayes.recovery import _run_dataset, _Settings

    base = dict(variants=("stable", "asem"), candidates=("stable", "asem"), n_dyads=3, n_days=5,
                params="reference", mode="conditional", loo_unit="person", draws=10, tune=10, chains=1,
                target_accept=0.8, cores=None, seed=1)
    plain = _Settings(**base).config()
    assert "residuals" not in plain and "person_correlation" not in plain
    opt = _Settings(**base, residuals=("partner",)).config()
    assert opt["residuals"] == ["partner"]
    assert "corr_A" in ab.true_params(_run_dataset(opt, "asem", 0))
    assert "corr_A" not in ab.true_params(_run_dataset(plain, "asem", 0))  # control
    with pytest.raises(ValueError, match="stable"):  # stable has no learning rates to correlate
        run_model_recovery(tmp_path / "x", variants=("stable", "asem"), person_correlation=("s0", "theta_neg_s"))


@pytest.mark.slow  # compiles two variants with the option
def test_model_recovery_with_an_observation_model_option(tmp_path):
    """A run with the partners' correlated residuals fits every candidate with them and recovers
    their correlation ``corr_A`` among the true variant's parameters."""
    kw = dict(variants=("stable", "asem"), reps=1, n_dyads=6, n_days=10, draws=100, tune=150, chains=2,
              workers=0, progress=False, seed=5, residuals=("partner",))
    res = run_model_recovery(tmp_path / "mr", **kw)
    assert not res.failed, res.failed
    assert len(res.loo) == 4 and res.config["residuals"] == ["partner"]
    assert {"corr_A", "corr_V"} <= set(res.parameters["parameter"])
