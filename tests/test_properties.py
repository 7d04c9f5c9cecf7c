"""Property tests of the one-day latent update (docs/model.md, section 3) with hypothesis.

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
from asem_bayes.dynamics import Events
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
    """Floats inside open bounds (infinite ones capped), with the values just inside each finite
    bound drawn often: the corners (full buffering, no ripple) are where bounds break."""
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
latents = hnp.arrays(np.float64, SHAPE, elements=st.floats(-30.0, 30.0))  # working models tanh(z)


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


# --- finiteness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list_variants())
@PROFILE
@given(data=st.data())
def test_the_update_stays_finite_for_any_parameters_and_events(variant: str, data: st.DataObject):
    """Any parameter values (infinite bounds capped at +-10, so rates up to exp(30) per event) and
    any events: the latents stay finite, the working models inside [-1, 1]."""
    v = get_variant(variant)
    p = data.draw(params_strategy(v), label="params")
    zs, zo = data.draw(latents, label="zs"), data.draw(latents, label="zo")
    for ev in data.draw(events_strategy(n_days=4), label="events"):
        zs, zo = dynamics.step(np, v, zs, zo, ev, p)
        assert np.all(np.isfinite(zs)) and np.all(np.isfinite(zo))
        assert np.all(np.abs(np.tanh(zs)) <= 1.0) and np.all(np.abs(np.tanh(zo)) <= 1.0)


@pytest.mark.parametrize("variant", list_variants())
@settings(PROFILE, max_examples=25)
@given(data=st.data())
def test_simulated_studies_stay_bounded_and_finite(variant: str, data: st.DataObject):
    """Whole simulations with any population values inside the schema's support (capped)."""
    v = get_variant(variant)
    pop = data.draw(st.fixed_dictionaries({p.name: _in_bounds(p.bounds) for p in v.params}), label="params")
    ds = ab.simulate(v, 3, 8, params=pop, seed=data.draw(st.integers(0, 2**32 - 1), label="seed"))
    for name in ("self_model", "others_model"):
        x = ds[name].values
        assert np.all(np.abs(x) <= 1.0), name
    for name in ("state_anxiety", "state_avoidance", "trait_anxiety", "fatigue"):
        assert np.all(np.isfinite(ds[name].values)), name


# --- stable -----------------------------------------------------------------------------------------


@PROFILE
@given(data=st.data())
def test_stable_never_moves_the_working_models(data: st.DataObject):
    v = get_variant("stable")
    p = data.draw(params_strategy(v))
    zs, zo = data.draw(latents), data.draw(latents)
    for ev in data.draw(events_strategy(n_days=3)):
        s1, o1 = dynamics.step(np, v, zs, zo, ev, p)
        np.testing.assert_array_equal(s1, zs)
        np.testing.assert_array_equal(o1, zo)


# --- targeted pathways ------------------------------------------------------------------------------


theta = st.floats(-8.0, 1.0)
psi = st.floats(-2.0, 2.0)
unit_open = st.floats(0.0, 1.0, exclude_min=True, exclude_max=True)
z_value = st.floats(-3.0, 3.0)


@pytest.mark.parametrize("variant", TARGETED)
@pytest.mark.parametrize("situation", ["confidence", "dependence"])
@PROFILE
@given(
    zs=z_value, zo=z_value, amount=st.floats(0.01, 1.0),
    th_s=theta, th_o=theta, psi_s=psi, psi_o=psi, rho=st.one_of(st.just(0.0), unit_open),
)
def test_a_security_situation_moves_its_target_and_the_other_model_only_by_the_ripple(
    variant, situation, zs, zo, amount, th_s, th_o, psi_s, psi_o, rho
):
    """Confidence-building moves the model of self (dependence: of others) up by
    ``exp(theta + psi * tanh(z)) * amount`` on the latent scale; the other working model moves
    only by the ripple ``rho`` (not at all when ``rho = 0``)."""
    v = get_variant(variant)
    p = reference(variant, theta_pos_s=th_s, theta_pos_o=th_o, psi_pos_s=psi_s, psi_pos_o=psi_o, rho=rho)
    s1, o1 = dynamics.step(np, v, np.array([zs, zs]), np.array([zo, zo]), one_day(**{situation: amount}), p)
    target, other = (zs, zo) if situation == "confidence" else (zo, zs)
    new_target, new_other = (s1, o1) if situation == "confidence" else (o1, s1)
    th_t, psi_t, th_r, psi_r = (th_s, psi_s, th_o, psi_o) if situation == "confidence" else (th_o, psi_o, th_s, psi_s)
    # an independent re-statement of the rule (atol: the move's rounding against |z| <= 3)
    gain = np.exp(th_t + psi_t * np.tanh(target)) * amount
    np.testing.assert_allclose(new_target - target, gain, rtol=1e-9, atol=1e-14)
    assert np.all(new_target > target)
    ripple = np.exp(th_r + psi_r * np.tanh(other)) * rho * amount
    np.testing.assert_allclose(new_other - other, ripple, rtol=1e-9, atol=1e-14)
    if rho == 0.0:
        np.testing.assert_array_equal(new_other, other)


def test_ripple_is_weaker_than_the_targeted_gain():
    """At equal learning rates the other model moves by rho times the targeted gain."""
    v = get_variant("asem")
    p = reference("asem", psi_pos_s=0.0, psi_pos_o=0.0, theta_pos_o=-3.5, theta_pos_s=-3.5, rho=0.25)
    s1, o1 = dynamics.step(np, v, np.zeros(2), np.zeros(2), one_day(confidence=1.0), p)
    np.testing.assert_allclose(o1, 0.25 * s1, rtol=1e-12)


# --- buffering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["uniform", "asem", "asem_fatigue"])
@PROFILE
@given(data=st.data())
def test_a_fully_buffered_threat_leaves_the_models_where_they_were(variant: str, data: st.DataObject):
    v = get_variant(variant)
    p = {**data.draw(params_strategy(v)), "e_safe": 1.0, "e_soft": 1.0}
    zs, zo = data.draw(latents), data.draw(latents)
    s1, o1 = dynamics.step(np, v, zs, zo, one_day(threat=1.0, safe=1.0, soft=1.0), p)
    np.testing.assert_array_equal(s1, zs)
    np.testing.assert_array_equal(o1, zo)


@PROFILE
@given(zs=z_value, zo=z_value, th=st.floats(-8.0, 1.0), e_safe=st.floats(0.0, 0.99), e_soft=st.floats(0.0, 0.99))
def test_buffering_is_targeted_and_partial_buffering_still_erodes(zs, zo, th, e_safe, e_soft):
    """Control for the test above: less than full buffering lets a threat erode, and safe
    buffering protects only the model of self, soft only the model of others."""
    v = get_variant("asem")
    p = reference("asem", theta_neg_s=th, theta_neg_o=th, e_safe=e_safe, e_soft=e_soft)
    s_arr, o_arr = np.array([zs, zs]), np.array([zo, zo])
    s1, o1 = dynamics.step(np, v, s_arr, o_arr, one_day(threat=1.0, safe=1.0, soft=1.0), p)
    assert np.all(s1 < s_arr) and np.all(o1 < o_arr)
    p_full = {**p, "e_safe": 1.0, "e_soft": 1.0}
    s2, o2 = dynamics.step(np, v, s_arr, o_arr, one_day(threat=1.0, safe=1.0), p_full)
    np.testing.assert_array_equal(s2, s_arr)
    assert np.all(o2 < o_arr)
    s3, o3 = dynamics.step(np, v, s_arr, o_arr, one_day(threat=1.0, soft=1.0), p_full)
    assert np.all(s3 < s_arr)
    np.testing.assert_array_equal(o3, o_arr)


@PROFILE
@given(data=st.data())
def test_buffering_enhances_in_buffer_enhances(data: st.DataObject):
    """In ``buffer_enhances`` a fully buffered threat never erodes and, with kappa > 0, enhances."""
    v = get_variant("buffer_enhances")
    p = {**data.draw(params_strategy(v)), "e_safe": 1.0, "e_soft": 1.0}
    zs, zo = data.draw(latents), data.draw(latents)
    s1, o1 = dynamics.step(np, v, zs, zo, one_day(threat=1.0, safe=1.0, soft=1.0), p)
    assert np.all(s1 >= zs) and np.all(o1 >= zo)
    q = reference("buffer_enhances", kappa=0.6, e_safe=1.0, e_soft=1.0)
    s2, o2 = dynamics.step(np, v, np.zeros(2), np.zeros(2), one_day(threat=1.0, safe=1.0, soft=1.0), q)
    assert np.all(s2 > 0) and np.all(o2 > 0)


# --- assimilation biases (docs/model.md, section 3) ----------------------------------------------


def test_reference_biases_have_the_theorys_signs():
    for variant in BIASED:
        d = get_variant(variant).defaults()
        assert d["psi_pos_s"] > 0 and d["psi_pos_o"] > 0  # insecure models take in less positive evidence
        assert d["psi_neg_s"] < 0 and d["psi_neg_o"] < 0  # ... and more negative evidence


def _moves(variant: str, model: str, sign: str, lo: float, hi: float, th: float, bias: float, amount: float):
    """Size of the latent move of a low and a high working model receiving the same evidence."""
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
    s1, o1 = dynamics.step(np, v, s, o, ev, p)
    new = s1 if model == "self" else o1
    return np.abs(new - x)


@pytest.mark.parametrize("variant", BIASED)
@pytest.mark.parametrize("model", ["self", "others"])
@pytest.mark.parametrize("sign", ["pos", "neg"])
@PROFILE
@given(
    lo=st.floats(-3.0, 2.0), gap=st.floats(0.2, 2.0), th=st.floats(-8.0, 0.0),
    bias=st.floats(0.05, 2.0), amount=st.floats(0.1, 1.0),
)
def test_assimilation_bias_signs(variant, model, sign, lo, gap, th, bias, amount):
    """psi > 0: the lower (more insecure) model moves less on the same evidence; psi < 0: more;
    psi = 0: the same amount (no pull toward the middle or a bound). So for praise (pos) with
    psi_pos > 0 the insecure take in less praise; for blame (neg) with psi_neg < 0 more blame."""
    hi = lo + gap
    low, high = _moves(variant, model, sign, lo, hi, th, +bias, amount)
    assert low < high
    low, high = _moves(variant, model, sign, lo, hi, th, -bias, amount)
    assert low > high
    low, high = _moves(variant, model, sign, lo, hi, th, 0.0, amount)
    np.testing.assert_allclose(low, high, rtol=1e-12, atol=1e-14)  # rounding of z + move at |z| <= 4


@pytest.mark.parametrize("model", ["self", "others"])
def test_uniform_has_no_assimilation_bias(model: str):
    v = get_variant("uniform")
    p = reference("uniform")
    x = np.array([-0.7, 0.7])
    s1, o1 = dynamics.step(np, v, x, x, one_day(confidence=1.0), p)
    move = (s1 if model == "self" else o1) - x
    np.testing.assert_allclose(move[0], move[1], rtol=1e-12)


def _path(v, z0: np.ndarray, pos: np.ndarray, neg: np.ndarray, p: dict) -> np.ndarray:
    """Model of self after days of positive and negative evidence (the model of others idle)."""
    z = z0
    for a, b in zip(pos, neg, strict=True):
        lps, lns, _, _ = v.log_rates(np, np.tanh(z), np.tanh(z), p)
        z = dynamics.update(np, z, lps, lns, a, b)
    return z


@settings(PROFILE, max_examples=40)
@given(
    z0=st.floats(-2.0, 2.0), th=st.floats(-6.0, -1.0),
    days=hnp.arrays(np.float64, (2, 30), elements=st.floats(0.0, 1.0)),
)
def test_mirror_symmetry_without_biases(z0, th, days):
    """psi = 0 and equal rates: a person at ``-z`` receiving the mirrored evidence (positive and
    negative swapped) follows exactly the mirrored path, so every difference between secure and
    insecure people comes from the biases alone (the bounded delta rule of the first version
    failed this: it pulled both toward the middle). Control: the reference biases break it."""
    v = get_variant("asem")
    p = reference("asem", psi_pos_s=0.0, psi_neg_s=0.0, theta_pos_s=th, theta_neg_s=th)
    pos, neg = days
    up = _path(v, np.float64(z0), pos, neg, p)
    down = _path(v, np.float64(-z0), neg, pos, p)
    np.testing.assert_allclose(down, -up, rtol=1e-12, atol=1e-12)
    biased = reference("asem", theta_pos_s=th, theta_neg_s=th)  # psi_pos = 1, psi_neg = -0.8
    up = _path(v, np.float64(z0), pos, neg, biased)
    down = _path(v, np.float64(-z0), neg, pos, biased)
    assume(abs(up - z0) > 0.05)  # a path that leaves its start (tiny moves break the mirror only slightly)
    assert abs(down + up) > 1e-3 * abs(up - z0)


@settings(PROFILE, max_examples=40)
@given(
    gap=st.floats(0.1, 3.0), centre=st.floats(-2.0, 2.0), th_pos=st.floats(-6.0, -1.0), th_neg=st.floats(-6.0, -1.0),
    days=hnp.arrays(np.float64, (2, 30), elements=st.floats(0.0, 1.0)),
)
def test_identical_events_reinforce_insecurity(gap, centre, th_pos, th_neg, days):
    """Under identical evidence, with the theory's signs (psi_pos > 0, psi_neg < 0), the more
    insecure starter's latent gains strictly less (or loses more) than the more secure one's, for
    any run of evidence; with psi = 0 both move by exactly the same amount (the control)."""
    v = get_variant("asem")
    pos, neg = days
    assume(pos.sum() + neg.sum() > 0.5)
    lo, hi = np.float64(centre - gap / 2), np.float64(centre + gap / 2)
    p = reference("asem", theta_pos_s=th_pos, theta_neg_s=th_neg)
    assert _path(v, lo, pos, neg, p) - lo < _path(v, hi, pos, neg, p) - hi
    flat = reference("asem", theta_pos_s=th_pos, theta_neg_s=th_neg, psi_pos_s=0.0, psi_neg_s=0.0)
    np.testing.assert_allclose(_path(v, lo, pos, neg, flat) - lo, _path(v, hi, pos, neg, flat) - hi, atol=1e-12)
