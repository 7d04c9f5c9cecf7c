"""What-if projections, forecasts, attribution and effects (asem_bayes.whatif).

The projections rerun the dynamics of posterior draws, so their properties hold for any draws:
the tests use a few draws jittered around the true parameters of a simulated study (no sampler).
Fast learning rates make the effects large enough to see in a small design.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes import whatif
from asem_bayes.inputs import prepare_inputs
from asem_bayes.model import trajectories
from asem_bayes.registry import get_variant
from asem_bayes.simulate import true_params

FAST = {"theta_pos_s_mu": -2.7, "theta_neg_s_mu": -2.2, "theta_pos_o_mu": -2.7, "theta_neg_o_mu": -2.2}


def fake_posterior(study: xr.Dataset, variant: str, chains: int = 2, draws: int = 4, seed: int = 5) -> xr.Dataset:
    """Draws around the truth: population parameters jittered by 5%, initial models by 0.05."""
    rng = np.random.default_rng(seed)
    v = get_variant(variant)
    truth = true_params(study)
    data = {}
    for prm in v.params:
        x = truth[prm.name] * (1 + 0.05 * rng.standard_normal((chains, draws)))
        data[prm.name] = (("chain", "draw"), x)
    for pp in v.person_params:
        x = np.broadcast_to(truth[pp.name], (chains, draws, *truth[pp.name].shape)).copy()
        jitter = 0.05 * rng.standard_normal(x.shape)
        x = np.clip(x + jitter, -0.99, 0.99) if pp.link == "tanh" else x + jitter
        data[pp.name] = (("chain", "draw", "dyad", "person"), x)
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), "dyad": study.dyad.values,
              "person": study.person.values}  # fmt: skip
    return xr.Dataset(data, coords=coords)


@pytest.fixture(scope="module")
def world():
    study = ab.simulate("asem", n_dyads=8, n_days=28, params=FAST, seed=21)
    return study, fake_posterior(study, "asem")


def _args(study, post, mode="conditional", variant="asem"):
    inp = prepare_inputs(study, joint=mode == "joint")
    return post, inp, get_variant(variant), mode


@pytest.mark.parametrize("mode", ["conditional", "joint"])
def test_a_projection_without_alteration_reproduces_the_fitted_trajectories_exactly(world, mode):
    study, post = world
    post_, inp, v, _ = _args(study, post, mode)
    tree = whatif.project(post_, inp, v, mode, days=14, seed=1)
    fitted = trajectories(post, inp, v)
    for k in ("self_model", "others_model"):
        got = tree["fitted"][k].isel(day=slice(0, inp.n_days))
        np.testing.assert_array_equal(got.values, fitted[k].transpose(*got.dims).values)
        # the altered world, unaltered, is the fitted one on every day, past the study too
        np.testing.assert_array_equal(tree["altered"][k].values, tree["fitted"][k].values)
    assert float(np.abs(tree["difference"]["trait_anxiety"]).max()) == 0.0
    # control: another posterior's trajectories are not reproduced
    other = trajectories(fake_posterior(study, "asem", seed=6), inp, v)["self_model"]
    assert not np.array_equal(other.values, fitted["self_model"].values)


def test_removing_every_event_past_the_study_leaves_the_working_models_constant(world):
    study, post = world
    args = _args(study, post)
    T = args[1].n_days
    silence = [f"{k}=0" for k in ("threat", "confidence", "dependence")]
    tree = whatif.project(*args, silence, days=21, start=T, seed=2)
    for k in ("self_model", "others_model"):
        after = tree["altered"][k].isel(day=slice(T, None))
        np.testing.assert_array_equal(after.values, np.broadcast_to(after.isel(day=[0]).values, after.shape))
        # the study's days are untouched
        np.testing.assert_array_equal(tree["altered"][k].values[..., :T], tree["fitted"][k].values[..., :T])
    # control: the fitted world keeps moving past the study
    fitted = tree["fitted"]["self_model"].isel(day=slice(T, None))
    assert float(np.abs(fitted - fitted.isel(day=0)).max()) > 1e-3


def test_a_rate_set_by_the_user_is_the_altered_worlds_frequency(world):
    study, post = world
    args = _args(study, post)
    T = args[1].n_days
    tree = whatif.project(*args, ["confidence=3/7", "safe@0*=0"], days=200, start=T, seed=3)
    conf = tree["altered"]["event_confidence"].isel(day=slice(T, None))
    n = conf.size
    assert abs(float(conf.mean()) - 3 / 7) < 4 * np.sqrt(3 / 7 * 4 / 7 / n)
    safe = tree["altered"]["event_safe"].isel(day=slice(T, None))
    assert int(safe.sel(person=0).sum()) == 0
    assert int(safe.sel(person=1).sum()) > 0  # person 1 still receives buffering
    # buffering only on threat days, in both worlds
    for g in ("fitted", "altered"):
        w = tree[g]
        assert int((w["event_safe"] * (1 - w["event_threat"])).sum()) == 0


def test_fewer_threats_make_every_person_more_secure(world):
    study, post = world
    args = _args(study, post)
    tree = whatif.project(*args, ["threat=0"], days=0, seed=4)
    d = tree["difference"]["self_model"].isel(day=-1)
    assert float(d.min()) >= 0 and float(d.mean()) > 0.02
    assert float(tree["difference"]["trait_anxiety"].isel(day=-1).mean()) < 0
    s = whatif.summarize_projection(tree)
    row = s.loc["trait_anxiety"]
    assert row["upper"] < 0 and row["lower"] <= row["difference"] <= row["upper"]


def test_events_answer_the_working_models_in_the_joint_mode_only(world):
    study, post = world
    for mode in ("conditional", "joint"):
        args = _args(study, post, mode)
        tree = whatif.project(*args, ["threat=0"], days=28, seed=5)
        changed = int(np.abs(tree["altered"]["event_confidence"] - tree["fitted"]["event_confidence"]).sum())
        if mode == "conditional":
            assert changed == 0  # the observed rates drive the events: no feedback
        else:
            assert changed > 0  # a more secure person's partner builds confidence more often


def test_a_forecast_spreads_with_the_future_events(world):
    study, post = world
    args = _args(study, post)
    ds = whatif.forecast(*args, days=28, seed=6)
    T = args[1].n_days
    assert ds.sizes["day"] == T + 28
    spread = ds["trait_anxiety"].std(("chain", "draw"))
    assert float(spread.isel(day=-1).mean()) > float(spread.isel(day=T - 1).mean())


def test_attribution_shares_add_up_to_the_fitted_change(world):
    study, post = world
    post_, inp, v, _ = _args(study, post)
    att = whatif.attribution(post_, inp, v)
    for k in ("self_model", "others_model", "trait_anxiety", "trait_avoidance"):
        np.testing.assert_allclose(att[k].sum("channel").values, att[f"{k}_total"].values, rtol=0, atol=1e-12)
    share = att["self_model"].mean(("chain", "draw", "dyad", "person"))
    assert float(share.sel(channel="confidence")) > 0 > float(share.sel(channel="threats"))
    assert float(share.sel(channel="buffering")) > 0
    assert float(np.abs(att["self_model"].sel(channel="dependence")).max()) > 0  # the ripple
    # control: removing one channel at a time does not add up (the dynamics are not additive)
    p = whatif.draw_params(post_, v)
    full = np.tanh(_end(p, inp, v, ()))
    none = np.tanh(_end(p, inp, v, tuple(whatif.CHANNELS)))
    one_at_a_time = sum(full - np.tanh(_end(p, inp, v, (c,))) for c in whatif.CHANNELS)
    assert np.abs(one_at_a_time - (full - none)).max() > 1e-4


def _end(p, inp, v, off):
    from asem_bayes import dims as D
    from asem_bayes import dynamics

    zs = dynamics.latent(np, p["s0"])
    zo = dynamics.latent(np, p["o0"])
    removed = {e for c in off for e in whatif.CHANNELS[c]}
    for t in range(inp.n_days):
        day = [np.zeros_like(inp.events[k][t]) if k in removed else inp.events[k][t] for k in D.EVENTS]
        zs, zo = dynamics.step(np, v, zs, zo, dynamics.Events(*day), p)
    return zs


def test_effects_show_the_assimilation_bias_in_questionnaire_units():
    def effect(variant):
        study = ab.simulate(variant, n_dyads=2, n_days=7, seed=1)
        post = fake_posterior(study, variant)
        eff = whatif.observable_effects(post, get_variant(variant))
        x = eff["trait_anxiety"].sel(scenario="10 confidence-building days").median(("chain", "draw"))
        return float(x.sel(percentile=10)), float(x.sel(percentile=90))

    low, high = effect("asem")
    assert low < 0 and high < 0
    assert abs(high) > abs(low)  # psi_pos_s > 0: the secure person takes in more praise
    low_u, high_u = effect("uniform")  # control: no bias, only the bound's compression
    assert abs(high_u) < abs(low_u)
    # the bias alone: exp(psi_pos_s * (s90 - s10)) ~ 2.2 at the reference values; 1.5 leaves room
    # for the 5% jitter of the draws and the change of s over the ten days
    assert (high / low) / (high_u / low_u) > 1.5
    lines = whatif.format_effects(whatif.observable_effects(fake_posterior(
        ab.simulate("asem", n_dyads=2, n_days=7, seed=1), "asem"), get_variant("asem")))  # fmt: skip
    assert len(lines) == 1 + len(whatif.EFFECT_SCENARIOS) and "@90th" in lines[1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("threat@0=0", "shared by the couple"),
        ("joy=0.5", "unknown event"),
        ("safe=1.5", r"probability in \[0, 1\]"),
        ("safe*=-1", "cannot read|factor"),
        ("safe twice", "cannot read the alteration"),
    ],
)
def test_bad_alterations_get_clear_errors(text, message):
    with pytest.raises(ValueError, match=message):
        whatif.parse_alteration(text)


def test_alterations_read_as_written():
    a = whatif.parse_alteration("safe@0*=2")
    assert (a.event, a.op, a.value, a.person) == ("safe", "scale", 2.0, 0)
    assert "given by person 1" in a.describe()
    b = whatif.parse_alteration("confidence=3/7")
    assert b.op == "set" and b.value == pytest.approx(3 / 7) and b.person is None


def test_the_fan_chart_draws_both_worlds(world, tmp_path):
    study, post = world
    tree = whatif.project(*_args(study, post), ["threat=0"], days=14, seed=7)
    fig = whatif.plot_projection(tree, "trait_anxiety")
    ax = fig.axes[0]
    assert len(ax.lines) >= 3 and "threat" in ax.get_title()
    fig.savefig(tmp_path / "fan.png")
    fig = whatif.plot_projection(tree, "self_model", dyad=0, person=1)
    assert "dyad 0, person 1" in fig.axes[0].get_title()


def test_a_full_event_schedule_replaces_the_altered_worlds_events(world):
    study, post = world
    args = _args(study, post)
    T, N = args[1].n_days, args[1].n_dyads
    days = np.arange(T, T + 7)
    zeros = np.zeros((N, 2, 7))
    sched = xr.Dataset(
        {k: (("dyad", "person", "day"), zeros.copy()) for k in ("safe", "soft", "confidence")}
        | {k: (("dyad", "day"), zeros[:, 0].copy()) for k in ("threat", "dependence")},
        coords={"day": days},
    )
    sched["confidence"][:, 0, :] = 1.0  # person 0: a confidence-building day every day of the week
    tree = whatif.project(*args, days=7, schedule=sched, seed=8)
    alt = tree["altered"]
    np.testing.assert_array_equal(alt["event_confidence"].isel(day=slice(T, None)).sel(person=0).values, 1)
    assert int(alt["event_threat"].isel(day=slice(T, None)).sum()) == 0
    # on average more secure (a draw may lose the fitted world's dependence days and their ripple)
    assert float(tree["difference"]["self_model"].isel(day=-1).sel(person=0).mean()) > 0.01
    assert "event schedule given" in tree.attrs["alterations"]
    with pytest.raises(ValueError, match="lacks threat"):
        whatif.project(*args, days=7, schedule=sched.drop_vars("threat"))


def test_effects_resting_on_uninformed_parameters_are_not_printed_as_estimates():
    study = ab.simulate("asem", n_dyads=2, n_days=7, seed=1)
    eff = whatif.observable_effects(fake_posterior(study, "asem"), get_variant("asem"))
    lines = whatif.format_effects(eff, uninformed={"l_A", "theta_pos_o_mu", "theta_pos_o_sd"})
    conf = next(x for x in lines if x.startswith("  10 confidence-building days"))
    assert "anxiety: not informed by these data (l_A)" in conf
    assert "avoidance: not informed by these data (theta_pos_o)" in conf
    threats = next(x for x in lines if x.startswith("  10 threats, unbuffered"))
    assert "avoidance @10th" in threats and "anxiety: not informed" in threats
    # control: with everything informed every cell is an estimate
    assert not any("not informed" in x for x in whatif.format_effects(eff))
