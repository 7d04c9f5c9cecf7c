"""``asem whatif`` and ``asem forecast`` on a saved fit (draws jittered around the truth: no sampler)."""

from __future__ import annotations

import xarray as xr
from test_whatif import FAST, fake_posterior

import asem_bayes as ab
from asem_bayes.asem_model import ASEMModel
from asem_bayes.cli import main


def _saved_fit(tmp_path):
    study = ab.simulate("asem", n_dyads=6, n_days=21, params=FAST, seed=3)
    model = ASEMModel(study, "asem")
    model.idata = xr.DataTree.from_dict({"posterior": fake_posterior(study, "asem", draws=10)})
    return model.save(tmp_path / "fit.nc")


def test_whatif_prints_the_difference_and_writes_the_projection_and_chart(tmp_path, capsys):
    path = _saved_fit(tmp_path)
    out, png = tmp_path / "what.nc", tmp_path / "fan.png"
    rc = main(["whatif", str(path), "--set", "threat=0", "--set", "safe@0*=2", "--days", "14", "--seed", "1",
               "--out", str(out), "--plot", str(png)])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0
    assert "threat = 0 per day" in text and "received by person 0 (given by person 1)" in text
    assert "trait_anxiety" in text and "difference" in text
    tree = xr.open_datatree(out)
    assert set(tree.children) == {"fitted", "altered", "difference"}
    assert float(tree["difference"]["self_model"].isel(day=-1).mean()) > 0  # no threats: more secure
    assert png.stat().st_size > 10_000


def test_forecast_prints_the_study_end_and_the_forecast(tmp_path, capsys):
    path = _saved_fit(tmp_path)
    assert main(["forecast", str(path), "--days", "28", "--by", "person"]) == 0
    text = capsys.readouterr().out
    assert "end_of_study" in text and "forecast of day 48" in text  # day 21 + 28 - 1


def test_a_bad_alteration_is_a_clear_error(tmp_path, capsys):
    path = _saved_fit(tmp_path)
    assert main(["whatif", str(path), "--set", "threat@1=0"]) == 2
    assert "shared by the couple" in capsys.readouterr().err
