"""Ratings declared on another scale are fitted on the scale the priors assume (issue 23).

The observation model's priors assume ratings on 1..7 (``c_V_mu ~ Normal(4, 1)``,
``k_V ~ LogNormal(0.4, 0.3)``). A 0..100 slider read as it is puts ``k_V`` near 25; declared in
the mapping, it is rescaled to 1..7 when read and the fit matches the fit of the 1..7 data.
"""

from __future__ import annotations

import json

import pytest

import asem_bayes as ab
from asem_bayes import dims as D
from asem_bayes.asem_model import ASEMModel, SamplerConfig
from asem_bayes.data import load_diary
from asem_bayes.diagnostics import report
from asem_bayes.inputs import prepare_inputs

RATINGS = (*D.DAILY_RATINGS, *D.TRAITS)
CONFIG = SamplerConfig(draws=300, tune=300, chains=2, target_accept=0.9)
# a loading and the observation parameters near it: they must agree to within half a posterior SD
# (two fits of the same data differ by Monte Carlo error only, about 0.1-0.2 SD at these draws)
COMPARED = ("k_V", "k_A", "c_V_mu", "c_A_mu", "sigma_V", "l_V")
TOL_SD = 0.5


def _tables():
    study = ab.simulate("stable", n_dyads=8, n_days=14, seed=21)
    df = ab.to_long(study)
    for r in RATINGS:
        df[r] = df[r].clip(1, 7)  # a real 1..7 item cannot leave its scale
    slider = df.copy()
    for r in RATINGS:
        slider[r] = (df[r] - 1) / 6 * 100
    return df, slider


def _mapping(rng):
    events = {e: e for e in D.EVENTS}
    spec = {"scale": "continuous"} if rng is None else {"scale": "continuous", "range": list(rng)}
    return {"columns": {**events, **{r: {"column": r, **spec} for r in RATINGS}}}


def _means(model):
    post = model.idata.posterior
    return {n: (float(post[n].mean()), float(post[n].std())) for n in COMPARED}


@pytest.fixture(scope="module")
def fits():
    df, slider = _tables()
    on_7 = load_diary(df, mapping=_mapping((1, 7)))
    on_100 = load_diary(slider, mapping=_mapping((0, 100)))
    as_read = load_diary(slider, mapping=_mapping(None))
    base = ASEMModel(on_7, "stable", config=CONFIG)
    base.fit(seed=1)
    rescaled = base.refit(on_100, seed=1)
    with pytest.warns(UserWarning, match="priors assume ratings on the 1..7 scale"):
        unscaled = base.refit(as_read, seed=1)
    return base, rescaled, unscaled


def test_a_declared_0_100_slider_is_fitted_like_the_1_7_data(fits):
    base, rescaled, unscaled = fits
    ref, got, raw = _means(base), _means(rescaled), _means(unscaled)
    for name in COMPARED:
        (m0, sd0), (m1, _) = ref[name], got[name]
        assert abs(m1 - m0) < TOL_SD * sd0, (name, m0, m1, sd0)
    # the control: the same slider read as it is lands far away (k_V near 25 against ~1.5)
    assert abs(raw["k_V"][0] - ref["k_V"][0]) > 10 * ref["k_V"][1], (raw["k_V"], ref["k_V"])


def test_the_rescaling_is_recorded_and_reported(fits, tmp_path):
    _, rescaled, _ = fits
    study = rescaled.study
    scales = json.loads(study.attrs["rating_scales"])
    assert scales["state_avoidance"] == {
        "fitted_on": [1.0, 7.0], "declared": [0.0, 100.0], "rescaled": True, "units_per_point": 100 / 6
    }
    assert "state_avoidance rescaled from its declared 0..100 to the priors' 1..7 scale" in study.attrs["load_report"]
    text = report(rescaled.idata)
    assert "state_avoidance: declared 0..100, fitted rescaled to 1..7" in text
    assert "k_V" in text.split("state_avoidance: declared")[1].splitlines()[0]  # how to read k_V back
    path = rescaled.save(tmp_path / "fit.nc")
    again = ASEMModel.load(path)
    assert json.loads(again.idata.attrs["rating_scales"]) == scales  # kept with the saved fit
    assert json.loads(again.study.attrs["rating_scales"]) == scales


def test_an_undeclared_off_scale_rating_is_not_fitted_silently():
    _, slider = _tables()
    study = ab.from_long(slider)
    with pytest.warns(UserWarning, match="'state_avoidance' lies at .* priors assume ratings on the 1..7 scale"):
        inp = prepare_inputs(study)
    assert any("declare the rating's range" in n for n in inp.notes)
    on_7 = ab.from_long(_tables()[0])
    assert not any("priors assume" in n for n in prepare_inputs(on_7).notes)


def test_a_rating_declared_on_the_priors_scale_is_reported_as_declared():
    import xarray as xr

    from asem_bayes.data import rescale_ratings
    from asem_bayes.diagnostics import scale_lines

    study = ab.simulate("stable", n_dyads=3, n_days=7, seed=2)
    out = rescale_ratings(study, {"state_avoidance": (1.0, 7.0)})
    rec = json.loads(out.attrs["rating_scales"])
    assert rec["state_avoidance"]["declared"] == [1.0, 7.0] and not rec["state_avoidance"]["rescaled"]
    assert rec["state_anxiety"]["declared"] is None
    tree = xr.DataTree()
    tree.attrs["rating_scales"] = out.attrs["rating_scales"]
    lines = scale_lines(tree)
    assert any("state_avoidance: declared 1..7, the priors' scale" in x for x in lines)
    assert any("state_anxiety: used as read (no range declared" in x for x in lines)
