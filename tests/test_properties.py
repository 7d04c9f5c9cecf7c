"""Property tests of the one-day dynamics (MODEL.md section 3) with hypothesis.

Every test uses a derandomised profile (fixed examples, no example database), so a CI run is
reproducible; the examples still cover the schema's bounds, binary events and intensities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import asem_bayes as ab
from asem_bayes import dynamics
from asem_bayes.dynamics import STATE_BOUND, Events
from asem_bayes.registry import get_variant, list_variants
from asem_bayes.schema import Variant

PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=80,
    suppress_health_check=[HealthCheck.too_slow],
)
CAP = 10.0  # finite stand-in for infinite bounds (logits, rating intercepts)
SHAPE = (2, 2)  # (dyad, person)
TARGETED = ["asem", "buffer_enhances", "asem_fatigue"]  # variants with confidence -> self, dependence -> others
BIASED = TARGETED  # variants whose learning rates carry the assimilation biases psi


def _in_bounds(bounds: tuple[float, float]) -> st.SearchStrategy[float]:
    """Floats inside open bounds, with the values just inside each finite bound drawn often:
    the corners (fastest learning, strongest bias, full buffering) are where bounds break."""
    lo, hi = bounds
    inner = st.floats(max(lo, -CAP), min(hi, CAP), exclude_min=lo > -CAP, exclude_max=hi < CAP, allow_nan=False)
    edges = [np.nextafter(b, m) for b, m in ((lo, hi), (hi, lo)) if abs(b) < CAP]
    return st.one_of(st.sampled_from(edges), inner) if edges else inner


def params_strategy(v: Variant) -> st.SearchStrategy[dict[str, float]]:
    """Any population values inside the schema's bounds; person-level values inside the bounds of
    their population mean (the dynamics read the person-level ``theta``)."""
    fields = {p.name: _in_bounds(p.bounds) for p in v.params}
    for pp in v.person_params:
        fields[pp.name] = _in_bounds(v.param(pp.mu).bounds)
    return st.fixed_dictionaries(fields)


event_value = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))  # binary or an intensity
states = hnp.arrays(np.float64, SHAPE, elements=st.floats(-STATE_BOUND, STATE_BOUND))


@st.composite
def events_strategy(draw, n_days: int = 1) -> list[Events]:
    """``n_days`` days of arbitrary events (one array draw: hypothesis is slow per draw)."""
    x = draw(hnp.arrays(np.float64, (n_days, 5, *SHAPE), elements=event_value))
    return [Events(*day) for day in x]


def reference(variant: str, **override: Any) -> dict[str, Any]:
    """Reference values, person-level parameters set to their population means."""
    v = get_variant(variant)
    p: dict[str, Any] = dict(v.defaults())
    p.update({pp.name: p[pp.mu] for pp in v.person_params})
    p.update(override)
    return p


def one_day(**events: float) -> Events:
    """A day with the given events (all others absent), broadcastable to any state shape."""
    return Events(*(np.float64(events.get(name, 0.0)) for name in Events._fields))


# --- boundedness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list_variants())
@PROFILE
@given(data=st.data())
def test_states_stay_inside_bounds(variant: str, data: st.DataObject):
    v = get_variant(variant)
    p = data.draw(params_strategy(v), label="params")
    s, o = data.draw(states, label="s"), data.draw(states, label="o")
    for ev in data.draw(events_strategy(n_days=4), label="events"):
        raw_s, raw_o = dynamics.raw_step(np, v, s, o, ev, p)
        # the bounded delta rule itself, before the floating-point clamp
        assert np.all(np.abs(raw_s) <= 1.0) and np.all(np.abs(raw_o) <= 1.0)
        s, o = dynamics.step(np, v, s, o, ev, p)
        assert np.all(np.abs(s) < 1.0) and np.all(np.abs(o) < 1.0)


@pytest.mark.parametrize("variant", list_variants())
@settings(PROFILE, max_examples=25)
@given(data=st.data())
def test_simulated_studies_stay_bounded_and_finite(variant: str, data: st.DataObject):
    """Whole simulations with any population values inside the bounds (person values then fall
    wherever ``mu + sd * z`` puts them, even outside the population bounds)."""
    v = get_variant(variant)
    pop = data.draw(st.fixed_dictionaries({p.name: _in_bounds(p.bounds) for p in v.params}), label="params")
    ds = ab.simulate(v, 3, 8, params=pop, seed=data.draw(st.integers(0, 2**32 - 1), label="seed"))
    for name in ("self_model", "others_model"):
        x = ds[name].values
        assert np.all(np.abs(x) < 1.0), name
    for name in ("state_anxiety", "state_avoidance", "trait_anxiety", "fatigue"):
        assert np.all(np.isfinite(ds[name].values)), name


# --- stable -----------------------------------------------------------------------------------------


@PROFILE
@given(data=st.data())
def test_stable_never_moves_the_working_models(data: st.DataObject):
    v = get_variant("stable")
    p = data.draw(params_strategy(v))
    s, o = data.draw(states), data.draw(states)
    for ev in data.draw(events_strategy(n_days=3)):
        s1, o1 = dynamics.step(np, v, s, o, ev, p)
        np.testing.assert_array_equal(s1, s)
        np.testing.assert_array_equal(o1, o)


# --- targeted pathways ------------------------------------------------------------------------------


theta = st.floats(-12.0, 1.2, exclude_min=True, exclude_max=True)
psi = st.floats(-2.0, 2.0, exclude_min=True, exclude_max=True)
unit_open = st.floats(0.0, 1.0, exclude_min=True, exclude_max=True)


def _gain(log_rate, evidence):
    """Independent re-statement of ``1 - exp(-exp(log_rate) * evidence)``."""
    return 1.0 - np.exp(-np.exp(log_rate) * evidence)


@pytest.mark.parametrize("variant", TARGETED)
@pytest.mark.parametrize("situation", ["confidence", "dependence"])
@PROFILE
@given(
    s=st.floats(-0.99, 0.99), o=st.floats(-0.99, 0.99), amount=st.floats(0.01, 1.0),
    th_s=theta, th_o=theta, psi_s=psi, psi_o=psi, rho=st.one_of(st.just(0.0), unit_open),
)
def test_a_security_situation_moves_its_target_and_the_other_model_only_by_the_ripple(
    variant, situation, s, o, amount, th_s, th_o, psi_s, psi_o, rho
):
    """Confidence-building moves the model of self (dependence: of others); the other working
    model moves only by the ripple ``rho`` (not at all when ``rho = 0``)."""
    v = get_variant(variant)
    p = reference(variant, theta_pos_s=th_s, theta_pos_o=th_o, psi_pos_s=psi_s, psi_pos_o=psi_o, rho=rho)
    s_arr, o_arr = np.array([s, s]), np.array([o, o])
    s1, o1 = dynamics.raw_step(np, v, s_arr, o_arr, one_day(**{situation: amount}), p)
    target, other = (s, o) if situation == "confidence" else (o, s)
    new_target, new_other = (s1, o1) if situation == "confidence" else (o1, s1)
    th_t, psi_t, th_r, psi_r = (th_s, psi_s, th_o, psi_o) if situation == "confidence" else (th_o, psi_o, th_s, psi_s)

    expected_target = _gain(th_t + psi_t * target, amount) * (1 - target)
    np.testing.assert_allclose(new_target - target, expected_target, rtol=1e-8, atol=1e-15)
    assert np.all(new_target >= target)
    if expected_target > 1e-12:  # a move above rounding noise is a strict move up
        assert np.all(new_target > target)

    ripple = _gain(th_r + psi_r * other, rho * amount) * (1 - other)
    np.testing.assert_allclose(new_other - other, ripple, rtol=1e-8, atol=1e-15)
    assert np.all(new_other >= other)
    if rho == 0.0:
        np.testing.assert_array_equal(new_other, other)


def test_ripple_is_weaker_than_the_targeted_gain():
    """At equal learning rates the other model moves less (rho < 1) than the targeted one."""
    v = get_variant("asem")
    p = reference("asem", psi_pos_s=0.0, psi_pos_o=0.0, theta_pos_o=-3.5, theta_pos_s=-3.5, rho=0.25)
    s1, o1 = dynamics.step(np, v, np.zeros(2), np.zeros(2), one_day(confidence=1.0), p)
    # rho = 0.25: about a quarter of the gain (a little more, as 1 - exp(-x) is concave)
    assert np.all(o1 > 0.2 * s1) and np.all(o1 < 0.3 * s1)


# --- buffering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["uniform", "asem", "asem_fatigue"])
@PROFILE
@given(data=st.data())
def test_a_fully_buffered_threat_leaves_the_models_where_they_were(variant: str, data: st.DataObject):
    v = get_variant(variant)
    p = {**data.draw(params_strategy(v)), "e_safe": 1.0, "e_soft": 1.0}
    s, o = data.draw(states), data.draw(states)
    s1, o1 = dynamics.raw_step(np, v, s, o, one_day(threat=1.0, safe=1.0, soft=1.0), p)
    np.testing.assert_array_equal(s1, s)
    np.testing.assert_array_equal(o1, o)


@PROFILE
@given(
    s=st.floats(-0.99, 0.99), o=st.floats(-0.99, 0.99), th=st.floats(-8.0, 1.2),
    e_safe=st.floats(0.0, 0.99), e_soft=st.floats(0.0, 0.99),
)
def test_buffering_is_targeted_and_partial_buffering_still_erodes(s, o, th, e_safe, e_soft):
    """Control for the test above: less than full buffering lets a threat erode, and safe
    buffering protects only the model of self, soft only the model of others."""
    v = get_variant("asem")
    p = reference("asem", theta_neg_s=th, theta_neg_o=th, e_safe=e_safe, e_soft=e_soft)
    s_arr, o_arr = np.array([s, s]), np.array([o, o])
    s1, o1 = dynamics.raw_step(np, v, s_arr, o_arr, one_day(threat=1.0, safe=1.0, soft=1.0), p)
    assert np.all(s1 < s_arr) and np.all(o1 < o_arr)
    p_full = {**p, "e_safe": 1.0, "e_soft": 1.0}
    s2, o2 = dynamics.raw_step(np, v, s_arr, o_arr, one_day(threat=1.0, safe=1.0), p_full)
    np.testing.assert_array_equal(s2, s_arr)
    assert np.all(o2 < o_arr)
    s3, o3 = dynamics.raw_step(np, v, s_arr, o_arr, one_day(threat=1.0, soft=1.0), p_full)
    assert np.all(s3 < s_arr)
    np.testing.assert_array_equal(o3, o_arr)


@PROFILE
@given(data=st.data())
def test_buffering_enhances_in_buffer_enhances(data: st.DataObject):
    """In ``buffer_enhances`` a fully buffered threat never erodes and, with kappa > 0, enhances."""
    v = get_variant("buffer_enhances")
    p = {**data.draw(params_strategy(v)), "e_safe": 1.0, "e_soft": 1.0}
    s, o = data.draw(states), data.draw(states)
    s1, o1 = dynamics.raw_step(np, v, s, o, one_day(threat=1.0, safe=1.0, soft=1.0), p)
    assert np.all(s1 >= s) and np.all(o1 >= o)
    q = reference("buffer_enhances", kappa=0.6, e_safe=1.0, e_soft=1.0)
    s2, o2 = dynamics.raw_step(np, v, np.zeros(2), np.zeros(2), one_day(threat=1.0, safe=1.0, soft=1.0), q)
    assert np.all(s2 > 0) and np.all(o2 > 0)


# --- assimilation biases (MODEL.md section 3) ----------------------------------------------------


def test_reference_biases_have_the_theorys_signs():
    for variant in BIASED:
        d = get_variant(variant).defaults()
        assert d["psi_pos_s"] > 0 and d["psi_pos_o"] > 0  # insecure models take in less positive evidence
        assert d["psi_neg_s"] < 0 and d["psi_neg_o"] < 0  # ... and more negative evidence


def _shares(variant: str, model: str, sign: str, lo: float, hi: float, th: float, bias: float, amount: float):
    """Share of the gap closed (positive evidence) or opened (negative) for a low and a high
    working model receiving the same evidence."""
    v = get_variant(variant)
    suffix = "s" if model == "self" else "o"
    p = reference(variant, **{f"theta_{sign}_{suffix}": th, f"psi_{sign}_{suffix}": bias, "rho": 0.25})
    x = np.array([lo, hi])
    other = np.zeros(2)
    if sign == "pos":
        ev = one_day(**{"confidence" if model == "self" else "dependence": amount})
    else:
        ev = one_day(threat=amount)  # unbuffered
    s, o = (x, other) if model == "self" else (other, x)
    s1, o1 = dynamics.raw_step(np, v, s, o, ev, p)
    new = s1 if model == "self" else o1
    return (new - x) / (1 - x) if sign == "pos" else (x - new) / (1 + x)


@pytest.mark.parametrize("variant", BIASED)
@pytest.mark.parametrize("model", ["self", "others"])
@pytest.mark.parametrize("sign", ["pos", "neg"])
@PROFILE
@given(
    lo=st.floats(-0.95, 0.5), gap=st.floats(0.2, 0.9), th=st.floats(-8.0, 0.0),
    bias=st.floats(0.05, 2.0), amount=st.floats(0.1, 1.0),
)
def test_assimilation_bias_signs(variant, model, sign, lo, gap, th, bias, amount):
    """psi > 0: the lower (more insecure) model takes in a smaller share of the same evidence;
    psi < 0: a larger share; psi = 0: the same share. For praise (pos) with psi_pos > 0 the
    insecure take in less praise; for blame (neg) with psi_neg < 0 they take in more blame."""
    hi = lo + gap
    assume(hi < 0.99)
    low, high = _shares(variant, model, sign, lo, hi, th, +bias, amount)
    assert low < high
    low, high = _shares(variant, model, sign, lo, hi, th, -bias, amount)
    assert low > high
    low, high = _shares(variant, model, sign, lo, hi, th, 0.0, amount)
    np.testing.assert_allclose(low, high, rtol=1e-6)


@pytest.mark.parametrize("model", ["self", "others"])
def test_uniform_has_no_assimilation_bias(model: str):
    v = get_variant("uniform")
    p = reference("uniform")
    x = np.array([-0.6, 0.6])
    ev = one_day(confidence=1.0)
    s1, o1 = dynamics.raw_step(np, v, x, x, ev, p)
    new = s1 if model == "self" else o1
    share = (new - x) / (1 - x)
    np.testing.assert_allclose(share[0], share[1], rtol=1e-9)
