"""Smoke tests of the plot functions on one small fit, and the trait-change check's power.

The fit reuses the session's compiled ``asem`` model (no new compilation): 2 chains x 100 draws
are enough to draw the figures, not to trust the numbers.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

import asem_bayes as ab
from asem_bayes import plots
from asem_bayes.diagnostics import summary_table


@pytest.fixture(scope="module")
def small_fit(asem_small_fit):
    return asem_small_fit  # the session's shared fit (tests/conftest.py)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _without(fit: xr.DataTree, group: str, drop: list[str] | None = None) -> xr.DataTree:
    """A copy of the fit without a group, or without some of its variables."""
    groups = {g: fit[g].to_dataset() for g in fit.children}
    if drop is None:
        groups.pop(group)
    else:
        groups[group] = groups[group].drop_vars(drop)
    out = xr.DataTree.from_dict(groups)
    out.attrs.update(fit.attrs)
    return out


def test_trajectories_draw_posterior_and_truth(small_fit, small_study):
    persons = [(0, 0), (0, 1), (1, 0)]
    fig = plots.plot_trajectories(small_fit, truth=small_study, persons=persons)
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 * len(persons)
    # The dashed truth of dyad 1, person 0's model of others is the simulator's trajectory.
    ax = axes[5]
    (truth_line,) = [ln for ln in ax.get_lines() if ln.get_label() == "truth"]
    np.testing.assert_allclose(truth_line.get_ydata(), small_study["others_model"].sel(dyad=1, person=0).values)


def test_trajectories_default_persons_and_no_truth(small_fit):
    fig = plots.plot_trajectories(small_fit)
    assert len(fig.axes) == 6
    assert not [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label() == "truth"]


def test_trajectories_errors_name_the_fault(small_fit):
    with pytest.raises(ValueError, match="dyad 99"):
        plots.plot_trajectories(small_fit, persons=[(99, 0)])
    with pytest.raises(ValueError, match="trajectories=True"):
        plots.plot_trajectories(_without(small_fit, "posterior", ["self_model", "others_model"]))
    with pytest.raises(TypeError, match="DataTree"):
        plots.plot_trajectories(xr.Dataset())


@pytest.mark.parametrize("source", ["fit", "study"])
def test_timeline(small_fit, small_study, source):
    obj = small_fit if source == "fit" else small_study
    fig = plots.plot_timeline(obj, 2, truth=small_study)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    # threat and dependence once per dyad, safe/soft/confidence per receiving partner
    assert len(fig.axes[-1].get_yticks()) == 2 + 3 * 2


def test_timeline_of_real_style_data_without_latents(small_study):
    observed = small_study.drop_vars(["self_model", "others_model"])
    fig = plots.plot_timeline(observed, 0)
    assert len(fig.axes) == 1  # events only: nothing latent to draw


def test_ppc_figure(small_fit):
    fig = plots.plot_ppc(small_fit, num_samples=20)
    assert isinstance(fig, Figure)
    # four ArviZ distribution panels and two trait-change panels
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("mean change" in t for t in titles) == 2
    assert len(fig.axes) == 6


def test_ppc_needs_posterior_predictive(small_fit):
    with pytest.raises(ValueError, match="posterior_predictive=True"):
        plots.plot_ppc(_without(small_fit, "posterior_predictive"))


def test_trait_change_check_detects_a_change_the_model_did_not_predict(small_fit):
    ok = plots.trait_change_check(small_fit)
    assert set(ok.index) == {"trait_anxiety", "trait_avoidance"}
    assert ok["n_persons"].eq(24).all()
    # The fitted model replicates its own data's change: no extreme p-values (0.01 is far in
    # the tail; the fit is of the same generative model, so this holds for any sane posterior).
    assert (ok["p_value"] > 0.01).all(), ok
    # Broken control: add 1.0 (4 noise SDs of the questionnaire) to everyone's last-wave trait
    # anxiety. The fit never saw such a change, so the check must flag it.
    groups = {g: small_fit[g].to_dataset() for g in small_fit.children}
    obs = groups["observed_data"].copy()
    obs["trait_anxiety"] = obs["trait_anxiety"] + xr.where(obs["wave"] == obs["wave"][-1], 1.0, 0.0)
    groups["observed_data"] = obs
    broken = plots.trait_change_check(xr.DataTree.from_dict(groups))
    assert broken.loc["trait_anxiety", "p_value"] < 0.01
    assert broken.loc["trait_anxiety", "observed"] == pytest.approx(ok.loc["trait_anxiety", "observed"] + 1.0)
    assert broken.loc["trait_avoidance", "p_value"] == ok.loc["trait_avoidance", "p_value"]


def test_recovery_from_fits_and_from_summaries(small_fit, small_study):
    truth = ab.true_params(small_study)
    table = plots.recovery_table([small_study], [small_fit])
    # conditional mode: the event model's parameters are prior-only and left out by default
    assert "a0" not in set(table["param"]) and "rho" in set(table["param"])
    row = table.set_index("param").loc["k_A"]
    assert row["truth"] == truth["k_A"]
    assert row["covered"] == (row["lo"] <= truth["k_A"] <= row["hi"])

    fig = plots.plot_recovery([small_study], [small_fit], var_names=["rho", "k_A", "psi_pos_s"])
    assert isinstance(fig, Figure)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3

    summ = summary_table(small_fit)
    fig = plots.plot_recovery(truth, summ, var_names=["rho", "k_A"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2


def test_recovery_from_a_long_table(small_fit, small_study):
    # the layout of asem_bayes.recovery's RecoveryResult.parameters: one row per (variant, rep, parameter)
    one = plots.recovery_table(small_study, small_fit, var_names=["rho", "k_A"])
    long = one.drop(columns="dataset").rename(columns={"param": "parameter", "lo": "lower", "hi": "upper"})
    long = pd.concat([long.assign(variant="asem", rep=0), long.assign(variant="asem", rep=1)], ignore_index=True)
    table = plots.recovery_table(long)
    assert sorted(table["dataset"].unique()) == [0, 1]
    assert len(table) == 4
    fig = plots.plot_recovery(long, var_names=["rho"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1
    assert "(2/2 covered)" in fig.axes[0].get_title() or "(0/2 covered)" in fig.axes[0].get_title()


def test_recovery_errors(small_fit, small_study):
    with pytest.raises(ValueError, match="one truth per fit"):
        plots.plot_recovery([small_study, small_study], [small_fit])
    with pytest.raises(ValueError, match="not_a_param"):
        plots.plot_recovery(small_study, small_fit, var_names=["not_a_param"])


def test_comparison(small_fit):
    with warnings.catch_warnings():
        # two copies of one small fit: high Pareto k warnings are expected and irrelevant here
        warnings.simplefilter("ignore")
        fig = plots.plot_comparison({"asem": small_fit, "asem (copy)": small_fit})
        import arviz as az

        table = az.compare({"a": small_fit, "b": small_fit})
    assert isinstance(fig, Figure)
    assert "leave-out unit: person" in fig.axes[0].get_title()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any("(w=" in lab for lab in labels)
    assert isinstance(plots.plot_comparison(table), Figure)
    with pytest.raises(ValueError, match="at least two"):
        plots.plot_comparison({"asem": small_fit})
