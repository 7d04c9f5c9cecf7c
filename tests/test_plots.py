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
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "observed ratings"]  # not the twins
    assert len(axes) == 2 * len(persons)
    # The dashed truth of dyad 1, person 0's model of others is the simulator's trajectory.
    ax = axes[5]
    (truth_line,) = [ln for ln in ax.get_lines() if ln.get_label() == "truth"]
    np.testing.assert_allclose(truth_line.get_ydata(), small_study["others_model"].sel(dyad=1, person=0).values)


def test_trajectories_default_persons_and_no_truth(small_fit):
    fig = plots.plot_trajectories(small_fit)
    assert len([ax for ax in fig.axes if ax.get_label() != "observed ratings"]) == 6
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
    assert len([ax for ax in fig.axes if ax.get_label() != "observed ratings"]) == 3  # not the ratings' twins
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
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]  # one dataset: one panel, a row per parameter
    assert [t.get_text() for t in ax.get_yticklabels()] == ["rho", "k_A", "psi_pos_s"]

    summ = summary_table(small_fit)
    fig = plots.plot_recovery([truth, truth], [summ, summ], var_names=["rho", "k_A"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2  # several datasets: a panel per parameter


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


# --------------------------------------------------------------------------------------------
# what a reader is told (issue 23)


def _integer_ticks(ax) -> bool:
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_day_axes_have_integer_ticks(small_fit, small_study):
    short = small_study.isel(day=slice(0, 5))  # few days: matplotlib's default ticks are 0.5 apart
    for fig in (plots.plot_trajectories(small_fit), plots.plot_timeline(small_fit, 0), plots.plot_timeline(short, 0)):
        days = [ax for ax in fig.axes if ax.get_xlabel() == "day"]
        assert days and all(_integer_ticks(ax) for ax in days)


def test_posterior_timeline_has_its_own_title_and_two_distinguishable_bands(small_fit, small_study):
    fig = plots.plot_timeline(small_fit, 0)
    title = fig.texts[0].get_text() if fig.texts else fig._suptitle.get_text()
    assert "posterior working models" in title
    assert "posterior" not in plots.plot_timeline(small_study, 0)._suptitle.get_text()
    bands = [c for c in fig.axes[0].collections if c.get_label().endswith("interval")]
    assert len(bands) == 2
    a, b = bands
    assert tuple(a.get_facecolor()[0]) != tuple(b.get_facecolor()[0]) and a.get_hatch() != b.get_hatch()
    labels = fig.axes[0].get_legend().get_texts()
    assert {"person 0: 90% interval", "person 1: 90% interval"} <= {t.get_text() for t in labels}


def test_no_event_rows_for_events_absent_from_the_data(small_fit):
    fit = _without(small_fit, "posterior", drop=[])
    fit.attrs["notes"] = "no 'confidence' events in the data: the model treats them as never happening"
    fig = plots.plot_timeline(fit, 0)
    rows = [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    assert rows and not any("confidence" in r for r in rows)
    assert "confidence" in fig.axes[-1].get_title(loc="left")  # said once, not drawn as an empty row
    full = [t.get_text() for t in plots.plot_timeline(small_fit, 0).axes[-1].get_yticklabels()]
    assert any("confidence" in r for r in full)


def test_observed_ratings_are_drawn_on_the_trajectories(small_fit):
    fig = plots.plot_trajectories(small_fit, persons=[(0, 0)])
    dots = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label().startswith("observed state")]
    assert {ln.get_label() for ln in dots} == {"observed state anxiety", "observed state avoidance"}
    obs = small_fit["observed_data"]["state_anxiety"].sel(dyad=0, person=0).values
    np.testing.assert_array_equal(dots[0].get_ydata(), obs)


def test_ppc_panels_have_axis_labels(small_fit):
    fig = plots.plot_ppc(small_fit, num_samples=5)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(panels) >= 4
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in panels)


def test_recovery_of_one_dataset_is_one_panel(small_fit, small_study):
    fig = plots.plot_recovery(small_study, small_fit)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 1
    n = len(plots.recovery_table(small_study, small_fit))
    assert len(visible[0].get_yticklabels()) == n and "cover the truth" in visible[0].get_title()


def test_comparison_shows_high_pareto_k_and_says_what_weights_mean(small_fit):
    from asem_bayes.compare import compare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare({"asem": small_fit, "asem (copy)": small_fit})
    table.loc[table.index[0], "weight"], table.loc[table.index[1], "weight"] = 1.0, 0.0
    fig = plots.plot_comparison(table)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    if int(table["k_bad"].max()):
        assert any("Pareto k too high" in lab for lab in labels)
    assert any("within noise of the best" in lab for lab in labels)  # w=0.00 is not a verdict
    note = " ".join(t.get_text() for t in fig.texts)
    assert "not the probability that a fit is true" in note and "within noise" in note.lower()


def test_confusion_figure_explains_its_panels():
    from test_recovery import _fake_result

    fig = _fake_result().plot_confusion()
    middle = fig.axes[1].get_xlabel()
    assert "simplest candidate" in middle and "within 4, or 2 SE" in middle
    assert "not the probability" in fig.axes[2].get_xlabel()
