"""The score check: simulator and likelihood agree parameter by parameter, and a broken pairing fails.

Numpy only (no compilation). Threshold: under a correct likelihood each t statistic is close to
standard normal (300 independent dyads); about 50 of them are tested per variant, and
P(max |t| > 4.5) < 50 * 7e-6 < 0.001, so 4.5 flags mismatches, not chance. The seeds are fixed,
so the outcome is deterministic either way.
"""

from __future__ import annotations

import numpy as np
import pytest

import asem_bayes as ab
from asem_bayes.checks import score_check

VARIANTS = ["stable", "uniform", "asem", "buffer_enhances", "asem_fatigue"]
T_MAX = 4.5


@pytest.fixture(scope="module")
def asem_study():
    return ab.simulate("asem", n_dyads=300, n_days=21, seed=11)


@pytest.mark.parametrize("variant", VARIANTS)
def test_score_at_truth_is_mean_zero_for_every_variant(variant):
    study = ab.simulate(variant, n_dyads=300, n_days=21, seed=11)
    res = score_check(study)
    v = ab.get_variant(variant)
    # Conditional mode: every parameter except the event model's enters the likelihood; joint
    # mode (asem_fatigue's default): all of them.
    expected = {p.name for p in v.params if res.attrs["mode"] == "joint" or p.group != "events"}
    assert set(res.index[res["in_likelihood"]]) == expected
    worst = res["t"].abs().max()
    assert worst < T_MAX, res.sort_values("t").to_string()


def test_joint_mode_scores_event_parameters(asem_study):
    res = score_check(asem_study, mode="joint")
    assert res["in_likelihood"].all()
    assert res["t"].abs().max() < T_MAX, res.to_string()


def test_swapped_partner_events_fail_the_check(asem_study):
    """Control: a classic dyadic bug (own instead of the partner's soft strategy) must be caught,
    and the check must point at the parameter whose term is wrong."""
    bad = asem_study.copy(deep=True)
    bad["soft"] = bad["soft"].isel(person=[1, 0]).assign_coords(person=bad["person"].values)
    res = score_check(bad)
    assert res["t"].abs().idxmax() == "b_soft"
    assert abs(res.loc["b_soft", "t"]) > T_MAX


def test_wrong_parameter_value_fails_the_check(asem_study):
    """Control: the score at a value 0.3 off the truth (about 10 standard errors here) is flagged."""
    params = ab.true_params(asem_study)
    params["tau_V"] = params["tau_V"] + 0.3
    res = score_check(asem_study, params=params)
    assert res.loc["tau_V", "t"] < -T_MAX
    assert np.isfinite(res.loc["tau_V", "se"])
