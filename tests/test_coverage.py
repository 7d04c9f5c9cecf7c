"""Which parameters the data cannot inform (asem_bayes.coverage)."""

from __future__ import annotations

import numpy as np
import pytest

import asem_bayes as ab
from asem_bayes.coverage import coverage_report, uninformed_parameters

EVENT_MODEL = {"a0", "a1", "b0", "b1", "b2", "c0", "c1", "c2", "x0", "x1", "x2", "y0", "y1"}


@pytest.fixture(scope="module")
def sim():
    return ab.simulate("asem", n_dyads=4, n_days=10, seed=5)


def test_complete_data_inform_everything_but_the_event_model_in_conditional_mode(sim):
    un = uninformed_parameters(sim, "asem")
    assert set(un) == EVENT_MODEL
    assert all("conditional mode does not score events" in r for r in un.values())
    assert uninformed_parameters(sim, "asem_fatigue", "joint") == {}


def test_no_soft_column(sim):
    un = uninformed_parameters(sim.drop_vars("soft"), "asem_fatigue", "joint")
    assert set(un) == {"e_soft", "b_soft", "c0", "c1", "c2"}
    assert all(r == "needs 'soft' events" for r in un.values())


def test_no_trait_waves_and_no_state_avoidance(sim):
    un = uninformed_parameters(sim.drop_vars(["trait_anxiety", "trait_avoidance"]), "asem")
    assert set(un) - EVENT_MODEL == {"m_A", "l_A", "sigma_TA", "m_V", "l_V", "sigma_TV"}
    assert un["l_V"] == "needs 'trait_avoidance' waves"
    un = uninformed_parameters(sim.drop_vars("state_avoidance"), "asem")
    # The model of others is still seen through the trait waves (first and last day), so its
    # dynamics stay informed; the daily-rating parameters of avoidance do not.
    assert set(un) - EVENT_MODEL == {"c_V_mu", "c_V_sd", "c_V", "k_V", "tau_V", "b_soft", "b_backfire", "sigma_V"}
    assert "theta_neg_o_mu" not in un and "psi_pos_o" not in un


def test_reasons_name_pairs_and_report_prints(sim):
    # Only threats and felt insecurity about others: the self-model's pathways need two things.
    data = sim.drop_vars(["safe", "soft", "confidence", "dependence", "state_anxiety", "trait_anxiety"])
    un = uninformed_parameters(data, "asem")
    assert (
        un["e_safe"] == "needs 'safe' events with 'state_anxiety' ratings or 'safe' events with 'trait_anxiety' waves"
    )
    assert un["rho"] == "needs 'confidence' events"  # dependence is absent too: only pos_o = rho * confidence is left
    text = coverage_report(data, "asem")
    assert "e_safe" in text and "no positive-evidence events" in text


def test_agrees_with_pytensor_gradients(sim):
    """Independent check: a parameter is uninformed exactly when the gradient of the observed
    log density (PyMC graph, autodiff) with respect to it is zero at random points."""
    import pytensor
    import pytensor.tensor as pt

    from asem_bayes.model import build_model

    data = sim.isel(dyad=slice(0, 2), day=slice(0, 6)).drop_vars(["soft", "confidence", "trait_anxiety"])
    data["wave_day"] = ("wave", [0, 5])
    v = ab.get_variant("asem")
    # schema coordinates: a sheared coordinate mixes several parameters, so names would not map
    model = build_model(data, v, mode="conditional", trajectories=False, reparam=False)
    logp = model.logp(vars=model.observed_RVs)
    grads = pt.grad(logp, model.value_vars, disconnected_inputs="ignore")
    fn = pytensor.function(model.value_vars, grads, on_unused_input="ignore", mode="FAST_COMPILE")
    rng = np.random.default_rng(0)
    moved = {vv.name: False for vv in model.value_vars}
    for i in range(3):
        point = {k: x + rng.normal(0, 1.0, np.shape(x)) for k, x in model.initial_point().items()}
        # Some insecure models of others, so that the backfire term (active only for o < 0)
        # is reachable, as it is in coverage's prior draws.
        point["o0_mu"] = np.asarray(-0.8 * i)
        for vv, g in zip(model.value_vars, fn(*[point[vv.name] for vv in model.value_vars]), strict=True):
            moved[vv.name] |= bool(np.any(np.abs(g) > 0))

    def base(name: str) -> str:  # value-variable name -> parameter name
        for suffix in ("_log__", "_logodds__", "_interval__", "_z"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name

    by_autodiff = {base(k) for k, m in moved.items() if not m}
    # A person parameter's standardised z and its population mean and sd all lose their data
    # path together, so the two sets use the same names.
    assert by_autodiff == set(uninformed_parameters(data, v))
    assert {"e_soft", "b_soft"} <= by_autodiff
