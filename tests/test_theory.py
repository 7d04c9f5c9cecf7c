"""Every claim of the theory in observable units (docs/model.md, section 10).

Each test simulates a seeded study at the reference parameters (300 couples unless stated), in
the units a study records: trait questionnaire scores at the first and last wave, daily state
ratings and event frequencies. Each asserts a direction and a size with a margin, then runs its
control and asserts that the same criterion *fails* there, so the measure can fail. Events come
from exogenous daily rates where a claim is about what situations do (the arms of an experiment
share the seed, so they share every event they have in common and the rating noise), and from
the event model where a claim is about the event model. The observed values with these seeds
are in each test's comment; margins sit at about half of the effect and several standard errors
from the control.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

import asem_bayes as ab
from asem_bayes.simulate import Design

N_DYADS, N_DAYS = 300, 56  # 8 weeks
QUIET = {"threat": 0.0, "safe": 0.0, "soft": 0.0, "confidence": 0.0, "dependence": 0.0}


def study(variant: str = "asem", seed: int = 1, days: int = N_DAYS, dyads: int = N_DYADS, rates=None, **params):
    """A seeded study; ``rates`` (exogenous daily rates, unnamed ones 0) replace the event model."""
    design = Design(exogenous_events={**QUIET, **rates}) if rates is not None else None
    return ab.simulate(variant, dyads, days, params=params or None, design=design, seed=seed)


def change(ds: xr.Dataset, trait: str) -> np.ndarray:
    """Per-person change of a trait score from the first to the last wave."""
    x = ds[trait].values
    return (x[..., -1] - x[..., 0]).ravel()


def mean_change(ds: xr.Dataset, trait: str) -> float:
    return float(change(ds, trait).mean())


def start(value_s: float, value_o: float | None = None, dyads: int = N_DYADS) -> dict[str, np.ndarray]:
    """Every person starts at the same working models (person-level learning rates still vary)."""
    value_o = value_s if value_o is None else value_o
    return {"s0": np.full((dyads, 2), value_s), "o0": np.full((dyads, 2), value_o)}


def halves(insecure: float = -0.5, secure: float = 0.5) -> dict[str, np.ndarray]:
    """The first half of the couples start insecure in both models, the second half secure."""
    x = np.where(np.arange(N_DYADS)[:, None] < N_DYADS // 2, insecure, secure) * np.ones((1, 2))
    return {"s0": x, "o0": x}


FIRST, SECOND = slice(0, N_DYADS // 2), slice(N_DYADS // 2, None)


def half_change(ds: xr.Dataset, trait: str, part: slice) -> float:
    x = ds[trait].values[part]
    return float((x[..., -1] - x[..., 0]).mean())


A, V = "trait_anxiety", "trait_avoidance"
BASE = {"confidence": 0.3, "dependence": 0.3}  # security-triggering days shared by both arms


# --- claim 2: working models change only through diagnostic situations ----------------------------


def test_claim2_no_events_no_trait_change():
    """Observed: +0.02 without any events (questionnaire noise only, SE 0.014); daily threats: +1.69."""
    assert abs(mean_change(study(rates={}), A)) < 0.06
    control = mean_change(study(rates={"threat": 1.0}), A)
    assert not abs(control) < 0.06 and control > 1.0, control


# --- claim 3: threats raise state insecurity and, unbuffered, erode working models -----------------


def test_claim3_threats_raise_state_anxiety_the_same_day():
    """Observed: threat days 0.82 above other days (tau_A = 0.8); with tau_A = 0 about 0 (control)."""

    def same_day(ds: xr.Dataset) -> float:
        threat = np.broadcast_to(ds["threat"].values[:, None, :] == 1, ds["state_anxiety"].shape)
        y = ds["state_anxiety"].values
        return float(y[threat].mean() - y[~threat].mean())

    assert same_day(study(rates={"threat": 0.3})) > 0.5
    control = same_day(study(rates={"threat": 0.3}, tau_A=0.0))
    assert not control > 0.5 and abs(control) < 0.1, control


def test_claim3_unbuffered_threats_erode_over_weeks():
    """Threats on 30% of days, never buffered, 8 weeks. Observed: trait anxiety +0.62, trait
    avoidance +0.61 under ``asem``; ``stable`` (control): +0.02."""
    rates = {"threat": 0.3}
    assert mean_change(study(rates=rates), A) > 0.3 and mean_change(study(rates=rates), V) > 0.3
    control = mean_change(study("stable", rates=rates), A)
    assert not control > 0.3 and abs(control) < 0.06, control


# --- claim 4: buffering protects but does not enhance; backfire; fatigue -----------------------------


def test_claim4_buffering_protects_only_in_asem():
    """Both arms: the same confidence and dependence days; one arm adds threats on 30% of days,
    each buffered with both strategies. With buffering that removes the whole erosion
    (e = 1 - 1e-6) buffered threats leave trait anxiety where threat-free weeks leave it (observed:
    -0.2114 both); at the reference e = 0.7 buffering removes 73% of the erosion (free -0.21,
    buffered -0.06, unbuffered +0.36). Control, ``buffer_enhances``: buffered threats make people
    more secure than threat-free weeks (observed -0.32 against -0.21)."""
    full = {"e_safe": 1 - 1e-6, "e_soft": 1 - 1e-6}
    buffered = {**BASE, "threat": 0.3, "safe": 1.0, "soft": 1.0}

    def gap(variant: str, **params) -> float:
        return mean_change(study(variant, rates=buffered, **params), A) - mean_change(study(variant, rates=BASE), A)

    assert abs(gap("asem", **full)) < 0.03
    free, unbuffered = mean_change(study(rates=BASE), A), mean_change(study(rates={**BASE, "threat": 0.3}), A)
    assert gap("asem") < 0.4 * (unbuffered - free)  # protects most of the erosion at the reference e
    control = gap("buffer_enhances", **full)
    assert not abs(control) < 0.03 and control < -0.06, control


def test_claim4_safe_strategies_backfire_on_insecure_models_of_others():
    """On threat days, a partner's safe strategy raises state avoidance of persons whose model of
    others is insecure (o = -0.6; observed +0.26, b_backfire * 0.6 = 0.18 plus noise) and not of
    secure ones (o = +0.6; observed -0.01, the control); with b_backfire = 0 it vanishes too."""

    def backfire(ds: xr.Dataset, part: slice) -> float:
        threat = np.broadcast_to(ds["threat"].values[:, None, :] == 1, ds["safe"].shape)[part]
        safe, y = ds["safe"].values[part] == 1, ds["state_avoidance"].values[part]
        return float(y[threat & safe].mean() - y[threat & ~safe].mean())

    rates = {"threat": 0.5, "safe": 0.5}
    ds = study(rates=rates, **halves(-0.6, 0.6))
    assert backfire(ds, FIRST) > 0.1
    for control in (backfire(ds, SECOND), backfire(study(rates=rates, b_backfire=0.0, **halves(-0.6, 0.6)), FIRST)):
        assert not control > 0.1 and abs(control) < 0.07, control


def _buffering_after_runs(variant: str) -> float:
    """Within each giver: P(safe strategy on a threat day | gave buffering on each of the 3 days
    before) minus P(safe | gave none on the 3 days before), averaged over givers with both."""
    ds = study(variant, seed=5, days=84, a0=1.0)  # threats on about half the days
    threat = ds["threat_true"].values == 1
    given = ds["safe_true"].values[:, ::-1, :] + ds["soft_true"].values[:, ::-1, :]  # by each giver
    safe = ds["safe_true"].values[:, ::-1, :]
    counts = np.zeros((4, *threat.shape[:2]))  # safe after a run, runs, safe after rest, rests
    for t in range(3, ds.sizes["day"]):
        run = (given[..., t - 3 : t] > 0).all(-1) & threat[..., t]
        rest = (given[..., t - 3 : t] == 0).all(-1) & threat[..., t]
        counts += np.stack([safe[..., t] * run, run, safe[..., t] * rest, rest])
    both = (counts[1] > 0) & (counts[3] > 0)
    return float((counts[0][both] / counts[1][both] - counts[2][both] / counts[3][both]).mean())


def test_claim4_fatigue_buffering_wanes_after_runs_and_recovers():
    """``asem_fatigue``: right after three days of buffering a partner buffers a threat less often
    than after three days of rest, within the same partner (observed -0.18, SE 0.013): buffering
    wanes with load and recovers with rest. Control, ``asem``: no difference (observed +0.00)."""
    assert _buffering_after_runs("asem_fatigue") < -0.09
    control = _buffering_after_runs("asem")
    assert not control < -0.09 and abs(control) < 0.05, control


# --- claim 5: targeted pathways -----------------------------------------------------------------------


def _pathway_gaps(variant: str) -> tuple[float, float]:
    """(anxiety minus avoidance change after confidence-rich weeks, avoidance minus anxiety change
    after dependence-rich weeks): both negative when the pathways are targeted."""
    c = study(variant, rates={"confidence": 0.7, "dependence": 0.05})
    d = study(variant, rates={"confidence": 0.05, "dependence": 0.7})
    return mean_change(c, A) - mean_change(c, V), mean_change(d, V) - mean_change(d, A)


def test_claim5_confidence_targets_anxiety_and_dependence_targets_avoidance():
    """Observed (asem): confidence -> anxiety -0.41, avoidance -0.12; dependence -> avoidance -0.40,
    anxiety -0.12 (gaps -0.29, -0.28). Control, ``uniform``: all four -0.31 (gaps 0.00)."""
    assert all(g < -0.15 for g in _pathway_gaps("asem"))
    control = _pathway_gaps("uniform")
    assert not all(g < -0.15 for g in control) and all(abs(g) < 0.03 for g in control), control


# --- claim 6: orientation-specific, self-reinforcing assimilation biases ------------------------------


PSI_ZERO = {"psi_pos_s": 0.0, "psi_neg_s": 0.0, "psi_pos_o": 0.0, "psi_neg_o": 0.0}


def _self_reinforcement(**params) -> float:
    """Identical events for all (threats 15% of days, half buffered; confidence 35%; dependence
    30%): trait-anxiety change of insecure starters (-0.5) minus that of secure starters (+0.5)."""
    rates = {"threat": 0.15, "safe": 0.5, "soft": 0.5, "confidence": 0.35, "dependence": 0.3}
    ds = study(rates=rates, **halves(), **params)
    return half_change(ds, A, FIRST) - half_change(ds, A, SECOND)


def test_claim6_identical_events_leave_insecure_starters_behind():
    """Observed: insecure starters +0.16 (more anxious), secure ones -0.15: gap +0.31. Control,
    psi = 0: +0.00 and +0.02 (gap -0.02): without the biases nobody is left behind."""
    assert _self_reinforcement() > 0.15
    control = _self_reinforcement(**PSI_ZERO)
    assert not control > 0.15 and abs(control) < 0.06, control


def _threat_over_praise(**params) -> float:
    """How much more anxious people (s = -0.5) than secure ones (s = +0.5) change after threats
    relative to praise: the ratio of |change after threats| to |change after praise| (threats
    or confidence-building on 30% of days), insecure over secure."""
    th = study(rates={"threat": 0.3}, **halves(), **params)
    pr = study(rates={"confidence": 0.3}, **halves(), **params)
    ratio = [abs(half_change(th, A, part) / half_change(pr, A, part)) for part in (FIRST, SECOND)]
    return ratio[0] / ratio[1]


def test_claim6_anxious_people_revise_more_after_threats_than_after_praise():
    """Observed: anxious +0.57 after threats against -0.08 after praise (7.3 : 1), secure +0.47
    against -0.16 (2.9 : 1): a 2.5 times larger ratio. Control, psi = 0: 0.39 times (the
    working model's tanh alone would tilt it the other way)."""
    assert _threat_over_praise() > 1.5
    control = _threat_over_praise(**PSI_ZERO)
    assert not control > 1.5 and control < 1.0, control


def _dependence_discount(**params) -> float:
    """Avoidance change after dependence on 40% of days: avoidant (o = -0.5) minus secure (+0.5)
    starters (positive: the avoidant take in less)."""
    ds = study(rates={"dependence": 0.4}, **halves(), **params)
    return half_change(ds, V, FIRST) - half_change(ds, V, SECOND)


def test_claim6_avoidant_people_discount_positive_dependence():
    """Observed: avoidant -0.10 against secure -0.23 (+0.14). Control, psi = 0: -0.17 against
    -0.13 (-0.04)."""
    assert _dependence_discount() > 0.07
    control = _dependence_discount(**PSI_ZERO)
    assert not control > 0.07 and control < 0.0, control


# --- claim 7: dyadic event model ----------------------------------------------------------------------


def _dyadic_contrasts(rates=None) -> tuple[float, float, float]:
    """Insecure couples (-0.6) minus secure couples (+0.6): share of threat days, and the share of
    threats buffered safely and softly (each sign flipped, so all three are positive under claim 7)."""
    ds = study(seed=2, rates=rates, **halves(-0.6, 0.6))
    threat = ds["threat_true"].values == 1
    out = [float(threat[FIRST, 0].mean() - threat[SECOND, 0].mean())]
    for name in ("safe", "soft"):
        x = ds[f"{name}_true"].values
        out.append(float(x[SECOND][threat[SECOND]].mean() - x[FIRST][threat[FIRST]].mean()))
    return tuple(out)


def test_claim7_insecure_couples_meet_more_threats_and_secure_partners_buffer_more():
    """Observed: threats on 51% against 9% of days (+0.42); safe 0.78 against 0.33 of threats
    (+0.44), soft 0.70 against 0.26 (+0.44). Control, exogenous events: +0.01, 0.00, 0.00."""
    assert all(x > 0.2 for x in _dyadic_contrasts())
    control = _dyadic_contrasts(rates={"threat": 0.2, "safe": 0.5, "soft": 0.5})
    assert not all(x > 0.2 for x in control) and all(abs(x) < 0.04 for x in control), control


# --- claim 8: two time scales ---------------------------------------------------------------------------


def _two_time_scales(variant: str) -> tuple[float, float]:
    """(within-person same-day difference in state anxiety, confidence-building days against
    other days; slope of the trait-anxiety change on the number of confidence-building days, per
    10 days), across persons of two studies with confidence on 10% and 60% of days."""
    same, count, delta = [], [], []
    for seed, rate in ((3, 0.1), (4, 0.6)):
        ds = study(variant, seed=seed, rates={"confidence": rate, "threat": 0.15, "safe": 0.5, "soft": 0.5})
        conf, y = ds["confidence"].values == 1, ds["state_anxiety"].values
        both = conf.any(-1) & (~conf).any(-1)
        on = np.where(conf, y, 0.0).sum(-1) / np.maximum(conf.sum(-1), 1)
        off = np.where(~conf, y, 0.0).sum(-1) / np.maximum((~conf).sum(-1), 1)
        same.append((on - off)[both])
        count.append(conf.sum(-1).ravel())
        delta.append(change(ds, A))
    slope = np.polyfit(np.concatenate(count), np.concatenate(delta), 1)[0]
    return float(np.concatenate(same).mean()), float(10 * slope)


def test_claim8_no_same_day_link_yet_a_longitudinal_one():
    """Observed (asem): same-day difference +0.00; 10 more confidence-building days, 0.12 larger
    decline in trait anxiety. Control, ``stable``: same-day +0.00, slope -0.01."""
    same_day, slope = _two_time_scales("asem")
    assert abs(same_day) < 0.05 and slope < -0.06
    same_day, control = _two_time_scales("stable")
    assert abs(same_day) < 0.05 and not control < -0.06 and abs(control) < 0.03, control


# --- the promise: targeted situations make an insecure person more secure ------------------------------


def test_promise_targeted_situations_make_insecure_people_more_secure():
    """Everyone starts insecure (s = o = -0.5) for 16 weeks of confidence-building on 80% of days
    and threats on 10%, each met with a safe strategy: trait anxiety falls (observed -0.41).
    Control, the same person given the untargeted situations (dependence and soft strategies):
    anxiety rises (+0.33), as it does with the threats alone (+0.39)."""
    targeted = study(days=112, rates={"confidence": 0.8, "threat": 0.1, "safe": 1.0}, **start(-0.5))
    assert mean_change(targeted, A) < -0.2
    untargeted = study(days=112, rates={"dependence": 0.8, "threat": 0.1, "soft": 1.0}, **start(-0.5))
    control = mean_change(untargeted, A)
    assert not control < -0.2 and control > 0.1, control
