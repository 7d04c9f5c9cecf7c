"""The ``asem variants`` and ``asem simulate`` commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes import dims as D  # noqa: N812
from asem_bayes.cli import main
from asem_bayes.registry import get_variant, list_variants
from asem_bayes.simulate import Design


def test_variants_lists_every_variant_with_its_parameters(capsys):
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    for name in list_variants():
        v = get_variant(name)
        assert f"{name}: {v.description}" in out
    expected = ("psi_pos_s", "Normal(0, 0.8)", "(-inf, inf)", "(0, 1)", "kappa", "theta_pos_s_mu + theta_pos_s_sd * z")
    for text in expected:
        assert text in out, text
    assert "how strongly a secure model of self lowers daily state anxiety" in out  # meanings are shown


def test_variants_selected_brief_and_group(capsys):
    assert main(["variants", "stable", "--group", "events"]) == 0
    out = capsys.readouterr().out
    assert "stable:" in out and "asem:" not in out
    assert "a0" in out and "c_A_mu" not in out  # only the event-model group
    assert main(["variants", "--brief"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_variants())
    assert "psi_pos_s" not in out


def test_variants_unknown_name_fails(capsys):
    assert main(["variants", "asme"]) == 2
    assert "unknown variant 'asme'" in capsys.readouterr().err


def test_simulate_csv_writes_the_long_table(tmp_path: Path, capsys):
    out = tmp_path / "study.csv"
    args = ["simulate", "--variant", "asem", "--dyads", "6", "--days", "12", "--seed", "1", "--out", str(out)]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    df = pd.read_csv(out)
    assert list(df.columns) == list(D.LONG_COLUMNS)
    assert len(df) == 6 * 2 * 12
    expected = ab.to_long(ab.simulate("asem", 6, 12, seed=1))
    pd.testing.assert_frame_equal(df, expected, check_dtype=False, check_exact=False, rtol=1e-12)


def test_simulate_netcdf_writes_the_full_dataset_with_design_options(tmp_path: Path):
    out = tmp_path / "sub" / "study.nc"  # missing folders are created
    args = [
        "simulate", "--variant", "uniform", "--dyads", "5", "--days", "20", "--seed", "3", "--out", str(out),
        "--likert", "7", "--missing-days", "0.1", "--missing-items", "0.05", "--waves", "0", "9", "19",
        "--set", "rho=0.1", "--quiet",
    ]  # fmt: skip
    assert main(args) == 2  # rho belongs to the targeted variants, not to uniform ...
    args[args.index("rho=0.1")] = "e_safe=0.9"  # ... e_safe is in uniform's schema
    assert main(args) == 0
    ds = xr.load_dataset(out, engine="h5netcdf")
    design = Design(wave_days=(0, 9, 19), likert=7, missing_days=0.1, missing_items=0.05)
    expected = ab.simulate("uniform", 5, 20, params={"e_safe": 0.9}, design=design, seed=3)
    xr.testing.assert_identical(ds, expected)
    y = ds["state_anxiety"].values
    assert set(np.unique(y[~np.isnan(y)])) <= set(range(1, 8))


def test_simulate_with_the_observation_model_extensions(tmp_path: Path):
    """``--residuals`` and ``--person-correlation`` simulate what ``simulate(...)`` does with them;
    without them the study differs (control: the options reach the simulator)."""
    out = tmp_path / "ext.nc"
    base = ["simulate", "--dyads", "4", "--days", "10", "--seed", "5", "--quiet", "--out", str(out)]
    assert main([*base, "--residuals", "partner", "--person-correlation", "s0,o0"]) == 0
    ds = xr.load_dataset(out, engine="h5netcdf")
    want = ab.simulate("asem", 4, 10, seed=5, residuals=("partner",), person_correlation=("s0", "o0"))
    xr.testing.assert_identical(ds, want)
    assert main(base) == 0
    assert not xr.load_dataset(out, engine="h5netcdf").equals(want)
    with pytest.raises(SystemExit) as err:  # a usage error, naming the parameter
        main([*base, "--person-correlation", "s0,nonesuch"])
    assert err.value.code == 2


def test_simulate_parquet_prior_and_exogenous(tmp_path: Path):
    out = tmp_path / "study.parquet"
    args = ["simulate", "--dyads", "4", "--days", "10", "--seed", "5", "--out", str(out), "--prior",
            "--exogenous", "threat=0.5", "--exogenous", "confidence=0.2", "--quiet"]  # fmt: skip
    assert main(args) == 0
    df = pd.read_parquet(out)
    expected = ab.to_long(
        ab.simulate("asem", 4, 10, params="prior", design=Design(exogenous_events={"threat": 0.5, "confidence": 0.2}),
                    seed=5)
    )
    pd.testing.assert_frame_equal(df, expected, check_dtype=False)
    assert df["dependence"].sum() == 0  # events left out of --exogenous never happen


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--variant", "asme"], "unknown variant 'asme'"),
        (["--set", "rhoo=0.2"], "rhoo"),
        (["--set", "rho=1.5"], "rho=1.5 outside its bounds"),
        (["--waves", "0", "99"], "wave day(s) [99] outside"),
        (["--likert", "1"], "likert"),
        (["--prior", "--set", "rho=0.2"], "either --prior or --set"),
    ],
)
def test_simulate_bad_values_exit_2_with_a_message(tmp_path: Path, capsys, extra, message):
    out = tmp_path / "study.csv"
    assert main(["simulate", "--dyads", "3", "--days", "5", "--seed", "1", "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dyads", "0"], "must be at least 1"),
        (["--days", "two"], "expected a whole number"),
        (["--missing-days", "1.5"], "a rate must lie in [0, 1)"),
        (["--missing-items", "x"], "expected a rate"),
        (["--set", "rho"], "expected NAME=VALUE"),
        (["--exogenous", "threat=high"], "is not a number"),
        ([], None),  # --out missing entirely
    ],
)
def test_simulate_bad_arguments_are_usage_errors(capsys, extra, message):
    argv = ["simulate", "--dyads", "3", "--days", "5", *extra]
    if message is not None:
        argv += ["--out", "never-written.csv"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: asem simulate" in err
    assert (message or "--out") in err
    assert not Path("never-written.csv").exists()


def test_unknown_output_type_fails(tmp_path: Path, capsys):
    assert main(["simulate", "--dyads", "3", "--days", "5", "--out", str(tmp_path / "study.xlsx")]) == 2
    assert "unknown file type '.xlsx'" in capsys.readouterr().err


def test_installed_console_script(tmp_path: Path):
    """The ``asem`` entry point installed in the environment (as a user would type it)."""
    exe = Path(sys.executable).parent / "asem"
    if not exe.exists():
        pytest.skip(f"no console script at {exe} (package not installed in this environment)")
    out = tmp_path / "study.csv"
    ok = subprocess.run(
        [str(exe), "simulate", "--variant", "asem", "--dyads", "5", "--days", "8", "--seed", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert len(pd.read_csv(out)) == 5 * 2 * 8
    bad = subprocess.run([str(exe), "simulate", "--out", str(out), "--days", "-3"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr


def test_every_subcommand_help_shows_its_defaults(capsys):
    """``asem <command> --help`` states the default of every option that has one."""
    import pytest as _pytest

    from asem_bayes.cli import SUBCOMMANDS, main

    for name in SUBCOMMANDS:
        with _pytest.raises(SystemExit):
            main([name, "--help"])
        text = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))  # argparse wraps at hyphens
        if name == "fit":
            expect = ("default: 1600 with nutpie", "default: 400 with nutpie", "(default: person-week)", "--sampler",
                      "default: nutpie")
            for expected in expect:
                assert expected in text, (name, expected)
