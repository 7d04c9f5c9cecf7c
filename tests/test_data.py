"""Loading real diary files: layouts, mapping, validation, load report (asem_bayes.data)."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asem_bayes as ab
from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.data import DiaryError, LoadReport, load_diary, read_mapping
from asem_bayes.inputs import DataError, prepare_inputs

REPO = Path(__file__).resolve().parents[1]
OBSERVED = D.EVENTS + D.RATINGS


# --------------------------------------------------------------------------------------------
# foreign layouts of a simulated study, written independently of the loader with plain pandas


@pytest.fixture(scope="module")
def study() -> xr.Dataset:
    """Small Likert study with missed days and items, so NaNs travel through every layout."""
    design = ab.Design(likert=7, missing_days=0.1, missing_items=0.05)
    return ab.simulate("asem", n_dyads=5, n_days=9, design=design, seed=3)


def observed(ds: xr.Dataset) -> xr.Dataset:
    return ds[[v for v in OBSERVED if v in ds]]


def to_pairwise(long: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """One row per person-day with actor ``<name>_A`` and partner ``<name>_P`` columns."""
    cols = [c for c in OBSERVED if c in long]
    partner = long[["dyad", "person", "day", *cols]].copy()
    partner["person"] = 1 - partner["person"]
    out = long[["dyad", "person", "day", *cols]].merge(partner, on=["dyad", "person", "day"], suffixes=("_A", "_P"))
    return out.rename(columns={f"{c}_{s}": f"{names[c]}_{s}" for c in cols for s in "AP"})


def to_dyad_wide(long: pd.DataFrame, names: dict[str, str], prefixes=("M_", "W_")) -> pd.DataFrame:
    """One row per dyad-day; person 0's columns prefixed ``M_``, person 1's ``W_``; shared events once."""
    person_cols = [c for c in OBSERVED if c in long and c not in D.DYAD_EVENTS]
    wide = long.pivot(index=["dyad", "day"], columns="person", values=person_cols)
    wide.columns = [f"{prefixes[p]}{names[c]}" for c, p in wide.columns]
    shared = long[long["person"] == 0].set_index(["dyad", "day"])[[c for c in D.DYAD_EVENTS if c in long]]
    shared = shared.rename(columns=names)
    return wide.join(shared).reset_index()


NAMES = {
    "threat": "conflict",
    "safe": "reassure",
    "soft": "gentle",
    "confidence": "praise",
    "dependence": "together",
    "state_anxiety": "worry",
    "state_avoidance": "distance",
    "trait_anxiety": "ecr_anx",
    "trait_avoidance": "ecr_avo",
}


def spec(c: str, **kw) -> dict:
    if c in D.EVENTS:
        base = {"scale": "binary"}
    elif c in D.DAILY_RATINGS:
        base = {"scale": "likert", "range": [1, 7]}
    else:
        base = {"scale": "continuous"}
    return {**base, **kw}


def inputs_equal(a, b) -> None:
    assert a.design_key == b.design_key
    for k in a.events:
        np.testing.assert_array_equal(a.events[k], b.events[k], err_msg=k)
    assert set(a.obs) == set(b.obs)
    for k in a.obs:
        np.testing.assert_array_equal(a.obs[k][0], b.obs[k][0], err_msg=k)
        np.testing.assert_allclose(a.obs[k][1], b.obs[k][1], rtol=0, atol=1e-12, err_msg=k)
    np.testing.assert_array_equal(a.wave_pos, b.wave_pos)
    for k in a.coords:
        np.testing.assert_array_equal(a.coords[k], b.coords[k])


# --------------------------------------------------------------------------------------------
# layouts give identical model inputs


def test_long_default_names_roundtrip(study):
    """A table with the default names (asem_bayes.to_long) loads back to the observed study."""
    ds, rep = load_diary(ab.to_long(study), return_report=True)
    xr.testing.assert_allclose(observed(study), observed(ds))
    assert ds.attrs["likert"] == 7
    assert isinstance(rep, LoadReport) and rep.n_set_aside_rows == 0 and rep.n_rows == 5 * 2 * 9


def test_long_pairwise_and_dyad_wide_give_identical_inputs(study):
    long = ab.to_long(study)
    ref = prepare_inputs(load_diary(long), missing_events="absent")

    pw = to_pairwise(long, NAMES).rename(columns={"dyad": "couple", "person": "pid", "day": "dd"})
    # Drop rows of days the person missed entirely: the loader must treat them as absent
    # person-days and still take the shared events from the partner's row.
    actor_cols = [f"{NAMES[c]}_A" for c in D.PERSON_EVENTS + D.DAILY_RATINGS]
    pw = pw[~pw[actor_cols].isna().all(axis=1)]
    m_pw = {
        "layout": "pairwise",
        "ids": {"dyad": "couple", "person": "pid", "day": "dd"},
        "columns": {c: spec(c, column=f"{n}_A", partner_column=f"{n}_P") for c, n in NAMES.items()},
    }
    ds_pw, rep = load_diary(pw, m_pw, return_report=True)
    assert rep.absent_person_days == 5 * 2 * 9 - len(pw) > 0
    inputs_equal(ref, prepare_inputs(ds_pw, missing_events="absent"))

    wide = to_dyad_wide(long, NAMES)
    m_wide = {
        "layout": "dyad_wide",
        "roles": ["M_", "W_"],
        "ids": {"dyad": "dyad", "day": "day"},
        "columns": {c: spec(c, column=n, shared=c in D.DYAD_EVENTS) for c, n in NAMES.items()},
    }
    ds_wide = load_diary(wide, m_wide)
    inputs_equal(ref, prepare_inputs(ds_wide, missing_events="absent"))
    xr.testing.assert_allclose(observed(ds_pw), observed(ds_wide))


# --------------------------------------------------------------------------------------------
# mapping round trip: renamed, recoded, reshaped, written as an SPSS-style CSV


MAPPING_TOML = """
layout = "dyad_wide"
roles = ["{}_him", "{}_her"]
missing = ["."]
sep = ";"
decimal = ","

[ids]
dyad = "couple"
day = "diary day"

[columns]
threat = { column = "conflict", shared = true, scale = "likert", range = [1, 7], to = "intensity" }
dependence = { column = "together", shared = true, scale = "binary" }
safe = { column = "reassure", scale = "binary" }
soft = { column = "gentle", scale = "binary" }
confidence = { column = "praise", scale = "binary" }
state_anxiety = { column = "calm", scale = "likert", range = [1, 7], reverse = true }
state_avoidance = { column = "distance", scale = "likert", range = [1, 7] }
trait_anxiety = { column = "ecr_anx", missing = [999] }
trait_avoidance = { column = "ecr_avo", missing = [999] }
"""


def test_mapping_round_trip_spss_csv(study, tmp_path):
    long = ab.to_long(study)
    foreign = long.copy()
    foreign["threat"] = 1 + 6 * foreign["threat"]  # a 1-7 conflict item
    foreign["state_anxiety"] = 8 - foreign["state_anxiety"]  # "calm", reverse-keyed
    names = {**NAMES, "state_anxiety": "calm"}
    person = [c for c in OBSERVED if c not in D.DYAD_EVENTS]
    w0 = to_dyad_wide(foreign, names, prefixes=("H_", "S_"))
    out = w0[["dyad", "day", *[names[c] for c in D.DYAD_EVENTS]]].copy()
    for c in person:
        out[f"{names[c]}_him"] = w0[f"H_{names[c]}"]
        out[f"{names[c]}_her"] = w0[f"S_{names[c]}"]
    # SPSS habits: "." for a missing daily rating, 999 for a missing trait score on wave days.
    for c in ("calm", "distance"):
        for s in ("_him", "_her"):
            out[c + s] = out[c + s].astype(object).where(out[c + s].notna(), ".")
    wave_days = study["wave_day"].values
    for c in ("ecr_anx", "ecr_avo"):
        for s in ("_him", "_her"):
            on_wave = out["day"].isin(wave_days)
            out[c + s] = out[c + s].where(~(on_wave & out[c + s].isna()), 999)
    out = out.rename(columns={"dyad": "couple", "day": "diary day"})
    path = tmp_path / "diary.csv"
    out.to_csv(path, sep=";", decimal=",", index=False, encoding="utf-8-sig")
    assert "," in path.read_text(encoding="utf-8-sig").split("\n")[1]  # decimal commas really written
    mpath = tmp_path / "mapping.toml"
    mpath.write_text(MAPPING_TOML)

    ds, rep = load_diary(path, mapping=mpath, return_report=True)
    xr.testing.assert_allclose(observed(study), observed(ds), rtol=1e-12)
    assert ds.attrs["likert"] == 7
    assert rep.missing_codes_seen  # the "." and 999 codes were seen and counted
    assert "calm_him" in rep.missing_codes_seen or "calm_her" in rep.missing_codes_seen


# --------------------------------------------------------------------------------------------
# validation: targeted corruptions, each with a known outcome


def clean_table(rng: np.random.Generator, n_dyads: int, n_days: int) -> pd.DataFrame:
    rows = []
    for d in range(n_dyads):
        for p in (1, 2):
            for t in range(n_days):
                rows.append({"couple": 10 + d, "pid": p, "day": t})
    df = pd.DataFrame(rows)
    n = len(df)
    threat = rng.integers(0, 2, (n_dyads, n_days))
    df["conflict"] = threat[df["couple"] - 10, df["day"]]
    df["anx"] = rng.integers(1, 6, n)
    df["trait"] = ""
    first = df["day"] == 0
    df.loc[first, "trait"] = [f"{x:.3f}" for x in rng.normal(3, 1, int(first.sum()))]
    df["extra"] = "x"
    return df


SMALL_MAPPING = {
    "ids": {"dyad": "couple", "person": "pid", "day": "day"},
    "columns": {
        "threat": {"column": "conflict", "scale": "binary"},
        "state_anxiety": {"column": "anx", "scale": "likert", "range": [1, 5]},
        "trait_anxiety": {"column": "trait", "scale": "continuous", "range": [-10, 10]},
    },
}

FATAL = {
    "out_of_scale": ("anx", "9", "outside the declared likert scale 1..5"),
    "not_integer_likert": ("anx", "2.5", "not an integer on the declared Likert scale"),
    "non_numeric": ("anx", "often", "not a number"),
    "undeclared_code": ("anx", ".", "not a number"),
    "event_not_binary": ("conflict", "0.5", "not 0/1"),
    "negative_day": ("day", "-3", "day is negative"),
    "fractional_day": ("day", "1.5", "day is not an integer"),
    "missing_dyad_id": ("couple", "", "missing dyad id"),
    "infinite": ("anx", "inf", "not a finite number"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n_dyads=st.integers(3, 5),
    n_days=st.integers(2, 5),
    fatal=st.sampled_from([None, *FATAL, "duplicate", "third_person", "missing_column"]),
    n_single=st.integers(0, 1),
    n_blank=st.integers(0, 3),
    n_drop=st.integers(0, 2),
)
def test_corrupted_tables_fail_clearly_or_load_with_a_correct_report(
    data, n_dyads, n_days, fatal, n_single, n_blank, n_drop
):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1), label="seed"))
    df = clean_table(rng, n_dyads, n_days)
    dyads = list(range(10, 10 + n_dyads))
    # Benign damage in the first dyads, fatal damage in the last one: their effects never mix.
    single = dyads[:n_single]
    drop_dyad = dyads[n_single] if n_drop else None
    fatal_dyad = dyads[-1]
    df = df[~((df["couple"].isin(single)) & (df["pid"] == 2))]
    if drop_dyad is not None:
        cand = df.index[(df["couple"] == drop_dyad) & (df["pid"] == 1) & (df["day"] > 0)]
        n_drop = min(n_drop, len(cand))
        df = df.drop(cand[:n_drop])
    else:
        n_drop = 0
    kept = df.index[~df["couple"].isin(single) & (df["day"] > 0)]
    df = df.astype(str)  # as read from a CSV: every cell is text
    blanks = data.draw(
        st.lists(st.sampled_from(list(kept)), min_size=n_blank, max_size=n_blank, unique=True), label="blanks"
    )
    df.loc[blanks, "anx"] = data.draw(st.sampled_from(["", " ", "NA"]), label="blank")
    mapping = SMALL_MAPPING
    target = df.index[(df["couple"] == str(fatal_dyad))][data.draw(st.integers(0, 2 * n_days - 1), label="row")]
    if fatal in FATAL:
        col, value, _ = FATAL[fatal]
        df.loc[target, col] = value
    elif fatal == "duplicate":
        df = pd.concat([df, df.loc[[target]]], ignore_index=True)
    elif fatal == "third_person":
        df.loc[target, "pid"] = "3"
    elif fatal == "missing_column":
        mapping = {**SMALL_MAPPING, "columns": {**SMALL_MAPPING["columns"], "soft": "gentle"}}
    df = df.reset_index(drop=True)

    if fatal is not None:
        with pytest.raises(DiaryError) as err:
            load_diary(df, mapping)
        msg = str(err.value)
        if fatal in FATAL:
            col, value, words = FATAL[fatal]
            assert words in msg and repr(col) in msg
            assert "row " in msg and (repr(value) in msg or value == "")
        elif fatal == "duplicate":
            assert "duplicate person-day" in msg and f"dyad {fatal_dyad}" in msg
        elif fatal == "third_person":
            assert f"dyad {fatal_dyad}" in msg and "3 persons" in msg
        else:
            assert "'gentle'" in msg and "not in the file" in msg
        return

    ds, rep = load_diary(df, mapping, return_report=True)
    n_kept = n_dyads - len(single)
    assert rep.n_rows == len(df)
    assert rep.set_aside.get("dyads with one partner only", {"ids": []})["ids"] == single
    assert rep.n_set_aside_rows == n_days * len(single)
    assert rep.absent_person_days == n_drop
    assert rep.n_dyads == n_kept and ds.sizes[D.DYAD] == n_kept and ds.sizes[D.DAY] == n_days
    # Every row is accounted for: kept in the grid or set aside.
    assert rep.n_rows == 2 * n_kept * n_days - rep.absent_person_days + rep.n_set_aside_rows
    assert rep.missing["state_anxiety"] == (n_blank + n_drop, 2 * n_kept * n_days)
    assert int(np.isnan(ds["state_anxiety"].values).sum()) == n_blank + n_drop
    assert rep.unused_columns == ["extra"]
    assert set(np.unique(ds["state_anxiety"].values[~np.isnan(ds["state_anxiety"].values)])) <= {1, 2, 3, 4, 5}
    assert ds.attrs["likert"] == 5 and "load_report" in ds.attrs
    prepare_inputs(ds)  # and the model accepts what was loaded


# --------------------------------------------------------------------------------------------
# anything at all: a DiaryError or a Dataset, never an unrelated traceback

cell = st.one_of(
    st.sampled_from(
        ["", " ", ".", "NA", "999", "-1", "0", "1", "2", "7", "1,5", "2.5", "1e400", "inf", "-inf", "nan", "x"]
    ),
    st.text(string.printable, max_size=4),
    st.integers(-5, 20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(cell, cell, cell, cell, cell), min_size=0, max_size=12),
    layout=st.sampled_from(["long", "pairwise"]),
)
def test_arbitrary_tables_never_raise_anything_but_diary_errors(rows, layout):
    df = pd.DataFrame(rows, columns=["couple", "pid", "day", "conflict", "anx"], dtype=object)
    mapping = {
        "layout": layout,
        "ids": {"dyad": "couple", "person": "pid", "day": "day"},
        "columns": {
            "threat": {"column": "conflict", "scale": "likert", "range": [1, 7], "to": "binary", "threshold": 4},
            "state_anxiety": {"column": "anx", "scale": "continuous", "range": [-1, 7]},
        },
    }
    try:
        ds, rep = load_diary(df, mapping, return_report=True)
    except DiaryError as err:
        assert str(err)
        return
    assert rep.n_rows == len(df)
    assert rep.n_rows == 2 * rep.n_dyads * rep.n_days - rep.absent_person_days + rep.n_set_aside_rows
    th = ds["threat"].values
    assert np.all(np.isin(th[~np.isnan(th)], (0.0, 1.0)))


# --------------------------------------------------------------------------------------------
# mapping files and errors


def test_mapping_errors_name_the_fault(tmp_path):
    with pytest.raises(DiaryError, match="did you mean 'threat'"):
        read_mapping({"threatt": "conflict"})
    with pytest.raises(DiaryError, match="Likert scale needs its range"):
        read_mapping({"state_anxiety": {"column": "a", "scale": "likert"}})
    with pytest.raises(DiaryError, match="events must be 0/1 or an intensity"):
        read_mapping({"threat": {"column": "c", "scale": "likert", "range": [1, 7]}})
    with pytest.raises(DiaryError, match="needs a threshold"):
        read_mapping({"threat": {"column": "c", "scale": "likert", "range": [1, 7], "to": "binary"}})
    with pytest.raises(DiaryError, match="unknown setting"):
        read_mapping({"threat": {"column": "c", "scael": "binary"}})
    bad = tmp_path / "m.toml"
    bad.write_text("threat = [")
    with pytest.raises(DiaryError, match="cannot parse"):
        read_mapping(bad)
    assert issubclass(DiaryError, DataError)
    # The inverse form (user name -> construct) and a YAML file.
    m = read_mapping({"couple": "dyad", "pid": "person", "d": "day", "conflict": "threat"})
    assert m.ids == {"dyad": "couple", "person": "pid", "day": "d"} and m.columns["threat"].column == "conflict"
    y = tmp_path / "m.yaml"
    y.write_text("ids: {dyad: couple, person: pid, day: d}\ncolumns:\n  threat: conflict\n")
    assert read_mapping(y).columns["threat"].column == "conflict"


def test_pairwise_partner_column_contradiction_is_an_error():
    df = pd.DataFrame(
        {
            "dyad": [1, 1, 1, 1],
            "person": [1, 2, 1, 2],
            "day": [0, 0, 1, 1],
            "x_A": [1, 0, 1, 1],
            "x_P": [0, 1, 1, 0],  # row 4 says person 1's x on day 1 was 0; person 1's own row says 1
            "y_A": [3.0, 2.0, 1.0, 2.0],
        }
    )
    m = {"columns": {"threat": {"column": "x_A", "partner_column": "x_P", "scale": "binary"}, "state_anxiety": "y_A"}}
    with pytest.raises(DiaryError, match="contradicts"):
        load_diary(df, m)


def test_constant_trait_that_varies_is_an_error_and_shared_event_disagreements_are_counted():
    df = pd.DataFrame(
        {
            "dyad": [1] * 4,
            "person": [1, 2, 1, 2],
            "day": [0, 0, 1, 1],
            "c": [1, 0, 1, 1],
            "y": [3.0, 2.0, 1.0, 2.0],
            "avo": [0.5, 1.0, 0.5, 1.5],
        }
    )
    m = {
        "threat": {"column": "c", "scale": "binary", "combine": "mean"},
        "state_anxiety": "y",
        "trait_avoidance": {"column": "avo", "constant": True},
    }
    with pytest.raises(DiaryError, match="declared constant"):
        load_diary(df, m)
    df["avo"] = [0.5, 1.0, 0.5, 1.0]
    ds, rep = load_diary(df, m, return_report=True)
    assert rep.partner_disagreements == {"threat": 1}
    np.testing.assert_allclose(ds["threat"].values, [[0.5, 1.0]])  # mean of the two reports
    assert ds["trait_avoidance"].sizes[D.WAVE] == 1 and int(ds["wave_day"][0]) == 0
    for undeclared in ({"column": "c", "scale": "binary"}, {"column": "c", "scale": "binary", "combine": "equal"}):
        with pytest.raises(DiaryError, match=r"differ \(1 vs 0\) for dyad 1, day 0 \(1 dyad-day\(s\)\)"):
            load_diary(df, {**m, "threat": undeclared})  # partners who disagree need a declared policy


def test_file_errors(tmp_path):
    with pytest.raises(DiaryError, match="file not found"):
        load_diary(tmp_path / "nope.csv")
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(DiaryError, match="empty"):
        load_diary(p)
    p.write_text("dyad,person,day,threat\n")
    with pytest.raises(DiaryError, match="no data rows"):
        load_diary(p)


def test_parquet_and_latin1(tmp_path, study):
    long = ab.to_long(study)
    pq = tmp_path / "d.parquet"
    long.to_parquet(pq)
    xr.testing.assert_allclose(observed(load_diary(pq)), observed(study))
    csv = tmp_path / "d.csv"
    long.rename(columns={"state_anxiety": "ängst"}).to_csv(csv, index=False, encoding="latin-1")
    ds, rep = load_diary(csv, {"ids": {}, "state_anxiety": "ängst", "threat": "threat"}, return_report=True)
    assert any("Latin-1" in n for n in rep.notes)
    np.testing.assert_allclose(ds["state_anxiety"].values, study["state_anxiety"].values)


# --------------------------------------------------------------------------------------------
# the real data (skipped where ../shared/data is absent)


@pytest.mark.realdata
def test_kashy_file_loads(shared_data_dir):
    path = shared_data_dir / "kashy" / "kashy_person_period_pairwise.csv"
    if not path.exists():
        pytest.skip(f"{path} not available")
    ds, rep = load_diary(path, mapping=REPO / "examples" / "mappings" / "kashy.toml", return_report=True)
    assert (rep.n_rows, rep.n_dyads, rep.n_days, rep.days) == (2884, 103, 14, (1, 14))
    assert rep.n_set_aside_rows == 0 and rep.absent_person_days == 0
    assert any("Cavoid_A.1" in n for n in rep.notes)  # the header quirk is reported
    assert rep.missing["state_avoidance"] == (18, 2884)
    assert set(ds.data_vars) == {"threat", "state_avoidance", "trait_avoidance", "conflict"}
    th = ds["threat"].values
    assert np.nanmin(th) >= 0 and np.nanmax(th) <= 1
    sat = ds["state_avoidance"].values
    assert np.nanmin(sat) >= 1 and np.nanmax(sat) <= 7
    assert int(ds["wave_day"][0]) == 1
    inp = prepare_inputs(ds, missing_events="person_rate")
    assert inp.present_ratings == ("state_avoidance", "trait_avoidance")


@pytest.mark.realdata
def test_barkalifa_dyad_wide_file_loads(shared_data_dir):
    path = shared_data_dir / "barkalifa" / "barkalifa_dyad_day_wide.csv"
    if not path.exists():
        pytest.skip(f"{path} not available")
    ds, rep = load_diary(path, mapping=REPO / "examples" / "mappings" / "bar_kalifa_2016.toml", return_report=True)
    assert rep.n_dyads == 80 and rep.n_rows == 2765
    # Days a couple did not report are absent person-days, counted, not dropped silently.
    assert rep.absent_person_days == 2 * 80 * rep.n_days - 2 * 2765


def test_dyad_wide_errors_name_the_partners_column():
    df = pd.DataFrame(
        {"ID": [1, 1, 2], "DAY": [0, 1, 0], "M_anx": [1.0, 2.0, 3.0], "W_anx": [2.0, 9.0, 1.0], "conf": [0, 1, 0]}
    )
    m = {
        "layout": "dyad_wide",
        "roles": ["M_", "W_"],
        "ids": {"dyad": "ID", "day": "DAY"},
        "threat": {"column": "conf", "shared": True, "scale": "binary"},
        "state_anxiety": {"column": "anx", "range": [0, 4]},
    }
    with pytest.raises(
        DiaryError, match=r"row 1, column 'W_anx', value 9\.0: outside the declared continuous scale 0\.\.4"
    ):
        load_diary(df, m)
    df.loc[1, "W_anx"] = 3.0
    ds, rep = load_diary(df, m, return_report=True)
    assert rep.absent_person_days == 2  # dyad 2, day 1, both partners
    # the declared 0..4 scale is rescaled to the priors' 1..7: 1 + 6 * x / 4
    np.testing.assert_array_equal(ds["state_anxiety"].sel(dyad=1).values, [[2.5, 4.0], [4.0, 5.5]])


# --------------------------------------------------------------------------------------------
# partners who disagree about a shared event


def disagreeing_long() -> pd.DataFrame:
    """Two couples x 3 days. Couple 'b' disagrees about the threat on days 1 and 2; on day 0
    only person 1 of couple 'a' reported it."""
    threat = {("a", 0): [np.nan, 0, 0], ("a", 1): [1, 0, 0], ("b", 0): [0, 1, 0], ("b", 1): [0, 0, 1]}
    rows = [
        {"dyad": d, "person": p, "day": t, "threat": x[t], "state_anxiety": 3.0 + t}
        for (d, p), x in threat.items()
        for t in range(3)
    ]
    return pd.DataFrame(rows)


def test_from_long_disagreeing_shared_event_is_an_error_by_default():
    with pytest.raises(ValueError, match=r"'threat' differ on 2 dyad-day\(s\).*dyad 'b', day 1.*dyad 'b', day 2"):
        ab.from_long(disagreeing_long())


@pytest.mark.parametrize(
    ("policy", "b_days_1_2"),
    [("first", [1.0, 0.0]), ("either", [1.0, 1.0]), ("both", [0.0, 0.0]), ("mean", [0.5, 0.5])],
)
def test_from_long_shared_event_policies(policy, b_days_1_2):
    ds = ab.from_long(disagreeing_long(), shared_events=policy)
    np.testing.assert_array_equal(ds["threat"].sel(dyad="b").values, [0.0, *b_days_1_2])
    # a report of one partner alone is the couple's value under every policy
    np.testing.assert_array_equal(ds["threat"].sel(dyad="a").values, [1.0, 0.0, 0.0])
    assert ds["threat"].attrs["shared_events"] == policy
    assert ds["threat"].attrs["partner_disagreements"] == 2


def test_from_long_rejects_an_unknown_shared_event_policy():
    with pytest.raises(ValueError, match=r"shared_events must be one of \('error', 'first', 'either', 'both'"):
        ab.from_long(disagreeing_long(), shared_events="any")


def test_load_diary_reports_the_shared_event_policy_and_disagreements():
    df = disagreeing_long()
    m = {"threat": {"column": "threat", "scale": "binary"}, "state_anxiety": "state_anxiety"}
    with pytest.raises(DiaryError, match=r"differ .*dyad 'b', day 1 \(2 dyad-day\(s\)\)"):
        load_diary(df, m)
    ds, rep = load_diary(df, m, shared_events="either", return_report=True)
    assert rep.shared_events == {"threat": "either"} and rep.partner_disagreements == {"threat": 2}
    np.testing.assert_array_equal(ds["threat"].sel(dyad="b").values, [0.0, 1.0, 1.0])
    assert "threat: shared event, partners' reports combined by 'either'" in str(rep)
    assert "differ on 2 dyad-day(s)" in ds.attrs["load_report"]
    # the argument overrides the mapping's declaration; without it the declaration holds
    ds = load_diary(df, {**m, "threat": {**m["threat"], "combine": "both"}})
    np.testing.assert_array_equal(ds["threat"].sel(dyad="b").values, [0.0, 0.0, 0.0])
    assert ds["threat"].attrs["shared_events"] == "both"


def test_fit_cli_passes_the_shared_event_policy_to_the_loader(tmp_path):
    import argparse

    from asem_bayes.cli import fit_cmd
    from asem_bayes.study import SHARED_EVENT_POLICIES

    path = tmp_path / "diary.csv"
    disagreeing_long().to_csv(path, index=False)
    ap = argparse.ArgumentParser()
    fit_cmd.add_parser(ap.add_subparsers())
    args = ap.parse_args(["fit", str(path), "--out", str(tmp_path / "o.nc"), "--shared-events", "both"])
    ds = fit_cmd.read_study(args.data, args.mapping, shared_events=args.shared_events)
    np.testing.assert_array_equal(ds["threat"].sel(dyad="b").values, [0.0, 0.0, 0.0])
    for policy in SHARED_EVENT_POLICIES:
        assert ap.parse_args(["fit", "x.csv", "--out", "o.nc", "--shared-events", policy]).shared_events == policy
    with pytest.raises(SystemExit):
        ap.parse_args(["fit", "x.csv", "--out", "o.nc", "--shared-events", "any"])


def test_load_report_names_couples_with_shorter_diaries():
    df = disagreeing_long()
    df = df[~((df["dyad"] == "b") & (df["day"] == 2))]  # couple b stops after day 1
    rep = load_diary(
        df,
        {"threat": {"column": "threat", "scale": "binary"}, "state_anxiety": "state_anxiety"},
        shared_events="first",
        return_report=True,
    )[1]
    assert "1 dyad(s) report on fewer days than the study spans ('b': days 0..1)" in str(rep)


def test_dated_diaries_become_study_days_with_gaps_kept(tmp_path):
    """A day column of ISO dates: each couple's first date is its day 0, a skipped date stays a
    missed day, and the load report says how the dates were read. Control: a date that does not
    parse is an error naming its row."""
    import pandas as pd

    from asem_bayes.data import DiaryError, load_diary

    df = ab.to_long(ab.simulate("asem", 3, 6, seed=1))
    start = {0: "2024-03-01", 1: "2024-05-10", 2: "2024-02-27"}  # couples start on other dates
    dates = [pd.Timestamp(start[d]) + pd.Timedelta(days=int(t)) for d, t in zip(df.dyad, df.day, strict=True)]
    df["day"] = [x.date().isoformat() for x in dates]
    df = df[~((df.dyad == 1) & (df.day == "2024-05-12"))]  # couple 1 skipped its third day
    df.to_csv(tmp_path / "dated.csv", index=False)
    study = load_diary(tmp_path / "dated.csv")
    assert list(study["day"].values) == list(range(6))
    y = study["state_anxiety"].values
    assert np.isnan(y[1, :, 2]).all() and not np.isnan(y[1, :, 3]).any()
    assert "holds dates" in study.attrs["load_report"]
    df.loc[df.index[4], "day"] = "2024-13-45"
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DiaryError, match="not a date"):
        load_diary(tmp_path / "bad.csv")


def test_the_files_own_person_ids_are_kept(tmp_path):
    """Person labels other than 0/1 stay with the study as the coordinate ``person_id``."""
    from asem_bayes.data import load_diary

    df = ab.to_long(ab.simulate("asem", 2, 4, seed=1))
    df["person"] = df["dyad"].astype(str) + np.where(df["person"] == 0, "-anna", "-ben")
    df.to_csv(tmp_path / "ids.csv", index=False)
    study = load_diary(tmp_path / "ids.csv")
    assert study["person_id"].values.tolist() == [["0-anna", "0-ben"], ["1-anna", "1-ben"]]
