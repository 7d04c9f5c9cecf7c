"""PSIS-LOO comparison of fits: works on real fits, refuses fits that are not like for like."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import asem_bayes as ab
from asem_bayes.compare import COLUMNS, ComparisonError, describe, format_table, loo_problems, parsimonious_choice


@pytest.fixture(scope="module")
def two_fits(compiled_asem, small_study):
    """Two tiny fits of the same study (person units) and one with person-week units."""
    kw = dict(draws=80, tune=120, chains=2)
    a = compiled_asem.fit(small_study, seed=1, loo_unit="person", **kw)
    b = compiled_asem.fit(small_study, seed=2, loo_unit="person", **kw)
    wk = compiled_asem.fit(small_study, seed=3, loo_unit="person-week", **kw)
    return a, b, wk


def test_compare_two_real_fits(two_fits):
    a, b, _ = two_fits
    assert ab.compare is not None and callable(ab.compare)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = ab.compare({"a": a, "b": b})
    assert isinstance(table, pd.DataFrame)
    assert set(table.index) == {"a", "b"}
    assert {"elpd", "elpd_diff", "weight", "k_bad", "n_units"} <= set(table.columns)
    assert (table["n_units"] == 24).all()  # 12 dyads x 2 persons left out one at a time
    assert table.attrs["unit"] == "person"
    np.testing.assert_allclose(table["weight"].sum(), 1.0, atol=1e-6)
    text = describe(table)
    assert "Best predictive fit" in text and "person" in text
    shown = format_table(table)
    assert list(shown["rank"]) == [1, 2] and set(shown.columns) <= set(COLUMNS)
    assert all(len(str(x).split(".")[-1]) <= 2 for x in shown["elpd"])  # rounded for reading


def test_refuses_different_loo_units(two_fits):
    a, _, wk = two_fits
    with pytest.raises(ComparisonError, match="leave-out units"):
        ab.compare({"person": a, "week": wk})


def test_refuses_different_modes(two_fits):
    a, b, _ = two_fits
    joint = b.copy()
    joint.attrs = {**b.attrs, "asem_mode": "joint"}
    with pytest.raises(ComparisonError, match="joint mode"):
        ab.compare({"conditional": a, "joint": joint})


def test_refuses_different_data(two_fits):
    a, b, _ = two_fits
    other = b.copy()
    obs = other["observed_data"].to_dataset().copy(deep=True)
    obs["state_anxiety"][0, 0, 0] += 1.0
    other["observed_data"] = obs
    with pytest.raises(ComparisonError, match="different data"):
        ab.compare({"a": a, "b": other})


def test_refuses_missing_log_likelihood_and_single_fit(two_fits):
    a, b, _ = two_fits
    bare = xr.DataTree.from_dict({"posterior": b.posterior.to_dataset()})
    with pytest.raises(ComparisonError, match="no log_likelihood"):
        ab.compare({"a": a, "bare": bare})
    with pytest.raises(ComparisonError, match="at least two"):
        ab.compare({"a": a})


def _table(rows):
    return pd.DataFrame(rows, columns=["name", "elpd_diff", "dse"]).set_index("name")


@pytest.mark.parametrize(
    ("uniform_diff", "uniform_dse", "expected"),
    [
        (-3.0, 1.0, "uniform"),  # small difference: the simpler variant is kept
        (-10.0, 2.0, "asem"),  # clearly worse (5 SE): the richer variant is selected
        (-10.0, 6.0, "uniform"),  # large but within two standard errors
    ],
)
def test_parsimonious_choice(uniform_diff, uniform_dse, expected):
    complexity = {"stable": 23, "uniform": 29, "asem": 38, "buffer_enhances": 39}
    table = _table(
        [("asem", 0.0, 0.0), ("buffer_enhances", -1.0, 0.5), ("uniform", uniform_diff, uniform_dse),
         ("stable", -80.0, 9.0)]
    )
    assert parsimonious_choice(table, complexity) == expected


def test_parsimonious_choice_ties_and_missing():
    table = _table([("b", 0.0, 0.0), ("a", -1.0, 0.5)])
    assert parsimonious_choice(table, {"a": 5, "b": 5}) == "b"  # equal complexity: higher elpd
    assert parsimonious_choice(table, {"a": 4, "b": 5}) == "a"
    with pytest.raises(KeyError, match="complexity"):
        parsimonious_choice(table, {"a": 4})


def test_pareto_k_problems_in_words():
    class Fake:
        pareto_k = xr.DataArray([0.1, 0.8, 1.3, 0.2])
        good_k = 0.7

    (msg,) = loo_problems("asem", Fake(), "person")
    assert "2 of 4 leave-out units (person)" in msg and "fails outright for 1" in msg
    Fake.pareto_k = xr.DataArray([0.1, 0.2])
    assert loo_problems("asem", Fake(), "person") == []


def test_compare_cli(tmp_path, two_fits, capsys):
    from asem_bayes.cli import main

    a, b, wk = two_fits
    for name, t in (("a", a), ("b", b), ("wk", wk)):
        t.to_netcdf(tmp_path / f"{name}.nc")
    assert main(["compare", str(tmp_path / "a.nc"), str(tmp_path / "b.nc")]) == 0
    out = capsys.readouterr().out
    assert "elpd" in out and "Best predictive fit" in out
    # every printed column is explained, ranks start at 1, ArviZ's raw flags are not shown
    assert "stacking weight: the best predictive mixture" in out and "diag_diff" not in out
    assert re.search(r"^[ab]\s+1\s", out, flags=re.M) and "p_worse" in out
    assert main(["compare", str(tmp_path / "a.nc"), str(tmp_path / "wk.nc")]) == 2
    assert "leave-out units" in capsys.readouterr().err


def test_the_pareto_k_advice_names_a_smaller_unit_than_the_one_used():
    from types import SimpleNamespace

    import xarray as xr

    from asem_bayes.compare import loo_problems

    elpd = SimpleNamespace(pareto_k=xr.DataArray([0.2, 0.9, 1.1]), good_k=0.7)
    week = loo_problems("asem", elpd, "person-week")[0]
    assert "person-day instead of person-week" in week and "asem compare --kfold 4" in week
    assert "person-week instead of person" in loo_problems("asem", elpd, "person")[0]
    assert "instead of" not in loo_problems("asem", elpd, "person-day")[0]
