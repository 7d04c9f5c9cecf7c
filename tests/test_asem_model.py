"""``ASEMModel``: fit, refit without recompiling, save, reload in a new process, predict."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes.asem_model import ASEMModel, FitFileError, SamplerConfig

CONFIG = SamplerConfig(draws=100, tune=150, chains=2, target_accept=0.95)


@pytest.fixture(scope="module")
def fitted(small_study, compiled_asem):
    """The session's compiled 'asem' model (trajectories kept), fitted once."""
    model = ASEMModel(small_study, config=CONFIG, compiled=compiled_asem)
    model.fit(seed=4)
    return model


def test_fit_records_what_rebuilds_it(fitted):
    a = fitted.idata.attrs
    assert a["asem_variant"] == "asem" and a["asem_mode"] == "conditional" and a["missing_events"] == "error"
    assert json.loads(a["sampler_config"])["draws"] == 100
    assert a["study_hash"] == ab.study_hash(fitted.study) and a["asem_version"]
    assert "log_likelihood" in fitted.idata.children and fitted.idata.attrs["loo_unit"] == "person-week"


def test_refit_shares_the_compiled_model_and_refuses_another_design(fitted):
    other = ab.simulate("asem", n_dyads=12, n_days=21, seed=12)
    again = fitted.refit(other, seed=5)
    assert again._compiled is fitted._compiled and again.idata is not fitted.idata
    assert not np.allclose(again.idata.posterior["k_A"].values, fitted.idata.posterior["k_A"].values)
    with pytest.raises(ValueError, match="design"):
        fitted.refit(ab.simulate("asem", n_dyads=5, n_days=21, seed=1))


def test_saved_fit_reloads_in_a_new_process_with_the_same_predictions(fitted, tmp_path):
    """Posterior predictive (same seed) and log-likelihood from a reloaded file, in a fresh
    interpreter, equal those of the model in memory; the file keeps the posterior in float64
    and leaves the recomputable trajectories out."""
    path = fitted.save(tmp_path / "fit.nc")
    ll = fitted.log_likelihood("person-week")["log_lik"].values
    pp = fitted.sample_posterior_predictive(seed=7)["state_anxiety"].values
    script = (
        "import sys, numpy as np\n"
        "from asem_bayes import ASEMModel\n"
        "m = ASEMModel.load(sys.argv[1])\n"
        "np.save(sys.argv[2], m.log_likelihood('person-week')['log_lik'].values)\n"
        "np.save(sys.argv[3], m.sample_posterior_predictive(seed=7)['state_anxiety'].values)\n"
    )
    out_ll, out_pp = tmp_path / "ll.npy", tmp_path / "pp.npy"
    subprocess.run([sys.executable, "-c", script, str(path), str(out_ll), str(out_pp)], check=True, timeout=600)
    np.testing.assert_array_equal(np.load(out_ll), ll)
    np.testing.assert_array_equal(np.load(out_pp), pp)
    with xr.open_datatree(path) as dt:
        assert "self_model" not in dt["posterior"] and dt["posterior"]["k_A"].dtype == np.float64
        assert "study" in dt.children and "log_likelihood" not in dt.children


def test_trajectories_in_float32_keep_summaries_to_1e4(fitted, tmp_path):
    path = fitted.save(tmp_path / "traj.nc", trajectories=True)
    full = fitted.idata.posterior["self_model"]
    with xr.open_datatree(path) as dt:
        small = dt["posterior"]["self_model"].load()
    assert small.dtype == np.float32  # stored as float32 (decoded as such)
    for stat in (lambda x: x.mean(("chain", "draw")), lambda x: x.quantile(0.05, ("chain", "draw"))):
        np.testing.assert_allclose(stat(small.astype(float)).values, stat(full).values, atol=1e-4)


def test_load_recomputes_what_the_file_leaves_out(fitted, tmp_path):
    again = ASEMModel.load(fitted.save(tmp_path / "fit.nc"))
    for name in ("self_model", "others_model"):  # numpy recomputation against the numba kernel's
        np.testing.assert_allclose(again.idata.posterior[name], fitted.idata.posterior[name], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(again.idata.log_likelihood["log_lik"], fitted.idata.log_likelihood["log_lik"])


def test_load_refuses_another_study_and_foreign_files(fitted, tmp_path):
    path = fitted.save(tmp_path / "fit.nc")
    with pytest.raises(FitFileError, match="differs from the one fitted"):
        ASEMModel.load(path, study=ab.simulate("asem", n_dyads=12, n_days=21, seed=99))
    assert ASEMModel.load(path, study=fitted.study).idata is not None  # the same study is accepted
    fitted.study.to_netcdf(tmp_path / "study.nc")
    with pytest.raises(FitFileError, match="not a fit saved"):
        ASEMModel.load(tmp_path / "study.nc")


def test_saved_fit_keeps_where_the_data_came_from(fitted, tmp_path):
    """A loaded diary's file, mapping, load report and the file's own person ids travel with the fit."""
    study = fitted.study.copy()
    study.attrs.update(source="diary.csv", mapping="mapping.toml", load_report="Diary diary.csv: 24 rows")
    ids = np.asarray([[f"P{2 * d}", f"P{2 * d + 1}"] for d in range(study.sizes["dyad"])], dtype=object)
    study = study.assign_coords(person_id=(("dyad", "person"), ids))
    model = ASEMModel(study, config=CONFIG, compiled=fitted._compiled)
    model.idata = fitted.idata
    with xr.open_datatree(model.save(tmp_path / "fit.nc")) as dt:
        stored = dt["study"]
        assert stored.attrs["source"] == "diary.csv" and stored.attrs["mapping"] == "mapping.toml"
        assert "24 rows" in stored.attrs["load_report"]
        assert stored["person_id"].values[1, 0] == "P2"
    assert ASEMModel.load(tmp_path / "fit.nc").study.attrs["source"] == "diary.csv"


def test_kfold_of_the_model_object_compares_with_compare(fitted):
    """model.kfold refits the compiled model with folds held out; the result goes into compare."""
    quick = fitted.with_config(draws=60, tune=80)
    quick.idata = fitted.idata
    result = quick.kfold(2, seed=1)
    table = ab.compare({"a": result, "b": quick.kfold(2, seed=2)})
    assert table.attrs["method"] == "kfold" and table.attrs["unit"] == "person-week"
