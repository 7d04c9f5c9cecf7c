"""Covariate effects on person-level parameters: specification, data checks, the simulator tied to
the likelihood, the sampling coordinates, saving and loading, and arm-effect recovery.

Compiling dominates: the log-density checks use JAX (seconds), and one nutpie model serves the
trial, the null trial and the save/load round trip.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytensor.tensor as pt
import pytest
import xarray as xr
from pymc.model.transform.optimization import freeze_dims_and_data
from pytensor.graph.fg import FunctionGraph
from pytensor.link.jax.dispatch import jax_funcify
from scipy import stats

import asem_bayes as ab
from asem_bayes import coords as sampling_coords
from asem_bayes import dims as D  # noqa: N812
from asem_bayes.asem_model import ASEMModel, FitFileError, SamplerConfig
from asem_bayes.covariates import CovariateError, PersonCovariates, add_covariates, parse
from asem_bayes.diagnostics import summary_table
from asem_bayes.inputs import prepare_inputs
from asem_bayes.model import build_model, log_likelihood, point_from_params

_MODE = "JAX"  # compiles these small graphs in seconds (see tests/test_coords.py)
EFFECTS = {"s0": {"arm": 0.5, "length": -0.3}, "theta_pos_s": {"arm": 0.8}, "c_A": {"length": 0.4}}
SPEC = "s0 ~ arm + length; theta_pos_s ~ arm; c_A ~ length"


def _tie_study(n_dyads: int = 6, n_days: int = 10, seed: int = 3) -> xr.Dataset:
    """A small study with a couple-level arm (0/1) and a person-level, centred covariate."""
    rng = np.random.default_rng(seed)
    covariates = {"arm": np.arange(n_dyads) % 2, "length": rng.normal(0.0, 1.0, (n_dyads, 2))}
    return ab.simulate("asem", n_dyads, n_days, seed=seed, covariates=covariates, effects=EFFECTS)


# --- specification ---------------------------------------------------------------------------


def test_formulas_lists_and_mappings_give_one_specification():
    want = PersonCovariates("asem", (("s0", ("arm", "length")), ("theta_pos_s", ("arm",)), ("c_A", ("length",))))
    assert parse(SPEC, "asem") == want
    assert parse(["c_A ~ length", "theta_pos_s ~ arm", "s0 ~ arm + length"], "asem") == want
    assert parse({"theta_pos_s": ["arm"], "c_A": "length", "s0": ("arm", "length")}, "asem") == want
    assert PersonCovariates.from_json(want.to_json(), "asem") == want  # what a saved fit records
    assert not parse(None, "asem") and not parse({}, "asem") and not parse("s0 ~ 1", "asem")
    assert want.names == ("arm", "length")
    assert want.coords() == {
        "covariate_s0": ["arm", "length"],
        "covariate_theta_pos_s": ["arm"],
        "covariate_c_A": ["length"],
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"theta_pos_s": ["arm"]}, r"\['theta_pos_s'\], not person-level parameter\(s\) of 'uniform'"),
        ({"k_A": ["arm"]}, "not person-level"),
        ("s0 ~ arm * length", "joined by '\\+'.*interaction"),
        ("s0 = arm", "form 'param ~ cov"),
        ("s0 ~ arm; s0 ~ length", "'s0' twice"),
        ({"s0": ["arm", "arm"]}, r"\['arm'\] named twice"),
    ],
)
def test_bad_specifications_are_named(spec, message):
    with pytest.raises(CovariateError, match=message):
        parse(spec, "uniform")


# --- covariate values in the study ----------------------------------------------------------


@pytest.fixture(scope="module")
def plain_study() -> xr.Dataset:
    return ab.simulate("asem", n_dyads=4, n_days=6, seed=2)


def _with(study: xr.Dataset, name: str, dims: tuple[str, ...], values, role: str | None = D.ROLE_COVARIATE):
    out = study.copy()
    out[name] = xr.DataArray(np.asarray(values), dims=dims, attrs={} if role is None else {"role": role})
    return out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s, "the study has no covariate 'arm'"),
        (lambda s: _with(s, "arm", (D.DYAD, D.DAY), np.zeros((4, 6))), r"dims \('dyad', 'day'\)"),
        (lambda s: _with(s, "arm", (D.DYAD,), ["a", "b", "a", "b"]), "not numeric.*0/1"),
        (
            lambda s: _with(s, "arm", D.PERSON_DIMS, [[0, 1], [0, np.nan], [1, 1], [0, 1]]),
            "missing or infinite for 1 person.*dyad=1, person=1",
        ),
        (lambda s: _with(s, "arm", (D.DYAD,), [1, 1, 1, 1]), "value 1 for every person"),
        (lambda s: _with(s, "arm", (D.DYAD,), [0, 1, 0, 1], role=D.ROLE_RATING), "role 'rating'"),
    ],
)
def test_bad_covariate_values_are_named(plain_study, mutate, message):
    with pytest.raises(CovariateError, match=message):
        ASEMModel(mutate(plain_study), "asem", person_covariates="s0 ~ arm")


def test_couple_covariates_hold_for_both_partners_and_a_role_is_optional(plain_study):
    study = add_covariates(plain_study, arm=[0, 1, 0, 1])
    assert study["arm"].attrs["role"] == D.ROLE_COVARIATE
    no_role = _with(plain_study, "arm", (D.DYAD,), [0, 1, 0, 1], role=None)
    for s in (study, no_role):
        X = parse("s0 ~ arm", "asem").matrices(s)["s0"]
        np.testing.assert_array_equal(X[..., 0], [[0, 0], [1, 1], [0, 0], [1, 1]])
    with pytest.raises(CovariateError, match=r"shape \(3,\)"):
        add_covariates(plain_study, arm=[0, 1, 0])


# --- simulator ------------------------------------------------------------------------------


def test_simulated_effects_shift_the_linear_predictor_only():
    arm = np.arange(8) % 2
    base = ab.simulate("asem", 8, 12, seed=5)
    null = ab.simulate("asem", 8, 12, seed=5, covariates={"arm": arm}, effects={"s0": {"arm": 0.0}})
    shifted = ab.simulate(
        "asem", 8, 12, seed=5, covariates={"arm": arm}, effects={"s0": {"arm": 0.5}, "theta_pos_s": {"arm": -1.0}}
    )
    # same seed, same persons: a null effect changes nothing, an effect moves the linear predictor
    for name in ("self_model", "state_anxiety", "s0", "theta_pos_s"):
        np.testing.assert_array_equal(null[name].values, base[name].values, err_msg=name)
    both = np.broadcast_to(arm[:, None], (8, 2))  # a couple covariate holds for both partners
    np.testing.assert_allclose(np.arctanh(shifted["s0"].values) - np.arctanh(base["s0"].values), 0.5 * both)
    np.testing.assert_allclose(shifted["theta_pos_s"].values - base["theta_pos_s"].values, -1.0 * both)
    truth = ab.true_params(shifted)
    assert list(shifted["beta_s0"].coords["covariate_s0"].values) == ["arm"]
    assert float(truth["beta_theta_pos_s"].sel(covariate_theta_pos_s="arm")) == -1.0
    assert shifted["arm"].attrs["role"] == D.ROLE_COVARIATE and shifted.attrs["person_covariates"]
    with pytest.raises(CovariateError, match="covariates= does not give"):
        ab.simulate("asem", 8, 12, seed=5, effects={"s0": {"arm": 0.5}})


# --- the likelihood: simulator tie and density identities ------------------------------------


def _frozen(model):
    """Dims and data as constants (JAX traces shapes statically), keeping what the package attached."""
    out = freeze_dims_and_data(model)
    for k, x in vars(model).items():
        if k.startswith("asem_"):
            setattr(out, k, x)
    return out


@functools.cache
def _models():
    study = _tie_study()
    cov = _frozen(build_model(study, "asem", kernel="scan", person_covariates=SPEC))
    plain = _frozen(build_model(study, "asem", kernel="scan"))
    return study, cov, plain


def _compiled(model, outs):
    return model.compile_fn(
        model.replace_rvs_by_values(outs), inputs=model.value_vars, on_unused_input="ignore", mode=_MODE
    )


def test_model_with_covariates_reproduces_the_simulator():
    study, cov, _ = _models()
    names = ["self_model", "others_model", "s0", "theta_pos_s", "c_A"]
    f = _compiled(cov, [cov[n] for n in names])
    got = f(point_from_params(cov, "asem", ab.true_params(study)))
    for name, x in zip(names, got, strict=True):
        np.testing.assert_allclose(x, study[name].values, rtol=0, atol=1e-10, err_msg=name)


def test_log_density_with_covariates_is_the_hand_computed_one():
    """With the same person values, the covariate model's density differs from the plain model's
    only in the priors: the standardised z of the shifted parameters and the coefficients'."""
    study, cov, plain = _models()
    truth = ab.true_params(study)
    lp_cov = float(_compiled(cov, [cov.logp()])(point_from_params(cov, "asem", truth))[0])
    lp_plain = float(_compiled(plain, [plain.logp()])(point_from_params(plain, "asem", truth))[0])
    spec = parse(SPEC, "asem")
    by_hand = 0.0
    for pp in spec.params():
        X = spec.matrices(study)[pp.name]
        beta = truth[pp.effect_name].sel({pp.effect_dim: list(spec.covariates_of(pp.name))}).values
        z_cov = pp.standardise(truth[pp.name], truth, X @ beta)
        z_plain = pp.standardise(truth[pp.name], truth)
        by_hand += stats.norm.logpdf(z_cov).sum() - stats.norm.logpdf(z_plain).sum()
        by_hand += stats.norm.logpdf(beta, 0.0, pp.effect_sd).sum()
    assert abs(by_hand) > 1.0  # the covariates matter here, so the identity says something
    assert lp_cov - lp_plain == pytest.approx(by_hand, abs=1e-6)


def test_numpy_log_likelihood_needs_no_change_for_covariates():
    """log_lik and predictions read the person values: at the truth the numpy log-likelihood
    equals the PyMC observed density of the covariate model."""
    study, cov, _ = _models()
    truth = ab.true_params(study)
    expected = float(_compiled(cov, [cov.logp(vars=cov.observed_RVs)])(point_from_params(cov, "asem", truth))[0])
    v = ab.get_variant("asem")
    post = xr.Dataset(
        {
            k: (("chain", "draw", *D.PERSON_DIMS), np.asarray(truth[k])[None, None])
            if np.ndim(truth[k]) == 2
            else (("chain", "draw"), np.asarray(truth[k]).reshape(1, 1))
            for k in (*v.param_names, *v.person_param_names)
        }
    )
    got = float(log_likelihood(post, prepare_inputs(study), v, "conditional", unit="dyad")["log_lik"].sum())
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


@pytest.mark.slow  # moved from the default suite to keep it under 10 minutes on 2 cores
def test_sheared_density_with_covariates_is_the_schema_density():
    """The sampling coordinates read the initial working models, which now include X @ beta:
    the sheared model's density is still the schema model's plus the log-Jacobian of the map
    (autodiff), as in tests/test_coords.py."""
    study = _tie_study(n_dyads=3, n_days=8, seed=4)
    sheared = _frozen(build_model(study, "asem", trajectories=False, kernel="scan", person_covariates=SPEC))
    schema = _frozen(
        build_model(study, "asem", trajectories=False, kernel="scan", reparam=False, person_covariates=SPEC)
    )
    v = ab.get_variant("asem")
    names = [*v.param_names, *v.person_param_names, *(f"{pp.name}_z" for pp in v.person_params)]
    names += [pp.effect_name for pp in parse(SPEC, "asem").params()]
    ins = sheared.value_vars
    by_name = {vv.name: vv for vv in ins}
    outs = []
    for vv in schema.value_vars:
        if vv.name in by_name:
            outs.append(by_name[vv.name])
        else:  # a sheared parameter: its schema coordinate (log for the LogNormal loadings)
            x = sheared.replace_rvs_by_values([sheared[vv.name.removesuffix("_log__")]])[0]
            outs.append(pt.log(x) if vv.name.endswith("_log__") else x)
    f = _compiled(sheared, [sheared.logp(), *(sheared[n] for n in names)])
    jfn = jax_funcify(FunctionGraph(ins, [pt.concatenate([o.ravel() for o in outs])], clone=True))
    start = sheared.initial_point()
    shapes = [np.shape(start[vv.name]) for vv in ins]
    cuts = np.cumsum([int(np.prod(sh)) for sh in shapes])[:-1]

    def flat_map(u):
        return jfn(*(x.reshape(sh) for x, sh in zip(jnp.split(u, cuts), shapes, strict=True)))[0]

    jac = jax.jit(jax.jacfwd(flat_map))
    schema_logp = schema.compile_logp(mode=_MODE)
    rng = np.random.default_rng(1)
    folded = len(sampling_coords.plan("asem").folded)  # each folded spread: log 2 (tests/test_coords.py)
    offsets, lps = [], []
    for _ in range(4):
        u = {k: x + rng.normal(0.0, 0.5, np.shape(x)) for k, x in start.items()}
        lp, *vals = f(u)
        theirs = schema_logp(point_from_params(schema, "asem", dict(zip(names, vals, strict=True))))
        sign, logdet = np.linalg.slogdet(np.asarray(jac(np.concatenate([np.ravel(u[vv.name]) for vv in ins]))))
        assert sign != 0
        offsets.append(lp - (theirs + logdet) + folded * np.log(2.0))
        lps.append(lp)
    assert np.ptp(lps) > 1.0
    assert abs(offsets[0]) < 1e-5, offsets
    np.testing.assert_allclose(offsets, offsets[0], rtol=0, atol=1e-8)


# --- a randomised trial: the arm effect on the initial model of self is recovered ------------

N_DYADS, N_DAYS, ARM_EFFECT = 24, 14, 0.6  # couples randomised 1:1; effect on the atanh scale of s0
CONFIG = SamplerConfig(draws=300, tune=300, chains=2, target_accept=0.9)


def _trial(effect: float, seed: int) -> xr.Dataset:
    arm = np.arange(N_DYADS) % 2  # couple-level, 0/1: s0_mu is arm 0's mean, beta the difference
    return ab.simulate("asem", N_DYADS, N_DAYS, seed=seed, covariates={"arm": arm}, effects={"s0": {"arm": effect}})


def _interval(model: ASEMModel) -> np.ndarray:
    beta = model.idata.posterior["beta_s0"].sel(covariate_s0="arm").values.ravel()
    return np.quantile(beta, [0.05, 0.95])


@pytest.fixture(scope="module")
def trial_fit() -> ASEMModel:
    """The trial (seed 1) fitted with ``s0 ~ arm``: ASEMModel compiles the covariate model itself."""
    model = ASEMModel(_trial(ARM_EFFECT, seed=1), "asem", person_covariates="s0 ~ arm", config=CONFIG)
    model.fit(seed=1)
    return model


def test_trial_recovers_the_arm_effect_and_a_null_trial_covers_zero(trial_fit):
    lo, hi = _interval(trial_fit)
    assert lo < ARM_EFFECT < hi and lo > 0, (lo, hi)
    null = trial_fit.refit(_trial(0.0, seed=2), seed=2)  # same design: no recompiling
    lo0, hi0 = _interval(null)
    assert lo0 < 0 < hi0, (lo0, hi0)
    assert int(trial_fit.idata.sample_stats["diverging"].sum()) == 0


def test_report_shows_the_coefficients_against_the_truth(trial_fit):
    tab = summary_table(trial_fit.idata, truth=ab.true_params(trial_fit.study))
    assert tab.loc["beta_s0[arm]", "truth"] == ARM_EFFECT and tab.loc["beta_s0[arm]", "covered"]
    assert "beta_s0[arm]" in ab.report(trial_fit.idata)


def test_fit_with_covariates_saves_and_loads_the_same_model(trial_fit, tmp_path):
    a = trial_fit.idata
    assert a.attrs["person_covariates"] == '{"s0": ["arm"]}'
    assert list(a.posterior["beta_s0"].coords["covariate_s0"].values) == ["arm"]
    np.testing.assert_array_equal(
        a.constant_data["arm"].values, np.broadcast_to((np.arange(N_DYADS) % 2)[:, None], (N_DYADS, 2))
    )
    # the person values are deterministics: trajectories and log-likelihood need no covariates
    path = trial_fit.save(tmp_path / "fit.nc")
    again = ASEMModel.load(path)
    assert again.person_covariates == trial_fit.person_covariates and "arm" in again.study
    np.testing.assert_array_equal(
        again.log_likelihood()["log_lik"].values, trial_fit.log_likelihood()["log_lik"].values
    )
    np.testing.assert_allclose(
        again.idata.posterior["self_model"].values, a.posterior["self_model"].values, rtol=0, atol=1e-12
    )
    rebuilt = build_model(again.study, again.variant, person_covariates=again.person_covariates)
    assert rebuilt.named_vars_to_dims["beta_s0"] == ("covariate_s0",)
    with pytest.raises(CovariateError, match="no covariate 'arm'"):  # every study refitted needs them
        trial_fit.refit(ab.simulate("asem", N_DYADS, N_DAYS, seed=3))
    with pytest.raises(FitFileError, match="differs"):
        ASEMModel.load(path, study=trial_fit.study.assign(arm=1 - trial_fit.study["arm"]))


def test_predictions_and_projections_read_the_person_values(trial_fit):
    """Downstream code reads the person values (deterministics), so it needs no covariates: the
    posterior predictive and an unaltered what-if projection of the covariate fit."""
    ppc = trial_fit.sample_posterior_predictive(seed=3)
    assert ppc["state_anxiety"].shape[-3:] == (N_DYADS, 2, N_DAYS) and np.isfinite(ppc["trait_anxiety"]).all()
    proj = trial_fit.what_if(n_draws=20, seed=1)
    fitted = proj["fitted"]["self_model"]
    assert float(np.abs(proj["difference"]["self_model"]).max()) == 0.0
    # the projection's day 0 is each drawn person's s0, shifted by the arm
    post = trial_fit.idata.posterior["s0"].stack(sample=("chain", "draw"))
    assert float(fitted.isel(day=0).min()) >= float(post.min()) and float(fitted.isel(day=0).max()) <= float(post.max())


@pytest.mark.slow
def test_control_without_the_covariate_term_the_trial_fails(monkeypatch):
    """Control: with X @ beta dropped from the linear predictor (beta keeps its prior) the
    recovery check above must fail, so it tests the likelihood, not the prior."""
    monkeypatch.setattr("asem_bayes.model.covariate_shift", lambda X, beta: 0.0 * beta.sum())
    model = ASEMModel(_trial(ARM_EFFECT, seed=1), "asem", person_covariates="s0 ~ arm", config=CONFIG)
    model.fit(seed=1)
    lo, hi = _interval(model)
    assert not (lo < ARM_EFFECT < hi and lo > 0), (lo, hi)
