"""Rows: the mapping applied to the file's columns, and every person-day read, validated.

A :class:`Plan` says where each construct is read from in this layout; :func:`check_columns`
checks that those columns are in the file; :func:`read_rows` reads ids and values into a
working frame (one row per person-day read) and validates them against their declared scales.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.data.errors import DiaryError, suggest
from asem_bayes.data.mapping import ID_KEYS, ColumnSpec, DiaryMapping
from asem_bayes.data.reading import Reader, Table
from asem_bayes.data.report import LoadReport
from asem_bayes.data.validation import check_day_span, scale_checks, validate

__all__ = ["Plan", "check_columns", "read_rows", "set_aside_empty_rows"]


@dataclass(frozen=True)
class Plan:
    """The mapping as it applies to this file: its layout and where each construct is read from."""

    m: DiaryMapping
    layout: str
    templates: tuple[str, str]  # dyad-wide: the two persons' column templates
    specs: dict[str, ColumnSpec]  # constructs, then covariates as "covariate <name>"

    @classmethod
    def of(cls, m: DiaryMapping) -> Plan:
        """The plan of a mapping (a dyad-wide layout without ``roles`` raises)."""
        lay = m.resolved_layout()
        templates = m.role_templates() if lay == "dyad_wide" else ("{}", "{}")
        specs = {**m.columns, **{f"covariate {k}": s for k, s in m.covariates.items()}}
        return cls(m, lay, templates, specs)

    @property
    def wide(self) -> bool:
        return self.layout == "dyad_wide"

    @property
    def id_keys(self) -> tuple[str, ...]:
        return (D.DYAD, D.DAY) if self.wide else ID_KEYS

    def source_columns(self, spec: ColumnSpec) -> list[str]:
        """The file column(s) a construct is read from (one per person in the dyad-wide layout)."""
        if self.wide and not spec.shared:
            return [self.templates[0].format(spec.column), self.templates[1].format(spec.column)]
        return [spec.column]


def check_columns(plan: Plan, table: Table, report: LoadReport) -> set[str]:
    """The file columns the mapping uses; a mapped column not in the file raises."""
    m, available = plan.m, list(table.frame.columns)

    def need(col: str, what: str) -> None:
        if col not in table.frame.columns:
            raise DiaryError(
                f"column {col!r} (mapped to {what}) is not in the file{suggest(col, available)}; columns: {available}",
                source=table.source,
                column=col,
            )

    for k in plan.id_keys:
        need(m.ids[k], f"the {k} id")
    used = {m.ids[k] for k in plan.id_keys}
    for key, spec in plan.specs.items():
        if spec.shared and not plan.wide:
            raise DiaryError(
                f"{key!r}: 'shared' columns belong to the dyad-wide layout (this is {plan.layout})", source=m.source
            )
        if spec.partner_column and plan.layout != "pairwise":
            raise DiaryError(
                f"{key!r}: 'partner_column' belongs to the pairwise layout (this is {plan.layout})", source=m.source
            )
        for c in plan.source_columns(spec):
            need(c, key)
            used.add(c)
        if spec.partner_column:
            need(spec.partner_column, f"the partner's {key}")
            used.add(spec.partner_column)
    report.unused_columns = [c for c in available if c not in used]
    return used


def set_aside_empty_rows(table: Table, used: set[str], report: LoadReport) -> Table:
    """The table without rows whose used fields are all blank (counted in the report)."""
    frame = table.frame
    if len(frame):
        blank = np.ones(len(frame), bool)
        for c in used:
            col = frame[c]
            if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                blank &= col.isna().to_numpy()
            else:
                blank &= col.astype("string").str.strip().fillna("").eq("").to_numpy()
        if blank.any():
            report.empty_rows = int(blank.sum())
            keep = np.flatnonzero(~blank)
            frame = frame.iloc[keep].reset_index(drop=True)
            table = Table(frame, table.source, table.row_word, table.row_labels[keep], table.notes)
    if len(frame) == 0:
        raise DiaryError("no data rows", source=table.source)
    return table


def read_rows(rd: Reader, plan: Plan, report: LoadReport) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The working frame (one row per person-day read: ``_pos``, ``_dyad``, ``_pid``, ``_day`` and
    the constructs), validated, and the pairwise layout's partner values (per file row)."""
    work = _read_ids(rd, plan, report)
    values, partner_vals = _read_values(rd, plan)
    for key in plan.specs:
        work[key] = values[key]
    _validate_rows(work, partner_vals, plan, rd)
    check_day_span(work, rd, plan.m.ids[D.DAY])
    work["_day"] = work["_day"].astype(np.int64)
    return work, partner_vals


def _read_ids(rd: Reader, plan: Plan, report: LoadReport) -> pd.DataFrame:
    """Dyad, person and day of every person-day (two per row in the dyad-wide layout)."""
    m = plan.m
    dyad = rd.labels(m.ids[D.DYAD], "dyad")
    day, dated = rd.days(m.ids[D.DAY], dyad)
    if dated:
        report.notes.append(
            f"{m.ids[D.DAY]!r} holds dates: read as days since each couple's first diary date "
            "(gaps kept as missed days)"
        )
    if np.isnan(day).any():
        pos = np.flatnonzero(np.isnan(day))
        raise rd.many("missing day", m.ids[D.DAY], pos, rd.t.frame[m.ids[D.DAY]].to_numpy()[pos])
    n = len(rd.t.frame)
    if plan.wide:
        pid = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
        pos_all = np.concatenate([np.arange(n), np.arange(n)])
        dyad_all, day_all = np.concatenate([dyad, dyad]), np.concatenate([day, day])
    else:
        pid = rd.labels(m.ids[D.PERSON], "person")
        pos_all, dyad_all, day_all = np.arange(n), dyad, day
    return pd.DataFrame({"_pos": pos_all, "_dyad": dyad_all, "_pid": pid, "_day": day_all.astype(float)})


def _read_values(rd: Reader, plan: Plan) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each construct parsed per source column (each file column once), stacked over the roles."""
    values: dict[str, np.ndarray] = {}
    partner_vals: dict[str, np.ndarray] = {}
    for key, spec in plan.specs.items():
        parsed = [rd.numeric(c, spec.missing, what=key) for c in plan.source_columns(spec)]
        values[key] = np.concatenate(parsed * (2 if spec.shared else 1)) if plan.wide else parsed[0]
        if spec.partner_column:
            partner_vals[key] = rd.numeric(spec.partner_column, spec.missing, what=f"the partner's {key}")
    return values, partner_vals


def _validate_rows(work: pd.DataFrame, partner_vals: dict[str, np.ndarray], plan: Plan, rd: Reader) -> None:
    """Ids and values against their declared scales, then the partner columns."""
    specs = plan.specs
    role_of = work["_pid"].to_numpy() == 1 if plan.wide else None  # which template a working row used
    partner_cols = {f"_P_{k}": specs[k].partner_column for k in partner_vals}

    def colname(key: str, idx: int) -> str:
        if key in partner_cols:
            return partner_cols[key]  # type: ignore[return-value]
        if key not in specs:
            return plan.m.ids[D.DAY] if key == "_day" else key
        spec = specs[key]
        if plan.wide and not spec.shared:
            return plan.templates[1 if role_of[idx] else 0].format(spec.column)  # type: ignore[index]
        return spec.column

    validate(work, {k: scale_checks(s) for k, s in specs.items()}, True, rd, colname)
    if partner_vals:
        pw = pd.DataFrame({"_pos": np.arange(len(rd.t.frame)), **{f"_P_{k}": v for k, v in partner_vals.items()}})
        validate(pw, {f"_P_{k}": scale_checks(specs[k]) for k in partner_vals}, False, rd, colname)
