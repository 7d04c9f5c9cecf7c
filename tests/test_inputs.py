"""prepare_inputs on hand-built studies: shared events, imputation, couples' diary spans."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.inputs import DataError, prepare_inputs
from asem_bayes.model import states_numpy


def study(n_dyads: int = 2, n_days: int = 4, **events: np.ndarray) -> xr.Dataset:
    """A study with one state-anxiety rating on every person-day and the given events (arrays of
    dims (dyad, day) or (dyad, person, day), chosen by their number of axes)."""
    coords = {D.DYAD: np.arange(n_dyads), D.PERSON: np.arange(2), D.DAY: np.arange(n_days)}
    data = {"state_anxiety": (D.PERSON_DAY_DIMS, np.full((n_dyads, 2, n_days), 3.0))}
    for name, x in events.items():
        x = np.asarray(x, dtype=float)
        data[name] = (D.DYAD_DAY_DIMS if x.ndim == 2 else D.PERSON_DAY_DIMS, x)
    return xr.Dataset(data, coords=coords)


def cells(n_days: int, dyad: int, person: int, days) -> np.ndarray:
    """Flat indices of (dyad, person, day) cells, as ModelInputs.obs holds them."""
    return (dyad * 2 + person) * n_days + np.asarray(days)


# --------------------------------------------------------------------------------------------
# shared events reported by each partner


def test_a_shared_event_reported_by_one_partner_drives_both_and_is_scored_once():
    threat = np.zeros((2, 2, 4))
    threat[0, 0, 0] = np.nan  # person 0 of couple 0 missed day 0; person 1 reported a threat
    threat[0, 1, 0] = 1.0
    threat[1, :, 2] = 1.0  # both partners of couple 1 report the threat of day 2
    inp = prepare_inputs(study(threat=threat), joint=True)
    ev = inp.events["threat"]  # (day, dyad, person)
    np.testing.assert_array_equal(ev[:, 0, 0], ev[:, 0, 1])
    np.testing.assert_array_equal(ev[:, 0, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(ev[:, 1, 0], ev[:, 1, 1])
    idx, y = inp.obs["event_threat"]
    # one outcome per dyad-day, in person 0's cell: 2 dyads x 4 days, not 15 person reports
    np.testing.assert_array_equal(idx, np.concatenate([cells(4, 0, 0, range(4)), cells(4, 1, 0, range(4))]))
    np.testing.assert_array_equal(y, [1, 0, 0, 0, 0, 0, 1, 0])


def test_partners_who_disagree_about_a_shared_event_need_a_policy():
    dep = np.zeros((2, 2, 4))
    dep[1, 0, 3], dep[1, 1, 3] = 1.0, 0.0
    dep[0, 0, 1], dep[0, 1, 1] = 0.0, 1.0
    ds = study(threat=np.zeros((2, 4)), dependence=dep)
    with pytest.raises(DataError, match=r"'dependence' differ on 2 dyad-day\(s\): dyad 0, day 1 \(0 vs 1\)"):
        prepare_inputs(ds, joint=True)
    for policy, value in (("first", [0, 1]), ("either", [1, 1]), ("both", [0, 0])):
        inp = prepare_inputs(ds, joint=True, shared_events=policy)
        ev = inp.events["dependence"]
        np.testing.assert_array_equal(ev[:, :, 0], ev[:, :, 1])  # one value for both partners
        np.testing.assert_array_equal([ev[1, 0, 0], ev[3, 1, 0]], value, err_msg=policy)
        idx, y = inp.obs["event_dependence"]
        assert len(idx) == 2 * 4 and set(idx % 8 // 4) == {0}  # once per dyad-day, person 0's cell
        np.testing.assert_array_equal([y[1], y[4 + 3]], value, err_msg=policy)


# --------------------------------------------------------------------------------------------
# imputing missing events at the person's rate


def buffering_study() -> xr.Dataset:
    """One couple, 8 days; person 0 received safe buffering on 2 of 3 reported threat days."""
    nan = np.nan
    threat = np.array([[1, 1, 1, 1, 0, 0, nan, 0]])
    safe = np.zeros((1, 2, 8))
    safe[0, 0] = [1, 0, nan, 1, 0, 0, nan, nan]
    return study(1, 8, threat=threat, safe=safe, soft=np.zeros((1, 2, 8)))


def test_person_rate_imputes_buffering_conditional_on_the_threat():
    inp = prepare_inputs(buffering_study(), missing_events="person_rate")
    p_threat = 4 / 7  # the couple's threat rate over its 7 reported days
    np.testing.assert_allclose(inp.events["threat"][6, 0], [p_threat, p_threat])
    safe = inp.events["safe"][:, 0, 0]
    np.testing.assert_allclose(safe[[0, 1, 3, 4, 5]], [1, 0, 1, 0, 0])  # reported: kept
    np.testing.assert_allclose(safe[2], 2 / 3)  # a reported threat: the rate among threat days
    np.testing.assert_allclose(safe[7], 0.0)  # no threat, no buffering
    np.testing.assert_allclose(safe[6], p_threat * 2 / 3)  # threat missing too: P(threat) P(safe | threat)


def test_buffering_is_scored_only_on_reported_threat_days():
    ds = buffering_study()
    ds["safe"][0, 0, 6] = 1.0  # reported, but the threat of that day is missing
    inp = prepare_inputs(ds, joint=True, missing_events="person_rate")
    idx, _ = inp.obs["event_safe"]
    assert inp.events["threat"][6, 0, 0] > 0.5  # an imputed threat is not a reported one
    np.testing.assert_array_equal(idx, cells(8, 0, 0, [0, 1, 3]).tolist() + cells(8, 0, 1, [0, 1, 2, 3]).tolist())


# --------------------------------------------------------------------------------------------
# couples whose diaries are shorter than the study


def diary_table(spans: dict[str, tuple[int, int]], seed: int = 0) -> pd.DataFrame:
    """A long table with rows (every event and a daily rating) only on each couple's own days."""
    rng = np.random.default_rng(seed)
    rows = []
    for dyad, (first, last) in spans.items():
        for day in range(first, last + 1):
            shared = {e: float(rng.random() < 0.5) for e in D.DYAD_EVENTS}
            for person in (0, 1):
                own = {e: float(rng.random() < 0.5) for e in D.PERSON_EVENTS}
                if shared["threat"] == 0:
                    own.update(safe=0.0, soft=0.0)
                rows.append({"dyad": dyad, "person": person, "day": day, **shared, **own, "state_anxiety": 3.0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("joint", [False, True], ids=["conditional", "joint"])
@pytest.mark.parametrize("policy", ["error", "absent", "person_rate"])
def test_days_after_a_couples_last_report_carry_no_events_and_no_scores(policy, joint):
    ds = ab.from_long(diary_table({"a": (1, 10), "b": (1, 5)}))  # couple b stops at day 5 of 10
    inp = prepare_inputs(ds, joint=joint, missing_events=policy)
    np.testing.assert_array_equal(inp.in_diary, [[True] * 10, [True] * 5 + [False] * 5])
    for name, ev in inp.events.items():
        np.testing.assert_array_equal(ev[5:, 1], 0.0, err_msg=name)  # (day, dyad, person)
    padded = cells(10, 1, 0, range(5, 10)).tolist() + cells(10, 1, 1, range(5, 10)).tolist()
    for key, (idx, _) in inp.obs.items():
        assert not np.isin(idx, padded).any(), key
    # no evidence, no change: couple b's working models stay where day 5 left them
    p = ab.true_params(ab.simulate("asem", 2, 10, seed=1))
    S, O, _ = states_numpy(ab.get_variant("asem"), p, inp.events)
    np.testing.assert_array_equal(S[5:, 1], np.broadcast_to(S[5, 1], S[5:, 1].shape))
    np.testing.assert_array_equal(O[5:, 1], np.broadcast_to(O[5, 1], O[5:, 1].shape))


@pytest.mark.parametrize("policy", ["error", "absent", "person_rate"])
def test_days_before_a_couples_first_report_carry_no_events(policy):
    ds = ab.from_long(diary_table({"a": (0, 7), "late": (3, 7)}))
    inp = prepare_inputs(ds, missing_events=policy)
    np.testing.assert_array_equal(inp.in_diary[1], [False] * 3 + [True] * 5)
    for name, ev in inp.events.items():
        np.testing.assert_array_equal(ev[:3, 1], 0.0, err_msg=name)
    assert any("fewer days than the study" in n for n in inp.notes)


def test_a_couples_rate_counts_its_own_diary_days_only():
    df = diary_table({"a": (0, 7), "late": (3, 7)})
    me = (df["dyad"] == "late") & (df["person"] == 0)
    df.loc[me & (df["day"] == 5), "confidence"] = np.nan
    inp = prepare_inputs(ab.from_long(df), missing_events="person_rate")
    reported = df.loc[me & (df["day"] != 5), "confidence"]
    np.testing.assert_allclose(inp.events["confidence"][5, 1, 0], reported.mean())


def test_missing_event_error_names_both_spellings():
    """A CLI user is told the option to pass, a Python user the argument."""
    study = ab.simulate("asem", 3, 8, design=ab.Design(missing_days=0.3), seed=2)
    with pytest.raises(DataError, match=r"missing_events='absent'.*--missing-events absent"):
        prepare_inputs(study)
