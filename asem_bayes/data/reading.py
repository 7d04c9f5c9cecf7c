"""Reading the user's file into a table of strings or numbers, and parsing its columns.

:func:`read_table` reads a CSV/TSV (sniffing the separator and the encoding), Parquet or SPSS
file, or takes a DataFrame; a :class:`Reader` turns mapped columns into floats and ids with
errors that name the file, row, column and value.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asem_bayes.data.errors import DiaryError, py_scalar
from asem_bayes.data.mapping import DEFAULT_MISSING, DiaryMapping

__all__ = ["Reader", "Table", "read_table", "sniff_sep"]


@dataclass
class Table:
    """The user's file as read: its columns, and how to name each row in messages."""

    frame: pd.DataFrame  # one column per file column (str or numeric); index 0..n-1
    source: str
    row_word: str  # "line" (files: line numbers incl. the header) or "row"
    row_labels: np.ndarray  # what to print for each row
    notes: list[str]


def sniff_sep(sample: str) -> str:
    """The separator of a CSV sample (``,``, ``;``, tab or ``|``); ``,`` when unclear."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(source: Any, m: DiaryMapping) -> Table:
    """A DataFrame, or a CSV, TSV, Parquet or SPSS (``.sav``) file, as a :class:`Table`."""
    if isinstance(source, pd.DataFrame):
        return _from_frame(source)
    if not isinstance(source, str | Path):
        raise DiaryError(f"expected a file path or a pandas DataFrame, got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise DiaryError("file not found", source=str(path))
    if path.suffix.lower() in (".parquet", ".pq", ".sav"):
        return _read_binary(path)
    return _read_text(path, m)


def _from_frame(source: pd.DataFrame) -> Table:
    df = source.copy()
    names = [str(c) for c in df.columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DiaryError(f"column name(s) {dup} appear more than once", source="<DataFrame>")
    df.columns = names
    labels = np.asarray(df.index)
    df = df.reset_index(drop=True)
    return Table(df, "<DataFrame>", "row", labels, [])


def _read_binary(path: Path) -> Table:
    """A Parquet or SPSS file (rows numbered from 1)."""
    name = str(path)
    if path.suffix.lower() == ".sav":
        try:
            df = pd.read_spss(path, convert_categoricals=False)
        except ImportError:
            raise DiaryError(
                "reading .sav files needs pyreadstat; or export the data from SPSS as CSV", source=name
            ) from None
    else:
        try:
            df = pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds
            raise DiaryError(f"cannot read the Parquet file: {err}", source=name) from None
    df.columns = [str(c) for c in df.columns]
    return Table(df.reset_index(drop=True), name, "row", np.arange(1, len(df) + 1), [])


def _decode(raw: bytes, m: DiaryMapping, name: str, notes: list[str]) -> str:
    """The file's text: the mapping's encoding, else UTF-8 and then Latin-1 (noted)."""
    encodings = [m.encoding] if m.encoding else ["utf-8-sig", "latin-1"]
    text = None
    for enc in encodings:
        try:
            text = raw.decode(enc)
            if enc == "latin-1":
                notes.append("file is not UTF-8; read as Latin-1")
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        raise DiaryError(f"cannot decode the file with encoding {encodings[0]!r}", source=name)
    if not text.strip():
        raise DiaryError("the file is empty", source=name)
    return text


def _read_text(path: Path, m: DiaryMapping) -> Table:
    """A CSV or TSV file, every cell a string (rows named by their line in the file)."""
    name = str(path)
    notes: list[str] = []
    text = _decode(path.read_bytes(), m, name, notes)
    sep = m.sep or ("\t" if path.suffix.lower() == ".tsv" else sniff_sep(text[:65536]))
    header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    header = [h.strip() for h in header]
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=False,
            skip_blank_lines=True, engine="python",
        )  # fmt: skip
    except (pd.errors.ParserError, csv.Error, ValueError) as err:
        raise DiaryError(f"cannot parse as a table (separator {sep!r}): {err}", source=name) from None
    df.columns = [str(c).strip() for c in df.columns]
    dup = sorted({h for h in header if header.count(h) > 1})
    for h in dup:
        later = [c for c in df.columns if c.startswith(h + ".")]
        notes.append(f"the header names column {h!r} {header.count(h)} times; the later one(s) were read as {later}")
    # Line numbers: header is line 1; blank lines are skipped by the parser, so count them.
    lines = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip()][1:]
    labels = np.asarray(lines[: len(df)] if len(lines) >= len(df) else np.arange(2, len(df) + 2))
    if sep != ",":
        notes.append(f"separator {sep!r}")
    return Table(df, name, "line", labels, notes)


class Reader:
    """Parses mapped columns to floats with errors naming file, row, column and value."""

    def __init__(self, table: Table, m: DiaryMapping) -> None:
        self.t = table
        self.m = m
        self.codes_seen: dict[str, int] = {}

    def row(self, pos: int) -> str:
        return f"{self.t.row_word} {self.t.row_labels[pos]}"

    def error(self, msg: str, pos: int | None = None, column: str | None = None, value: Any = None) -> DiaryError:
        return DiaryError(
            msg, source=self.t.source, row=None if pos is None else self.row(pos), column=column, value=value
        )

    def many(self, msg: str, column: str, positions: np.ndarray, values: np.ndarray) -> DiaryError:
        """One error listing up to five offending rows."""
        shown = "; ".join(
            f"{self.row(int(p))}: {py_scalar(v)!r}" for p, v in zip(positions[:5], values[:5], strict=False)
        )
        more = f" (and {len(positions) - 5} more)" if len(positions) > 5 else ""
        return DiaryError(
            f"{msg} in {len(positions)} row(s): {shown}{more}",
            source=self.t.source,
            row=self.row(int(positions[0])),
            column=column,
            value=py_scalar(values[0]),
        )

    def days(self, column: str, dyad: np.ndarray) -> tuple[np.ndarray, bool]:
        """The day column as study days, and whether it held calendar dates.

        Numbers are taken as they are. Dates (ISO ``2024-03-01``, with or without a time, or a
        datetime column) become days since the couple's first diary date, so each couple starts on
        day 0 and gaps between dates are kept as missed days.
        """
        col = self.t.frame[column]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            return self.numeric(column, what="the day"), False
        text = col.astype("string").str.strip()
        if pd.to_numeric(text, errors="coerce").notna().all():
            return self.numeric(column, what="the day"), False
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
        if not pd.api.types.is_datetime64_any_dtype(col) and dates.notna().mean() < 0.5:
            return self.numeric(column, what="the day"), False  # not a date column: numeric() names the rows
        bad = dates.isna().to_numpy()
        if bad.any():
            pos = np.flatnonzero(bad)
            raise self.many("not a date (use YYYY-MM-DD) or missing day", column, pos, col.to_numpy()[pos])
        day = dates.dt.normalize()
        first = day.groupby(pd.Series(dyad, index=day.index)).transform("min")
        return (day - first).dt.days.to_numpy(dtype=float), True

    def numeric(self, column: str, extra_missing: Sequence[Any] = (), what: str = "") -> np.ndarray:
        """A column as float64 with NaN for missing codes; non-numbers raise."""
        col = self.t.frame[column]
        codes = list(DEFAULT_MISSING) + list(self.m.missing) + list(extra_missing)
        str_codes = {str(c).strip() for c in codes}
        num_codes = []
        for c in codes:
            try:
                num_codes.append(float(c))
            except (TypeError, ValueError):
                pass
        num_codes = [c for c in num_codes if not math.isnan(c)]
        if pd.api.types.is_bool_dtype(col):
            x = col.astype(float).to_numpy()
            code_mask = np.zeros(len(x), bool)
        elif pd.api.types.is_numeric_dtype(col):
            x = pd.to_numeric(col, errors="coerce").astype(float).to_numpy()
            code_mask = np.isin(x, num_codes)
            x = np.where(code_mask, np.nan, x)
        else:
            s = col.astype("string").str.strip().fillna("")
            is_code = s.isin(str_codes).to_numpy()
            txt = s
            if self.m.decimal != ".":
                # A decimal comma ("3,5", SPSS in many locales); never a thousands separator in diary items.
                comma = txt.str.fullmatch(r"[+-]?\d*,\d+").fillna(False).to_numpy()
                txt = txt.where(~comma, txt.str.replace(",", ".", regex=False))
            x = pd.to_numeric(txt.where(~is_code, None), errors="coerce").astype(float).to_numpy()
            unparsed = np.isnan(x) & ~is_code
            if unparsed.any():
                pos = np.flatnonzero(unparsed)
                hint = " (declare missing-value codes in the mapping's 'missing')"
                if self.m.decimal == ".":
                    hint += "; decimal commas need decimal = ','"
                raise self.many(f"not a number{' for ' + what if what else ''}{hint}", column, pos, col.to_numpy()[pos])
            num_hit = np.isin(x, num_codes)
            x = np.where(num_hit, np.nan, x)
            blank = s.eq("").to_numpy()
            code_mask = (is_code & ~blank) | num_hit
        inf = np.isinf(x)
        if inf.any():
            pos = np.flatnonzero(inf)
            raise self.many("not a finite number", column, pos, col.to_numpy()[pos])
        n_codes = int(code_mask.sum()) if not pd.api.types.is_bool_dtype(col) else 0
        if n_codes:
            self.codes_seen[column] = self.codes_seen.get(column, 0) + n_codes
        return x

    def labels(self, column: str, what: str) -> np.ndarray:
        """Id labels: integers where every value is one, else stripped strings; missing raises."""
        col = self.t.frame[column]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            x = pd.to_numeric(col, errors="coerce").astype(float).to_numpy()
            bad = ~np.isfinite(x)
            if bad.any():
                pos = np.flatnonzero(bad)
                raise self.many(f"missing {what} id", column, pos, col.to_numpy()[pos])
            if np.all(x == np.round(x)) and np.all(np.abs(x) < 2**53):
                return x.astype(np.int64)
            return np.asarray([repr(float(v)) for v in x], dtype=object)
        s = col.astype("string").str.strip().fillna("")
        empty = s.isin({str(c).strip() for c in list(DEFAULT_MISSING) + list(self.m.missing)}).to_numpy()
        if empty.any():
            pos = np.flatnonzero(empty)
            raise self.many(f"missing {what} id", column, pos, col.to_numpy()[pos])
        vals = s.to_numpy(dtype=object)
        as_int = pd.to_numeric(s, errors="coerce")
        if as_int.notna().all():
            f = as_int.astype(float).to_numpy()
            if np.all(np.isfinite(f)) and np.all(f == np.round(f)) and np.all(np.abs(f) < 2**53):
                return f.astype(np.int64)
        return np.asarray([str(v) for v in vals], dtype=object)
