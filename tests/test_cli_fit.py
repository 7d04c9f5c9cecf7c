"""``asem fit`` end to end at a tiny size (one compile)."""

from __future__ import annotations

import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes import coords
from asem_bayes.cli import main


def test_fit_cli_writes_datatree_and_reports(tmp_path, capsys):
    study = ab.simulate("asem", 8, 14, seed=3)
    path = tmp_path / "study.nc"
    study.to_netcdf(path, engine="h5netcdf")
    out = tmp_path / "fit.nc"
    rc = main(["fit", str(path), "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "1", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "max R-hat" in text and "divergences" in text and "covered by their 90% interval" in text
    assert "Effects in questionnaire units" in text and "10 confidence-building days: anxiety @10th" in text
    dt = ab.ASEMModel.load(out).idata  # the file is the model object's; loading recomputes what it left out
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(dt.children)
    assert dt["posterior"]["self_model"].dims[-3:] == ("dyad", "person", "day")
    with xr.open_datatree(out, engine="h5netcdf") as raw:
        assert "study" in raw.children and "self_model" not in raw["posterior"]
    # asem compare reads the file (its log-likelihood is recomputed on load)
    assert main(["compare", str(out), str(out), "--names", "a", "b"]) == 0
    assert "Best predictive fit by PSIS-LOO (leave-out unit: person-week)" in capsys.readouterr().out
    # sampled in the sheared coordinates (the default), reported in the schema's
    assert dt.attrs["sampling_coordinates"] == "sheared"
    v = ab.get_variant("asem")
    post = set(dt["posterior"].data_vars)
    assert {*v.param_names, *v.person_param_names} <= post
    assert not post & set(coords.plan("asem").sampler_only_names())


def test_fit_cli_errors_are_clear(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.nc")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "study.txt"
    bad.write_text("x")
    assert main(["fit", str(bad), "--out", str(tmp_path / "x.nc")]) == 2


@pytest.mark.slow  # JAX compiles the scan graph for minutes on 2 cores
def test_jax_samplers_run_the_scan_model(small_study):
    """numpyro and blackjax stay selectable: they sample the `scan` form of the day loop."""
    from asem_bayes.diagnostics import diagnose
    from asem_bayes.model import fit

    tiny = small_study.isel(dyad=slice(0, 4), day=slice(0, 8), wave=[0])
    for sampler in ("numpyro", "blackjax"):
        result = fit(tiny, "asem", sampler=sampler, draws=30, tune=30, chains=1, seed=1)
        assert result.attrs["sampler"] == sampler
        assert result.posterior.sizes["draw"] == 30
        assert diagnose(result).n_draws == 30


@pytest.mark.filterwarnings("ignore:All-NaN slice")  # one chain: no R-hat
@pytest.mark.slow  # a minute of compiling and fitting: `make test-slow`
def test_compare_cli_by_exact_kfold(tmp_path, capsys):
    """`asem compare --kfold K` refits saved fits with folds held out and prints the table, its
    legend and the comparison in words, as for PSIS-LOO."""
    study = ab.simulate("stable", 4, 14, seed=5)
    path = tmp_path / "study.nc"
    study.to_netcdf(path, engine="h5netcdf")
    out = tmp_path / "stable.nc"
    fit_args = ["fit", str(path), "--variant", "stable", "--draws", "60", "--tune", "80", "--chains", "1"]
    assert main([*fit_args, "--seed", "1", "--out", str(out)]) == 0
    fitted = capsys.readouterr()
    # stderr is not a terminal here (as under nohup or a batch job): progress comes as timed lines
    assert "compiling 'stable' for 4 dyads x 14 days (nutpie) ..." in fitted.err
    assert "sampling 'stable': 1 chain(s) x (80 warm-up + 60 draws): done after" in fitted.err
    assert fitted.out.splitlines()[-1].startswith("saved ")
    csv = tmp_path / "kfold.csv"
    rc = main(["compare", str(out), str(out), "--names", "a", "b", "--kfold", "2", "--csv", str(csv)])
    assert rc == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "Best predictive fit by exact K-fold (leave-out unit: person-week)" in text
    assert "elpd_diff" in text and "stacking weight" in text  # the table and its legend
    assert "K-fold of 'a': 2 refits" in captured.err
    assert csv.exists()
    assert main(["compare", str(out), str(out), "--kfold", "1"]) == 2
    assert "at least 2 folds" in capsys.readouterr().err


def test_fit_cli_takes_covariate_formulas_and_names_a_missing_covariate(tmp_path, capsys):
    study = ab.simulate("stable", 4, 7, seed=3)
    path = tmp_path / "study.nc"
    study.to_netcdf(path, engine="h5netcdf")
    rc = main(["fit", str(path), "--variant", "stable", "--covariates", "s0 ~ arm", "--out", str(tmp_path / "f.nc")])
    assert rc == 2
    assert "arm" in capsys.readouterr().err


def test_fit_cli_residual_option_is_refused_for_likert_ratings_by_name(tmp_path, capsys):
    from asem_bayes.simulate import Design

    study = ab.simulate("stable", 4, 7, design=Design(likert=5), seed=3)
    path = tmp_path / "study.nc"
    study.to_netcdf(path, engine="h5netcdf")
    rc = main(["fit", str(path), "--variant", "stable", "--residuals", "ar1", "--out", str(tmp_path / "f.nc")])
    assert rc == 2
    assert "state_anxiety" in capsys.readouterr().err
