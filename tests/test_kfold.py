"""Exact K-fold cross-validation (asem_bayes.kfold) and its use in compare."""

from __future__ import annotations

import numpy as np
import pytest

from asem_bayes.compare import ComparisonError, compare
from asem_bayes.kfold import KFoldWrapper, kfold, kfold_split
from asem_bayes.study import wave_positions

SAMPLE = {"draws": 200, "tune": 200, "chains": 2, "target_accept": 0.95}


@pytest.fixture(scope="module")
def pw_fit(small_study, compiled_asem):
    return compiled_asem.fit(small_study, seed=5, loo_unit="person-week", **SAMPLE)


def test_fold_masks_exactly_the_held_out_units(small_study, compiled_asem, pw_fit):
    w = KFoldWrapper(pw_fit, small_study, compiled_asem, {})
    assert w.n_units == 12 * 2 * 3  # 21 days = 3 weeks per person
    held = np.array([0, 5, 40])
    train, test = w.sel_observations(held)
    np.testing.assert_array_equal(test, held)
    cells = w.held_out_cells(held)
    assert cells.sum() == 3 * 7
    for name in ("state_anxiety", "state_avoidance"):
        x = train[name].transpose("dyad", "person", "day").values
        y = small_study[name].transpose("dyad", "person", "day").values
        assert np.isnan(x[cells]).all()
        np.testing.assert_array_equal(x[~cells], y[~cells])
    # unit 0 = dyad 0, person 0, week 0: its trait wave on day 0 is held out too
    ta = train["trait_anxiety"].transpose("dyad", "person", "wave").values
    assert np.isnan(ta[0, 0, 0]) and not np.isnan(ta[0, 1, 0])
    assert np.isnan(ta).sum() == np.isnan(small_study["trait_anxiety"].values).sum() + sum(
        cells[:, :, p].sum() for p in wave_positions(small_study)
    )


class _LeakyWrapper(KFoldWrapper):
    """Deliberately broken: refits on the full data, so the 'held-out' units were seen."""

    def sel_observations(self, idx):
        return self.data, np.asarray(idx, dtype=int)


def test_kfold_scores_held_out_units_and_a_leak_is_caught(small_study, compiled_asem, pw_fit, monkeypatch):
    res = kfold(pw_fit, small_study, compiled=compiled_asem, k=2, seed=1, **SAMPLE)
    assert res.n_data_points == 72 and res.n_folds == 2
    assert np.isfinite(res.elpd) and np.isfinite(res.elpd_i.values).all()
    assert res.asem_unit == "person-week" and len(res.refit_diagnostics) == 2
    # Held-out person-weeks are predicted worse than in-sample: p_kfold = lpd - elpd_kfold is
    # about the effective number of parameters (8 per person for 24 persons, partly pooled;
    # 121 at this seed), clearly above 0.
    assert res.p > 10
    # Control: a wrapper that leaks the held-out data into the refit makes p_kfold collapse to
    # Monte Carlo noise between two fits of the same data. That noise follows the floating point
    # of the sampler's path: |p| was 1.0 at this seed with the scalar day-loop kernel and 6.2 with
    # the vectorised one, while the honest p was 121 and 116. So the bound is relative: a leak
    # leaves less than a quarter of the honest p (about 29), over four times the largest noise seen.
    import asem_bayes.kfold as kf

    monkeypatch.setattr(kf, "KFoldWrapper", _LeakyWrapper)
    leak = kfold(pw_fit, small_study, compiled=compiled_asem, k=2, seed=1, **SAMPLE)
    assert abs(leak.p) < 0.25 * res.p


def test_compare_takes_kfold_results_and_refuses_mixtures(small_study, compiled_asem, pw_fit):
    res = kfold(pw_fit, small_study, compiled=compiled_asem, k=2, seed=2, **SAMPLE)
    other = kfold(pw_fit, small_study, compiled=compiled_asem, k=2, seed=3, **SAMPLE)
    table = compare({"a": res, "b": other})
    assert set(table.index) == {"a", "b"} and table.attrs["method"] == "kfold"
    assert (table["k_bad"] == 0).all()
    with pytest.raises(ComparisonError, match="mix"):
        compare({"a": res, "b": pw_fit})
    other.asem_data = "different"
    with pytest.raises(ComparisonError, match="data"):
        compare({"a": res, "b": other})
    # different seeds of the refits share the default split; a different split is refused
    np.testing.assert_array_equal(res.asem_folds, other.asem_folds)
    other.asem_data = res.asem_data
    other.asem_folds = res.asem_folds[::-1].copy()
    with pytest.raises(ComparisonError, match="fold splits"):
        compare({"a": res, "b": other})


@pytest.mark.parametrize(("n_days", "k"), [(56, 4), (21, 2), (30, 4)])
def test_kfold_split_stratifies_person_weeks_by_person(n_days, k):
    n_dyads = 30
    folds = kfold_split("person-week", n_dyads, n_days, k=k, seed=3)
    weeks = (n_days + 6) // 7
    assert folds.shape == (n_dyads * 2 * weeks,) and set(np.unique(folds)) == set(range(1, k + 1))
    per_person = folds.reshape(n_dyads * 2, weeks)
    counts = np.stack([(per_person == f).sum(axis=1) for f in range(1, k + 1)], axis=1)
    # every person has floor or ceil(weeks / k) weeks in each fold ...
    assert counts.min() >= weeks // k and counts.max() <= -(-weeks // k)
    # ... and the folds are about equally large overall (random first fold per person)
    assert np.ptp(counts.sum(axis=0)) <= 0.2 * counts.sum() / k
    np.testing.assert_array_equal(folds, kfold_split("person-week", n_dyads, n_days, k=k, seed=3))
    assert not np.array_equal(folds, kfold_split("person-week", n_dyads, n_days, k=k, seed=4))
    # Control: persons are whole units, so that split is plain random and balanced only overall
    persons = kfold_split("person", n_dyads, n_days, k=k, seed=3)
    assert np.bincount(persons)[1:].tolist() == [n_dyads * 2 // k + (f < n_dyads * 2 % k) for f in range(k)]
    with pytest.raises(ValueError, match="at least 2"):
        kfold_split("person-week", n_dyads, n_days, k=1)


def test_kfold_refuses_a_fit_without_unit_log_likelihood(small_study, compiled_asem, asem_small_fit):
    from asem_bayes.inputs import DataError

    fit = asem_small_fit.copy()
    if "log_likelihood" in fit.children:
        del fit["log_likelihood"]
    with pytest.raises(DataError, match="loo_unit"):
        kfold(fit, small_study, compiled=compiled_asem)
