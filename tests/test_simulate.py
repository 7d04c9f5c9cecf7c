"""The seeded dyadic diary simulator: reproducibility, layout, design options, round trips, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes import dims as D  # noqa: N812
from asem_bayes import dynamics
from asem_bayes.registry import UnknownVariantError, get_variant, list_variants
from asem_bayes.schema import SchemaError
from asem_bayes.simulate import Design

OBSERVED = D.EVENTS + D.DAILY_RATINGS + D.TRAITS


@pytest.fixture(scope="module")
def study() -> xr.Dataset:
    return ab.simulate("asem", n_dyads=40, n_days=30, seed=7)


# --- reproducibility ---------------------------------------------------------------------------


def test_same_seed_same_data():
    a = ab.simulate("asem", 20, 25, seed=3, design=Design(likert=7, missing_days=0.1, missing_items=0.1))
    b = ab.simulate("asem", 20, 25, seed=3, design=Design(likert=7, missing_days=0.1, missing_items=0.1))
    xr.testing.assert_identical(a, b)
    g1, g2 = np.random.default_rng(99), np.random.default_rng(99)
    xr.testing.assert_identical(ab.simulate("uniform", 5, 10, seed=g1), ab.simulate("uniform", 5, 10, seed=g2))


def test_different_seeds_different_data():
    a = ab.simulate("asem", 20, 25, seed=3)
    b = ab.simulate("asem", 20, 25, seed=4)
    for name in ("threat", "confidence", "state_anxiety", "trait_avoidance", "self_model", "s0", "c_A"):
        assert not np.array_equal(a[name].values, b[name].values, equal_nan=True), name


def test_design_changes_do_not_change_the_truth():
    """Rating scale and missingness draw from their own streams: the latent study stays the same."""
    a = ab.simulate("asem", 15, 20, seed=5)
    b = ab.simulate("asem", 15, 20, seed=5, design=Design(likert=5, missing_days=0.3, missing_items=0.2))
    for name in ("self_model", "others_model", "fatigue", "s0", "theta_pos_s") + tuple(f"{e}_true" for e in D.EVENTS):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_prior_draws_differ_from_reference_values():
    v = get_variant("asem")
    ds = ab.simulate(v, 5, 10, params="prior", seed=8)
    truth = ab.true_params(ds)
    assert any(truth[p.name] != p.default for p in v.params)
    v.check({k: truth[k] for k in v.param_names})  # prior draws for the simulation stay within bounds


# --- layout ------------------------------------------------------------------------------------


def test_dims_coords_and_roles(study: xr.Dataset):
    assert dict(study.sizes) == {D.DYAD: 40, D.PERSON: 2, D.DAY: 30, D.WAVE: 2}
    np.testing.assert_array_equal(study[D.DYAD], np.arange(40))
    np.testing.assert_array_equal(study[D.PERSON], [0, 1])
    np.testing.assert_array_equal(study[D.DAY], np.arange(30))
    np.testing.assert_array_equal(study["wave_day"], [0, 29])  # default waves: first and last day
    expected = {
        **{e: (D.ROLE_EVENT, D.DYAD_DAY_DIMS) for e in D.DYAD_EVENTS},
        **{e: (D.ROLE_EVENT, D.PERSON_DAY_DIMS) for e in D.PERSON_EVENTS},
        **{r: (D.ROLE_RATING, D.PERSON_DAY_DIMS) for r in D.DAILY_RATINGS},
        **{r: (D.ROLE_TRAIT, D.PERSON_WAVE_DIMS) for r in D.TRAITS},
        **{x: (D.ROLE_LATENT, D.PERSON_DAY_DIMS) for x in D.LATENT},
        **{f"{e}_true": (D.ROLE_LATENT, D.PERSON_DAY_DIMS) for e in D.EVENTS},
    }
    for name, (role, dims) in expected.items():
        assert study[name].attrs["role"] == role, name
        assert study[name].dims == dims, name
    v = get_variant("asem")
    params = {n for n, x in study.data_vars.items() if x.attrs["role"] == D.ROLE_PARAMETER}
    assert params == set(v.param_names) | set(v.person_param_names)
    assert set(study.data_vars) == set(expected) | params
    for pp in v.person_params:
        assert study[pp.name].dims == D.PERSON_DIMS
    assert study.attrs["variant"] == "asem" and study.attrs["likert"] == 0


def test_true_params_returns_every_parameter(study: xr.Dataset):
    truth = ab.true_params(study)
    v = get_variant("asem")
    assert set(truth) == set(v.param_names) | set(v.person_param_names)
    assert truth["rho"] == v.param("rho").default
    assert truth["s0"].shape == (40, 2)


def test_events_are_binary_and_buffering_needs_a_threat(study: xr.Dataset):
    for e in D.EVENTS:
        assert set(np.unique(study[f"{e}_true"].values)) <= {0.0, 1.0}, e
    threat = study["threat_true"].values
    assert np.all(study["safe_true"].values <= threat)
    assert np.all(study["soft_true"].values <= threat)
    # shared events are the same for both partners
    for e in D.DYAD_EVENTS:
        np.testing.assert_array_equal(study[f"{e}_true"].values[:, 0], study[f"{e}_true"].values[:, 1])
        np.testing.assert_array_equal(study[e].values, study[f"{e}_true"].values[:, 0])


def test_event_arrays_are_read_only(study: xr.Dataset):
    with pytest.raises(ValueError, match="read-only"):
        study["threat"].values[0, 0] = 1.0
    editable = study.copy(deep=True)
    editable["threat"].values[0, 0] = np.nan
    assert np.isnan(editable["threat"].values[0, 0]) and not np.isnan(study["threat"].values[0, 0])


@pytest.mark.parametrize("variant", list_variants())
def test_latent_states_follow_the_shared_dynamics(variant: str):
    """Re-running dynamics.step on the stored true events (from the latents of the stored initial
    models) reproduces the stored trajectories."""
    ds = ab.simulate(variant, 10, 20, seed=2)
    v = get_variant(variant)
    p = {k: (np.asarray(x) if np.ndim(x) else x) for k, x in ab.true_params(ds).items()}
    zs, zo = dynamics.latent(np, p["s0"]), dynamics.latent(np, p["o0"])
    f = np.zeros((10, 2))
    for t in range(ds.sizes[D.DAY]):
        np.testing.assert_allclose(ds["self_model"].values[..., t], np.tanh(zs), rtol=0, atol=1e-12)
        np.testing.assert_allclose(ds["others_model"].values[..., t], np.tanh(zo), rtol=0, atol=1e-12)
        np.testing.assert_allclose(ds["fatigue"].values[..., t], f, rtol=0, atol=1e-12)
        ev = dynamics.Events(*(ds[f"{e}_true"].values[..., t].astype(float) for e in D.EVENTS))
        zs, zo = dynamics.step(np, v, zs, zo, ev, p)
        f = dynamics.fatigue_step(np, f, ev.safe, ev.soft, p.get("zeta", 0.0))
    if variant == "stable":
        assert np.all(ds["self_model"].values == ds["self_model"].values[..., :1])


def test_continuous_ratings_follow_the_observation_model():
    ds = ab.simulate("asem", 200, 20, seed=4)
    p = {k: (np.asarray(x)[..., None] if np.ndim(x) else x) for k, x in ab.true_params(ds).items()}
    ev = dynamics.Events(*(ds[f"{e}_true"].values.astype(float) for e in D.EVENTS))
    mu_A, mu_V = dynamics.rating_means(np, ds["self_model"].values, ds["others_model"].values, ev, p)
    for y, mu, sigma in ((ds["state_anxiety"], mu_A, p["sigma_A"]), (ds["state_avoidance"], mu_V, p["sigma_V"])):
        r = (y.values - mu).ravel()
        # 8000 residuals: the mean's SE is sigma / 90 and the SD's about sigma / 126; 5 SE.
        assert abs(r.mean()) < 5 * sigma / 90
        assert abs(r.std() / sigma - 1) < 5 / 126


# --- design options -------------------------------------------------------------------------------


def test_wave_days():
    ds = ab.simulate("asem", 30, 40, seed=1, design=Design(wave_days=(0, 13, 27, 39)))
    assert ds.sizes[D.WAVE] == 4
    np.testing.assert_array_equal(ds["wave_day"], [0, 13, 27, 39])
    p = ab.true_params(ds)
    # trait scores measure the model of self at the wave day, with the questionnaire's noise
    mu = p["m_A"] - p["l_A"] * ds["self_model"].values[..., [0, 13, 27, 39]]
    r = ds["trait_anxiety"].values - mu
    assert abs(r.std() / p["sigma_TA"] - 1) < 0.15  # 240 residuals: SD's SE ~ 5%, 3 SE
    mu_wrong = p["m_A"] - p["l_A"] * ds["self_model"].values[..., [1, 14, 28, 38]]
    assert np.abs(ds["trait_anxiety"].values - mu_wrong).mean() > np.abs(r).mean()


def test_likert_ratings_are_integers_in_range():
    ds = ab.simulate("asem", 40, 20, seed=2, design=Design(likert=7, missing_items=0.1))
    assert ds.attrs["likert"] == 7
    for name in D.DAILY_RATINGS:
        y = ds[name].values
        y = y[~np.isnan(y)]
        assert np.all(y == np.round(y))
        assert y.min() >= 1 and y.max() <= 7
        assert len(np.unique(y)) >= 5  # the scale is used, not collapsed on one end
    y = ab.simulate("asem", 40, 20, seed=2)["state_anxiety"].values
    assert not np.all(y == np.round(y))  # continuous by default


@pytest.mark.parametrize("missing_days, missing_items", [(0.2, 0.0), (0.0, 0.1), (0.15, 0.1)])
def test_missingness_rates(missing_days: float, missing_items: float):
    ds = ab.simulate("asem", 150, 40, seed=6, design=Design(missing_days=missing_days, missing_items=missing_items))
    # 12,000 person-days: a rate's SE is at most 0.0046, so 0.02 is more than 4 SE.
    tol = 0.02
    missed = np.isnan(ds["confidence"].values)  # person events are hidden only on missed days
    assert abs(missed.mean() - missing_days) < tol
    expected = 1 - (1 - missing_days) * (1 - missing_items)
    for name in D.DAILY_RATINGS:
        nan = np.isnan(ds[name].values)
        assert abs(nan.mean() - expected) < tol, name
        assert np.all(nan[missed]), f"{name} observed on a missed day"
    for name in ("safe", "soft"):
        np.testing.assert_array_equal(np.isnan(ds[name].values), missed)
    # shared events are lost only when both partners missed the day
    for name in D.DYAD_EVENTS:
        np.testing.assert_array_equal(np.isnan(ds[name].values), missed.all(axis=1))
    # the two daily items go missing independently
    both = np.isnan(ds["state_anxiety"].values) & np.isnan(ds["state_avoidance"].values)
    assert abs(both.mean() - (missing_days + (1 - missing_days) * missing_items**2)) < tol
    # trait waves are missed with the day
    waves = list(ds["wave_day"].values)
    np.testing.assert_array_equal(np.isnan(ds["trait_anxiety"].values), missed[..., waves])
    # the states still advance on missed days
    assert np.all(np.isfinite(ds["self_model"].values))


def test_exogenous_events():
    rates = {"threat": 0.3, "safe": 0.6, "soft": 0.4, "confidence": 0.2, "dependence": 0.1}
    n = 100
    s0 = np.where(np.arange(n)[:, None] < n // 2, -0.8, 0.8) * np.ones((1, 2))
    ds = ab.simulate("asem", n, 60, params={"s0": s0, "o0": s0}, design=Design(exogenous_events=rates), seed=3)
    threat = ds["threat_true"].values
    # 6000 dyad-days / 12,000 person-days: rates' SE <= 0.007; 0.03 is > 4 SE.
    assert abs(threat[:, 0].mean() - rates["threat"]) < 0.03
    assert abs(ds["safe_true"].values[threat == 1].mean() - rates["safe"]) < 0.03
    assert abs(ds["soft_true"].values[threat == 1].mean() - rates["soft"]) < 0.03
    assert abs(ds["confidence_true"].values.mean() - rates["confidence"]) < 0.03
    assert abs(ds["dependence_true"].values.mean() - rates["dependence"]) < 0.03
    # rates do not depend on the states: insecure and secure couples meet threats equally often
    insecure, secure = threat[: n // 2].mean(), threat[n // 2 :].mean()
    assert abs(insecure - secure) < 0.05
    # events left out of the mapping never happen
    ds0 = ab.simulate("asem", 10, 10, design=Design(exogenous_events={"confidence": 0.5}), seed=1)
    assert ds0["threat_true"].values.sum() == 0 and ds0["confidence_true"].values.sum() > 0


def test_person_params_as_scalars_or_arrays():
    s0 = np.linspace(-0.9, 0.9, 8).reshape(4, 2)
    ds = ab.simulate("asem", 4, 5, params={"s0": s0, "o0": 0.2, "rho": 0.1}, seed=1)
    np.testing.assert_array_equal(ds["s0"].values, s0)
    np.testing.assert_array_equal(ds["self_model"].values[..., 0], s0)
    assert np.all(ds["o0"].values == 0.2)
    assert float(ds["rho"]) == 0.1


# --- long table -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "design",
    [Design(), Design(likert=7, missing_days=0.2, missing_items=0.1, wave_days=(0, 10, 24))],
    ids=["continuous", "likert-missing"],
)
def test_long_round_trip(design: Design):
    ds = ab.simulate("asem", 12, 25, seed=9, design=design)
    df = ab.to_long(ds)
    assert list(df.columns) == list(D.LONG_COLUMNS)
    assert len(df) == 12 * 2 * 25
    assert not df.duplicated(list(D.LONG_INDEX)).any()
    back = ab.from_long(df)
    assert back.attrs["likert"] == ds.attrs["likert"]
    np.testing.assert_array_equal(back["wave_day"].values, ds["wave_day"].values)
    for name in OBSERVED:
        assert back[name].dims == ds[name].dims, name
        np.testing.assert_array_equal(back[name].values, ds[name].values.astype(float), err_msg=name)
    # the table survives a CSV round trip too (what `asem simulate --out x.csv` writes)
    csv = pd.read_csv(pd.io.common.StringIO(df.to_csv(index=False)))
    again = ab.from_long(csv, likert=design.likert)
    for name in OBSERVED:
        np.testing.assert_allclose(again[name].values, ds[name].values.astype(float), rtol=1e-12, err_msg=name)


def test_from_long_fills_absent_person_days():
    ds = ab.simulate("asem", 3, 6, seed=1)
    df = ab.to_long(ds)
    dropped = df[~((df[D.DYAD] == 1) & (df[D.DAY] == 2))]  # both partners' rows for one day gone
    back = ab.from_long(dropped)
    assert back.sizes[D.DAY] == 6
    assert np.isnan(back["state_anxiety"].sel({D.DYAD: 1, D.DAY: 2})).all()
    assert np.isnan(back["threat"].sel({D.DYAD: 1, D.DAY: 2}))
    with pytest.raises(ValueError, match="index column"):
        ab.from_long(df.drop(columns=[D.PERSON]))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"variant": "asme"}, UnknownVariantError, "unknown variant 'asme'"),
        ({"params": {"rhoo": 0.2}}, SchemaError, r"no parameter\(s\) \['rhoo'\]"),
        ({"params": {"rho": 1.5}}, SchemaError, r"rho=1.5 outside its bounds \(0, 1\)"),
        ({"params": {"psi_pos_s": float("nan")}}, SchemaError, "psi_pos_s"),
        ({"params": {"sigma_A": -0.1}}, SchemaError, "sigma_A"),
        ({"params": {"kappa": 0.5}}, SchemaError, "kappa"),  # belongs to buffer_enhances only
        ({"params": {"s0": 1.2}}, SchemaError, "s0 must lie in"),
        ({"params": {"c_A": np.zeros((3, 3))}}, SchemaError, r"c_A must be a scalar or a \(dyad, person\)"),
        ({"params": "posterior"}, ValueError, "'prior' or a mapping"),
        ({"n_days": 1}, ValueError, "at least 1 dyad and 2 days"),
        ({"n_dyads": 0}, ValueError, "at least 1 dyad"),
        ({"design": Design(missing_days=1.0)}, ValueError, "missing_days"),
        ({"design": Design(missing_items=-0.1)}, ValueError, "missing_items"),
        ({"design": Design(likert=1)}, ValueError, "likert"),
        ({"design": Design(wave_days=(0, 30))}, ValueError, r"wave day\(s\) \[30\] outside"),
        ({"design": Design(wave_days=(3, 3))}, ValueError, "repeat"),
        ({"design": Design(exogenous_events={"thread": 0.2})}, ValueError, "unknown event"),
        ({"design": Design(exogenous_events={"threat": 1.2})}, ValueError, r"\['threat'\]=1.2"),
    ],
)
def test_bad_designs_and_params_raise_clear_errors(kwargs, error, match):
    args = {"variant": "asem", "n_dyads": 3, "n_days": 10, "seed": 1, **kwargs}
    with pytest.raises(error, match=match):
        ab.simulate(**args)
