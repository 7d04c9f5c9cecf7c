"""Correlated person-level effects with an LKJ prior (``person_correlation``, docs/model.md section 18).

The model and the simulator are tied four ways: the PyMC model's log density at a point equals
the one written out by hand (the multivariate normal of the standardised effects, the LKJ
density of their correlation with its normalising constant, the Jacobians), and fails when the
correlation is dropped (control); a folded spread's mirror point has the same density and the
same reported parameters; the simulator's effects have the true correlation, and ~0 without the
option (control); and a profile of the model's density over a correlation, on data simulated
with the option, peaks at the simulator's value, a check that fails on data simulated without
it (the control of a simulator that forgot the option).

Log densities are compiled with PyTensor's C linker (``FAST_RUN``), seconds for these graphs.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr
from scipy import stats
from scipy.special import betaln

import asem_bayes as ab
from asem_bayes import person_correlation as corr
from asem_bayes.cli import build_parser, main
from asem_bayes.inputs import prepare_inputs
from asem_bayes.model import build_model, point_from_params, resolve_variant
from asem_bayes.options import CORRELATED_PARAMS
from asem_bayes.person_correlation import PersonCorrelationError, with_person_correlation
from asem_bayes.schema import SchemaError
from asem_bayes.simulate import true_params

FAST = "FAST_RUN"
ETA = corr.ETA

# s0 and o0 are read by the sheared coordinates; theta_pos_s has a folded spread (sd = |y|)
NAMES = ("s0", "o0", "theta_pos_s")
TRUTH = {"corr_s0_o0": 0.6, "corr_s0_theta_pos_s": -0.3, "corr_o0_theta_pos_s": 0.2}
OTHER = {"corr_s0_o0": 0.0, "corr_s0_theta_pos_s": 0.5, "corr_o0_theta_pos_s": -0.5}


def _lkj_logpdf(R: np.ndarray, eta: float) -> float:
    """LKJ(eta) log density over the off-diagonal elements: ``det(R)^(eta-1) / c_n``, with the
    normalising constant of Lewandowski, Kurowicka and Joe (2009)."""
    n = len(R)
    log_c = sum(
        (2 * eta - 2 + n - k) * (n - k) * np.log(2.0) + (n - k) * betaln(eta + (n - k - 1) / 2, eta + (n - k - 1) / 2)
        for k in range(1, n)
    )
    return float((eta - 1) * np.linalg.slogdet(R)[1] - log_c)


def _log_jac(chol_of, u: np.ndarray) -> float:
    """``log |d r / d u|`` of the unconstrained coordinates ``u`` to the correlations ``r`` (central
    differences of the transform's map to the Cholesky factor)."""

    def r(x):
        L = chol_of(x)
        return (L @ L.T)[np.tril_indices(len(L), -1)]

    h = 1e-6
    J = np.stack([(r(u + h * e) - r(u - h * e)) / (2 * h) for e in np.eye(len(u))], axis=1)
    return float(np.linalg.slogdet(J)[1])


def _effects(v, truth) -> np.ndarray:
    """The standardised effects (dyad, person, k) of the option's parameters at the truth."""
    pps = {pp.name: pp for pp in v.person_params}
    return np.stack([pps[n].standardise(truth[n], truth) for n in v.person_correlation], axis=-1)


def _transforms(model):
    """Compiled maps between the Cholesky factor and its unconstrained value, and the value's name."""
    rv = model[corr.CHOL]
    tr = model.rvs_to_transforms[rv]
    u, L = pt.vector("u"), pt.matrix("L")
    chol_of = pytensor.function([u], tr.backward(u), mode=FAST)
    u_of = pytensor.function([L], tr.forward(L), mode=FAST)
    return chol_of, u_of, model.rvs_to_values[rv].name


def test_lkj_density_written_out_is_scipys_beta_for_two():
    # the hand-written LKJ density of this file, checked where scipy has it: 2 x 2, r = 2 Beta(eta, eta) - 1
    for r in (-0.7, 0.1, 0.55):
        R = np.array([[1.0, r], [r, 1.0]])
        scipys = stats.beta.logpdf((r + 1) / 2, ETA, ETA) - np.log(2)
        np.testing.assert_allclose(_lkj_logpdf(R, ETA), scipys, rtol=1e-12)


@pytest.fixture(scope="module")
def asem_case():
    """A small ``asem`` study with three correlated effects, the model with and without the option."""
    study = ab.simulate("asem", 10, 5, params=TRUTH, seed=7, person_correlation=NAMES)
    v = resolve_variant("asem", person_correlation=NAMES)
    model = build_model(study, "asem", person_correlation=NAMES, trajectories=False)
    plain = build_model(study, "asem", trajectories=False)
    reported = [*NAMES, *(f"{n}_z" for n in NAMES), *v.correlation_names]
    f = model.compile_fn(
        [model.logp(), *model.replace_rvs_by_values([model[n] for n in reported])],
        inputs=model.value_vars,
        on_unused_input="ignore",
        mode=FAST,
    )
    chol_of, u_of, u_name = _transforms(model)
    return SimpleNamespace(
        study=study,
        v=v,
        model=model,
        plain=plain,
        reported=reported,
        f=f,
        plain_logp=plain.compile_logp(mode=FAST),
        chol_of=chol_of,
        u_of=u_of,
        u_name=u_name,
    )


def test_default_model_is_unchanged(asem_case):
    study = asem_case.study
    default = build_model(study, "asem", trajectories=False)
    empty = build_model(study, "asem", trajectories=False, person_correlation=())
    assert list(default.named_vars) == list(empty.named_vars) == list(asem_case.plain.named_vars)
    assert default.asem_person_correlation == () and "person_param" not in default.coords
    extended = asem_case.model
    added = set(extended.named_vars) - set(default.named_vars)
    assert added == {corr.CHOL, corr.RAW, *TRUTH}
    # the correlated effects replace the independent ones they stand for, nothing else
    assert set(default.named_vars) - set(extended.named_vars) == {"theta_pos_s_zraw"}
    # the standardised effects stay, as deterministics of the correlated ones
    assert {"s0_z", "o0_z", "theta_pos_s_z"} <= {d.name for d in extended.deterministics}


def test_point_round_trips_to_the_truth(asem_case):
    c = asem_case
    truth = true_params(c.study)
    assert {k: truth[k] for k in TRUTH} == TRUTH
    _, *vals = c.f(point_from_params(c.model, c.v, truth))
    z = _effects(c.v, truth)
    expect = {**{n: truth[n] for n in NAMES}, **{f"{n}_z": z[..., j] for j, n in enumerate(NAMES)}, **TRUTH}
    for name, x in zip(c.reported, vals, strict=True):
        np.testing.assert_allclose(x, expect[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("values", [TRUTH, OTHER], ids=["truth", "other"])
def test_log_density_is_the_hand_computed_one(asem_case, values):
    c = asem_case
    truth = {**true_params(c.study), **values}
    point = point_from_params(c.model, c.v, truth)
    lp = float(c.f(point)[0])
    z = _effects(c.v, truth).reshape(-1, len(NAMES))
    R = corr.correlation_matrix(c.v, values)
    # the model without the option at the same person values: its independent standard normals ...
    lp_plain = float(c.plain_logp(point_from_params(c.plain, "asem", truth)))
    independent = stats.norm.logpdf(z).sum()
    # ... replaced by the multivariate normal of the effects, the LKJ prior and the Jacobians of
    # raw -> z (|det L| per person) and of the unconstrained coordinates -> correlations
    mvn = stats.multivariate_normal(np.zeros(len(NAMES)), R).logpdf(z).sum()
    jacobians = len(z) * np.linalg.slogdet(np.linalg.cholesky(R))[1] + _log_jac(c.chol_of, point[c.u_name])
    hand = lp_plain - independent + mvn + _lkj_logpdf(R, ETA) + jacobians
    np.testing.assert_allclose(lp, hand, rtol=0, atol=1e-6)
    # control: the same sum with the correlation dropped (the effects scored as independent) fails
    assert abs(lp - (hand - mvn + independent)) > 1.0


def test_a_folded_spreads_mirror_is_the_same_model(asem_case):
    """``theta_pos_s_sd = |y|``: flipping ``y`` with its effect (``raw -> D raw``, ``L -> D L D``)
    leaves the density and every reported value unchanged; the sampler's correlation flips sign."""
    c = asem_case
    truth = true_params(c.study)
    point = point_from_params(c.model, c.v, truth)
    L = c.chol_of(point[c.u_name])
    sign = np.array([1.0, 1.0, -1.0])  # theta_pos_s is the third name
    mirror = dict(point)
    mirror["theta_pos_s_sd_signed"] = -point["theta_pos_s_sd_signed"]
    mirror[corr.RAW] = point[corr.RAW] * sign
    mirror[c.u_name] = c.u_of(sign[:, None] * L * sign[None, :])
    lp, *vals = c.f(point)
    lp_m, *vals_m = c.f(mirror)
    np.testing.assert_allclose(lp_m, lp, rtol=0, atol=1e-9)
    for name, a, b in zip(c.reported, vals, vals_m, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12, err_msg=name)
    Lm = c.chol_of(mirror[c.u_name])
    assert (Lm @ Lm.T)[2, 0] == pytest.approx(-TRUTH["corr_s0_theta_pos_s"])  # the sampler's, sign flipped
    assert float(vals_m[c.reported.index("corr_s0_theta_pos_s")]) == pytest.approx(TRUTH["corr_s0_theta_pos_s"])


# --------------------------------------------------------------------------------------------
# the simulator

FOUR = ("s0", "o0", "theta_pos_s", "theta_neg_s")
FOUR_TRUTH = {
    "corr_s0_o0": 0.6,
    "corr_s0_theta_pos_s": 0.0,
    "corr_s0_theta_neg_s": 0.0,
    "corr_o0_theta_pos_s": 0.0,
    "corr_o0_theta_neg_s": 0.0,
    "corr_theta_pos_s_theta_neg_s": -0.4,
}


def _empirical(study: xr.Dataset, names: tuple[str, ...]) -> np.ndarray:
    v = resolve_variant("asem", person_correlation=names)
    truth = true_params(study)
    return np.corrcoef(_effects(v, truth).reshape(-1, len(names)).T)


def test_simulated_effects_have_the_true_correlation():
    """3000 persons: a correlation's standard error is at most 1/sqrt(3000) = 0.018; tolerance 0.06."""
    study = ab.simulate("asem", 1500, 2, params=FOUR_TRUTH, seed=3, person_correlation=FOUR)
    assert study.attrs["person_correlation"] == ",".join(FOUR)
    truth = true_params(study)
    v = resolve_variant("asem", person_correlation=FOUR)
    R = corr.correlation_matrix(v, truth)  # the truth as recorded in the study
    np.testing.assert_allclose(_empirical(study, FOUR), R, atol=0.06)
    # control: the same seed without the option, effects near independent
    plain = ab.simulate("asem", 1500, 2, seed=3)
    assert not any(k.startswith("corr_") for k in true_params(plain))
    np.testing.assert_allclose(_empirical(plain, FOUR), np.eye(4), atol=0.06)
    # the reference correlation (0.3) when params do not set it
    default = ab.simulate("asem", 1500, 2, seed=4, person_correlation=("o0", "s0"))
    assert true_params(default)["corr_s0_o0"] == corr.REFERENCE
    assert abs(_empirical(default, ("s0", "o0"))[0, 1] - corr.REFERENCE) < 0.06


def test_zero_correlations_reproduce_the_study_without_the_option():
    zero = dict.fromkeys(FOUR_TRUTH, 0.0)
    with_option = ab.simulate("asem", 12, 14, params=zero, seed=9, person_correlation=FOUR)
    without = ab.simulate("asem", 12, 14, seed=9)
    for name in ("s0", "theta_neg_s", "c_A", "state_anxiety", "trait_avoidance"):
        np.testing.assert_array_equal(with_option[name].values, without[name].values, err_msg=name)


def test_prior_draws_are_lkj():
    rng = np.random.default_rng(0)
    r3 = np.array([corr.draw_lkj(rng, 3)[np.tril_indices(3, -1)] for _ in range(3000)])
    # each correlation of a 3 x 3 LKJ(2) is 2 Beta(2.5, 2.5) - 1 (eta - 1 + n / 2); 2 x 2: Beta(2, 2)
    for col in r3.T:
        assert stats.kstest((col + 1) / 2, stats.beta(2.5, 2.5).cdf).pvalue > 0.001
    r2 = np.array([corr.draw_lkj(rng, 2)[1, 0] for _ in range(3000)])
    assert stats.kstest((r2 + 1) / 2, stats.beta(2.0, 2.0).cdf).pvalue > 0.001
    study = ab.simulate("asem", 3, 4, params="prior", seed=2, person_correlation=FOUR)
    R = corr.correlation_matrix(resolve_variant("asem", person_correlation=FOUR), true_params(study))
    assert np.linalg.eigvalsh(R)[0] > 0 and not np.allclose(R, np.eye(4))


# --------------------------------------------------------------------------------------------
# simulator versus likelihood

PROFILE = ("s0", "o0", "c_A", "c_V")
PROFILE_TRUTH = {
    "corr_s0_o0": 0.6,
    "corr_s0_c_A": 0.0,
    "corr_s0_c_V": 0.0,
    "corr_o0_c_A": 0.0,
    "corr_o0_c_V": 0.0,
    "corr_c_A_c_V": -0.4,
}
GRID = np.round(np.linspace(-0.9, 0.9, 37), 3)


@pytest.fixture(scope="module")
def profile_case():
    """``stable``, 300 couples x 3 days, four correlated effects; the study and its model."""
    matched = ab.simulate("stable", 300, 3, params=PROFILE_TRUTH, seed=5, person_correlation=PROFILE)
    model = build_model(matched, "stable", person_correlation=PROFILE, trajectories=False)
    chol_of, u_of, u_name = _transforms(model)
    v = resolve_variant("stable", person_correlation=PROFILE)
    return SimpleNamespace(
        matched=matched, model=model, logp=model.compile_logp(mode=FAST), v=v, chol_of=chol_of, u_of=u_of, u_name=u_name
    )


def _profile_peak(case, study: xr.Dataset, pair: str) -> float:
    """The value of correlation ``pair`` on a grid that maximises the PyMC model's density of the
    study's true person-level effects (the model's full log density with the Jacobians and the LKJ
    prior taken off; the person values, and so the ratings' term, stay at the truth), the other
    correlations at :data:`PROFILE_TRUTH` (grid values where that is no correlation matrix are skipped)."""
    model, v = case.model, case.v
    with model:
        arrays = prepare_inputs(study).data_arrays()
        pm.set_data({k: x for k, x in arrays.items() if k in model.named_vars})
    truth = {**true_params(study), **PROFILE_TRUTH}
    base = point_from_params(model, v, truth)
    pps = {pp.name: pp for pp in v.person_params}
    z = {n: pps[n].standardise(truth[n], truth) for n in PROFILE}
    n_persons = z["s0"].size
    lp = []
    for g in GRID:
        values = {**truth, pair: g}
        try:
            sv = corr.sampler_values(v, z, values)
        except PersonCorrelationError:  # not positive definite
            lp.append(-np.inf)
            continue
        u = case.u_of(sv[corr.CHOL])
        point = {**base, corr.RAW: sv[corr.RAW], case.u_name: u}
        R = corr.correlation_matrix(v, values)
        off = n_persons * np.log(np.diag(sv[corr.CHOL])).sum() + _log_jac(case.chol_of, u) + _lkj_logpdf(R, ETA)
        lp.append(float(case.logp(point)) - off)
    return float(GRID[int(np.argmax(lp))])


def test_control_profile_peaks_at_the_truth_only_when_simulator_and_likelihood_agree(profile_case):
    c = profile_case
    # 600 persons: a correlation's standard error is at most 0.04; each peak within 0.1 of the truth
    for pair in ("corr_s0_o0", "corr_c_A_c_V", "corr_s0_c_A"):
        assert abs(_profile_peak(c, c.matched, pair) - PROFILE_TRUTH[pair]) <= 0.1, pair
    # Control: the same seed's study simulated without the option (a simulator that forgot it),
    # scored by the option's density as if the truth were 0.6: the same check fails.
    forgot = ab.simulate("stable", 300, 3, seed=5)
    assert abs(_profile_peak(c, forgot, "corr_s0_o0") - 0.6) > 0.3


def test_uninformed_parameters_are_those_without_the_option():
    """A fit records which parameters its data cannot inform (asem_bayes.coverage, drawing points
    from the priors, the correlations included); the option adds no likelihood term."""
    from asem_bayes.coverage import uninformed_parameters

    inp = prepare_inputs(ab.simulate("asem", 4, 6, seed=1))
    v = resolve_variant("asem", person_correlation=NAMES)
    assert uninformed_parameters(inp, v, "conditional") == uninformed_parameters(inp, "asem", "conditional")


# --------------------------------------------------------------------------------------------
# options, errors, provenance


def test_options_name_every_registered_person_parameter():
    names = {n for variant in ab.list_variants() for n in ab.get_variant(variant).person_param_names}
    assert set(CORRELATED_PARAMS) == names and len(CORRELATED_PARAMS) == len(names)


def test_bad_names_raise_clear_errors(tmp_path, capsys):
    stable = ab.get_variant("stable")
    with pytest.raises(PersonCorrelationError, match=r"\['theta_pos_s'\].*'stable'.*\['s0', 'o0', 'c_A', 'c_V'\]"):
        with_person_correlation(stable, ("s0", "theta_pos_s"))
    with pytest.raises(PersonCorrelationError, match="at least 2"):
        with_person_correlation(stable, ("s0",))
    with pytest.raises(PersonCorrelationError, match="twice"):
        with_person_correlation(stable, ("s0", "s0", "o0"))
    with pytest.raises(PersonCorrelationError, match="theta_pos_s_mu"):  # a population parameter
        with_person_correlation(ab.get_variant("asem"), ("s0", "theta_pos_s_mu"))
    assert with_person_correlation(stable, ("o0", "s0")).person_correlation == ("s0", "o0")  # variant order
    with pytest.raises(PersonCorrelationError, match=r"\['theta_pos_s'\].*'uniform'.*'theta_pos'"):
        ab.simulate("uniform", 2, 4, seed=1, person_correlation=("s0", "theta_pos_s"))  # uniform's is theta_pos
    study = ab.simulate("stable", 2, 4, seed=1)
    with pytest.raises(PersonCorrelationError, match="theta_neg_o"):
        build_model(study, "stable", person_correlation=("s0", "theta_neg_o"))
    with pytest.raises(PersonCorrelationError, match="theta_neg_o"):
        ab.ASEMModel(study, "stable", person_correlation=("s0", "theta_neg_o"))
    with pytest.raises(SchemaError, match="corr_s0_o0"):
        ab.simulate("stable", 2, 4, params={"corr_s0_o0": 0.5}, seed=1)  # not a parameter without the option
    with pytest.raises(SchemaError, match=r"outside \(-1, 1\)"):
        ab.simulate("stable", 2, 4, params={"corr_s0_o0": 1.5}, seed=1, person_correlation=("s0", "o0"))
    with pytest.raises(PersonCorrelationError, match="positive-definite"):
        ab.simulate(
            "stable", 2, 4, seed=1, person_correlation=("s0", "o0", "c_A"),
            params={"corr_s0_o0": 0.9, "corr_s0_c_A": 0.9, "corr_o0_c_A": -0.9},
        )  # fmt: skip
    # the CLI: names outside the options are a usage error listing them; the variant's check names its own
    args = build_parser().parse_args(["fit", "x.nc", "--person-correlation", "s0,o0", "--out", "y.nc"])
    assert args.person_correlation == ("s0", "o0")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "x.nc", "--person-correlation", "s0,bogus", "--out", "y.nc"])
    assert "'bogus'" in capsys.readouterr().err
    path = tmp_path / "study.nc"
    study.to_netcdf(path, engine="h5netcdf")
    argv = ["fit", str(path), "--variant", "stable", "--person-correlation", "s0,theta_pos_s", "--out", "f.nc"]
    assert main(argv) == 2
    assert "'theta_pos_s'" in capsys.readouterr().err


def test_save_load_keeps_the_option(tmp_path):
    """The option travels with a saved fit (a one-draw posterior at the truth stands in for a fit)."""
    names = ("s0", "o0")
    study = ab.simulate("stable", 4, 6, seed=4, person_correlation=names)
    model = ab.ASEMModel(study, "stable", person_correlation=names, config=ab.SamplerConfig(chains=1, draws=1))
    truth, v = true_params(study), model._variant
    assert v.person_correlation == names
    scalars = [*v.param_names, *v.correlation_names]
    post = xr.Dataset(
        {k: (("chain", "draw"), [[truth[k]]]) for k in scalars}
        | {k: (("chain", "draw", "dyad", "person"), truth[k][None, None]) for k in v.person_param_names},
        coords={"chain": [0], "draw": [0], "dyad": study["dyad"].values, "person": [0, 1]},
    )
    model.idata = xr.DataTree.from_dict({"posterior": post})
    model.idata.attrs["loo_unit"] = "person"
    again = ab.ASEMModel.load(model.save(tmp_path / "fit.nc"))
    assert again._variant.person_correlation == names
    assert again.idata.attrs["person_correlation"] == "s0,o0"
    assert again.idata.posterior["corr_s0_o0"].item() == corr.REFERENCE
    assert again.idata["log_likelihood"]["log_lik"].shape == (1, 1, 4, 2)


# --------------------------------------------------------------------------------------------
# fits (slow suite)


@pytest.mark.slow
def test_fit_reports_the_correlation_and_round_trips(tmp_path):
    study = ab.simulate("asem", 8, 14, seed=6, person_correlation=NAMES, params=TRUTH)
    model = ab.ASEMModel(
        study, "asem", person_correlation=NAMES, config=ab.SamplerConfig(draws=40, tune=40, chains=1)
    )
    idata = model.fit(seed=1)
    post = idata.posterior
    assert idata.attrs["person_correlation"] == "s0,o0,theta_pos_s"
    assert set(TRUTH) <= set(post.data_vars) and not set(corr.SAMPLER_ONLY) & set(post.data_vars)
    assert np.all(np.abs(post["corr_s0_o0"].values) < 1)
    from asem_bayes.diagnostics import summary_table

    assert set(TRUTH) <= set(summary_table(idata, true_params(study)).index)
    again = ab.ASEMModel.load(model.save(tmp_path / "fit.nc"))
    assert again._variant.person_correlation == NAMES
    np.testing.assert_allclose(
        again.idata["log_likelihood"]["log_lik"].values, idata["log_likelihood"]["log_lik"].values, rtol=1e-10
    )


@pytest.mark.slow
def test_recovery_of_a_strong_correlation():
    """``corr_s0_o0 = 0.6`` inside its 90% interval, 60 couples x 28 days of ``asem``."""
    names = ("s0", "o0")
    study = ab.simulate("asem", 60, 28, params={"corr_s0_o0": 0.6}, seed=12, person_correlation=names)
    fit = ab.fit(study, "asem", draws=300, tune=300, chains=2, seed=1, person_correlation=names)
    x = fit.posterior["corr_s0_o0"].values
    lo, hi = np.quantile(x, [0.05, 0.95])
    print(f"corr_s0_o0: truth 0.6, mean {x.mean():.3f}, 90% [{lo:.3f}, {hi:.3f}]")
    assert lo < 0.6 < hi
    assert lo > 0.0  # the data tell a strong correlation from none
