"""Validation of the values read against their declared scales, with pandera.

Every failing value becomes a :class:`~asem_bayes.data.errors.DiaryError` naming the file, row,
column and value as written; duplicate person-days are reported first.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa

from asem_bayes.data.errors import DiaryError, py_scalar
from asem_bayes.data.mapping import ColumnSpec
from asem_bayes.data.reading import Reader

__all__ = ["MAX_DAYS", "check_day_span", "reader_pos", "scale_checks", "validate"]

MAX_DAYS = 20_000  # a day column spanning more than ~55 years is a coding error, not a study


def scale_checks(spec: ColumnSpec) -> list[pa.Check]:
    """The pandera checks of a column's declared scale (0/1, 0..1, its range, Likert integers)."""
    checks: list[pa.Check] = []
    if spec.scale == "binary":
        checks.append(pa.Check.isin([0.0, 1.0], error="not 0/1 on the declared binary scale"))
    elif spec.scale == "intensity" and spec.range is None:
        checks.append(pa.Check.in_range(0.0, 1.0, error="outside the declared intensity scale 0..1"))
    if spec.range is not None:
        lo, hi = spec.range
        checks.append(pa.Check.in_range(lo, hi, error=f"outside the declared {spec.scale} scale {lo:g}..{hi:g}"))
    if spec.scale == "likert":
        checks.append(
            pa.Check(
                lambda s: s == np.round(s), element_wise=False, error="not an integer on the declared Likert scale"
            )
        )
    return checks


def validate(frame: pd.DataFrame, checks: Mapping[str, list[pa.Check]], ids: bool, reader: Reader, colname) -> None:
    """Run a pandera schema; turn the first failing check into a :class:`DiaryError`.

    ``frame`` is a working frame (a ``_pos`` column gives each row's position in the file's
    table); with ``ids`` its ``_day`` is checked and ``_dyad``, ``_pid``, ``_day`` must be unique.
    ``colname(key, index)`` names the file column a failing value came from.
    """
    cols = {k: pa.Column(float, c, nullable=True) for k, c in checks.items() if c}
    if ids:
        cols["_day"] = pa.Column(
            float,
            [
                pa.Check(lambda s: s == np.round(s), element_wise=False, error="day is not an integer"),
                pa.Check.ge(0, error="day is negative (days are 0, 1, 2, ...)"),
            ],
            nullable=False,
        )
    if not cols:
        return
    schema = pa.DataFrameSchema(cols, unique=["_dyad", "_pid", "_day"] if ids else None, report_duplicates="all")
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()]
        if fc.empty:  # pragma: no cover - a schema-level failure without rows
            raise DiaryError(str(err).splitlines()[0], source=reader.t.source) from None
        # Duplicates first: they make every other message confusing.
        dup = fc[fc["check"].astype(str).str.contains("unique|duplicate", case=False, regex=True)]
        if not dup.empty:
            raise _duplicate_error(frame, dup, reader)  # noqa: B904 - the pandera error says less than this one
        raise _first_failure(frame, fc, reader, colname) from None


def _duplicate_error(frame: pd.DataFrame, dup: pd.DataFrame, reader: Reader) -> DiaryError:
    """The first duplicated person-day, with the rows that hold it."""
    pos = np.unique(dup["index"].astype(int).to_numpy())
    r = frame.loc[pos[0]]
    same = frame.index[(frame["_dyad"] == r["_dyad"]) & (frame["_pid"] == r["_pid"]) & (frame["_day"] == r["_day"])]
    rows = ", ".join(reader.row(int(reader_pos(frame, p))) for p in same[:5])
    return DiaryError(
        f"duplicate person-day: dyad {py_scalar(r['_dyad'])!r}, person {py_scalar(r['_pid'])!r}, "
        f"day {py_scalar(r['_day']):g} appears in {rows} ({len(pos)} duplicated row(s) in all)",
        source=reader.t.source,
        row=reader.row(int(reader_pos(frame, pos[0]))),
    )


def _first_failure(frame: pd.DataFrame, fc: pd.DataFrame, reader: Reader, colname) -> DiaryError:
    """The first failing check, with the rows that fail it and their values as written in the file."""
    first = fc.iloc[0]
    key = str(first["column"])
    sel = fc[(fc["column"] == first["column"]) & (fc["check"] == first["check"])]
    idx = [int(i) for i in sel["index"]]
    pos = np.asarray([reader_pos(frame, i) for i in idx])
    # Show the values as written in the file, not as parsed.
    raw = np.asarray([reader.t.frame[colname(key, i)].iloc[p] for i, p in zip(idx, pos, strict=True)], dtype=object)
    return reader.many(str(first["check"]), colname(key, idx[0]), pos, raw)


def reader_pos(frame: pd.DataFrame, idx: int) -> int:
    """Position in the file's table of a row of a working frame (its ``_pos`` column)."""
    return int(frame.loc[idx, "_pos"])


def check_day_span(work: pd.DataFrame, reader: Reader, day_column: str) -> None:
    """Refuse days spanning :data:`MAX_DAYS` or more (a date or an id read as a day)."""
    if (work["_day"].max() - work["_day"].min()) >= MAX_DAYS:
        i = int(work["_day"].idxmax())
        raise reader.error(
            f"days span {work['_day'].min():g}..{work['_day'].max():g}, more than {MAX_DAYS} days; "
            "is this a date or an id?",
            int(work.loc[i, "_pos"]),
            day_column,
            py_scalar(reader.t.frame[day_column].iloc[int(work.loc[i, "_pos"])]),
        )
