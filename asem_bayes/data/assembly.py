"""Assembly: :func:`load_diary`, the stages of reading a diary file in order.

1. settle the mapping (:func:`~asem_bayes.data.mapping.read_mapping` and the arguments' overrides);
2. read the table (:mod:`~asem_bayes.data.reading`) and check that the mapped columns are in it
   (:mod:`~asem_bayes.data.rows`);
3. set aside empty rows, read ids and values, and validate them (:mod:`~asem_bayes.data.rows`,
   :mod:`~asem_bayes.data.validation`);
4. give each dyad's persons the roles 0 and 1 and lay the person-days on the full (dyad, person,
   day) grid; merge the pairwise layout's partner columns, apply the declared transforms, combine
   the partners' reports of shared events, keep values measured once (:mod:`~asem_bayes.data.grid`);
5. build the study through :func:`asem_bayes.study.from_long` (the path simulated data take), move
   ratings onto the priors' scale (:mod:`~asem_bayes.data.scales`) and finish the
   :class:`~asem_bayes.data.report.LoadReport`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.data.errors import DiaryError, py_scalar, suggest
from asem_bayes.data.grid import (
    Grid,
    assign_roles,
    combine_shared_events,
    keep_constant_once,
    lay_on_grid,
    merge_partner_columns,
)
from asem_bayes.data.mapping import CONSTRUCTS, LAYOUTS, SINGLE_PARTNER, ColumnSpec, DiaryMapping, read_mapping
from asem_bayes.data.reading import Reader, Table, read_table
from asem_bayes.data.report import LoadReport, note_short_diaries
from asem_bayes.data.rows import Plan, check_columns, read_rows, set_aside_empty_rows
from asem_bayes.data.scales import apply_transform, ordinal_likert, to_prior_scale
from asem_bayes.study import SHARED_EVENT_POLICIES, SharedEventPolicy, from_long

__all__ = ["load_diary"]


def load_diary(
    source: str | Path | pd.DataFrame,
    mapping: DiaryMapping | Mapping[str, Any] | str | Path | None = None,
    layout: str | None = None,
    *,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
    missing: Sequence[Any] | None = None,
    single_partner: str | None = None,
    shared_events: SharedEventPolicy | None = None,
    return_report: bool = False,
) -> xr.Dataset | tuple[xr.Dataset, LoadReport]:
    """Read a dyadic diary file into a study Dataset, validated, with a load report.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        A CSV (any separator; SPSS exports with ``;`` and decimal commas included), TSV or
        Parquet file, or a DataFrame.
    mapping : DiaryMapping, dict, str or Path, optional
        Column mapping (see :func:`read_mapping`); a path to a ``.toml``, ``.yaml`` or
        ``.json`` file is read. ``None``: columns already carry the default names.
    layout : {"long", "pairwise", "dyad_wide", "auto"}, optional
        Overrides the mapping's layout.
    sep, decimal, encoding, missing, single_partner
        Override the mapping's reading settings (``missing`` adds codes).
    shared_events : {"error", "first", "either", "both", "mean"}, optional
        How the partners' differing reports of a shared event (``threat``, ``dependence``)
        become the couple's one value, for every shared event (overrides the mapping's
        ``combine``). ``None``: each column's ``combine``, else ``"error"``. The policy and the
        number of dyad-days on which the partners differ are in the load report.
    return_report : bool
        Also return the :class:`LoadReport` (it is always in ``attrs["load_report"]`` as text).

    Returns
    -------
    xarray.Dataset or (xarray.Dataset, LoadReport)
        The observed part of a study in the layout of :func:`asem_bayes.simulate` (dims
        ``dyad``, ``person``, ``day``, ``wave``; events, ratings and traits with their
        ``role``), plus covariates (``role="covariate"``). ``attrs``: ``likert``, ``source``,
        ``layout``, ``scales`` (JSON of the declarations) and ``load_report``.

    Raises
    ------
    DiaryError
        Naming the file, row, column and value: unknown or missing mapped columns, values that
        are not numbers or lie outside their declared scale, missing ids, non-integer or
        negative days, duplicate person-days, dyads with more than two persons, partner
        columns that contradict the partner's own row, traits declared constant that vary,
        partners who disagree about a shared event under the policy ``"error"``.
    """
    settings = {"sep": sep, "decimal": decimal, "encoding": encoding, "single_partner": single_partner}
    m = _settle_mapping(mapping, layout, settings, missing, shared_events)
    table = read_table(source, m)
    plan = Plan.of(_default_columns(m, table, source, mapping))
    report = _start_report(plan, table)
    table = set_aside_empty_rows(table, check_columns(plan, table, report), report)
    rd = Reader(table, plan.m)
    work, partner_vals = read_rows(rd, plan, report)
    work, person_ids = assign_roles(work, plan, rd, report)
    g = lay_on_grid(work, plan, report, table.source)
    merge_partner_columns(g, partner_vals, work, plan, rd, report)
    for key, spec in plan.specs.items():  # declared scales were checked on the raw values
        g.values[key] = apply_transform(spec, g.values[key])
    combine_shared_events(g, plan.m, shared_events, rd, report)
    keep_constant_once(g, plan, rd)
    report.likert = likert = ordinal_likert(g.values, plan.m, report)
    ds = to_prior_scale(_to_dataset(g, plan.m, likert, report), plan.m, likert, report)
    _finish_report(report, ds, g, plan.m, rd)
    ds = _with_provenance(ds, plan, person_ids, report, table.source)
    return (ds, report) if return_report else ds


# --------------------------------------------------------------------------------------------
# the mapping and the report


def _settle_mapping(
    mapping: DiaryMapping | Mapping[str, Any] | str | Path | None,
    layout: str | None,
    settings: Mapping[str, Any],
    missing: Sequence[Any] | None,
    shared_events: SharedEventPolicy | None,
) -> DiaryMapping:
    """The mapping with the arguments' overrides, its reading settings checked."""
    m = read_mapping(mapping)
    over: dict[str, Any] = {}
    if layout is not None:
        if layout not in LAYOUTS:
            raise DiaryError(f"layout must be one of {LAYOUTS}, got {layout!r}{suggest(str(layout), LAYOUTS)}")
        over["layout"] = layout
    over.update({k: v for k, v in settings.items() if v is not None})
    if missing is not None:
        over["missing"] = tuple(m.missing) + tuple(missing)
    if over:
        m = replace(m, **over)
    if m.decimal not in (None, ".", ","):
        raise DiaryError(f"decimal must be '.' or ',', got {m.decimal!r}")
    if shared_events is not None and shared_events not in SHARED_EVENT_POLICIES:
        raise DiaryError(
            f"shared_events must be one of {SHARED_EVENT_POLICIES}, got {shared_events!r}"
            f"{suggest(str(shared_events), SHARED_EVENT_POLICIES)}"
        )
    if m.single_partner not in SINGLE_PARTNER:
        raise DiaryError(f"single_partner must be one of {SINGLE_PARTNER}, got {m.single_partner!r}")
    return m


def _default_columns(m: DiaryMapping, table: Table, source: Any, mapping: Any) -> DiaryMapping:
    """Without a mapping, a long table's constructs are the columns carrying their default names.

    A table written by :func:`asem_bayes.to_long` carries its Likert scale in ``attrs``.
    """
    if not (m.resolved_layout() == "long" and m.layout == "auto" and not m.columns and mapping is None):
        return m
    k = int(source.attrs.get("likert", 0) or 0) if isinstance(source, pd.DataFrame) else 0

    def default(c: str) -> ColumnSpec:
        if c in D.EVENTS:
            return ColumnSpec(column=c, scale="intensity")
        if c in D.DAILY_RATINGS and k:
            return ColumnSpec(column=c, scale="likert", range=(1.0, float(k)))
        return ColumnSpec(column=c)

    return replace(m, columns={c: default(c) for c in CONSTRUCTS if c in table.frame})


def _start_report(plan: Plan, table: Table) -> LoadReport:
    """The report of this file, with the reading notes so far."""
    report = LoadReport(source=table.source, layout=plan.layout, n_rows=len(table.frame), notes=list(table.notes))
    specs = list(plan.m.columns.values()) + list(plan.m.covariates.values())
    if plan.layout == "pairwise" and not any(s.partner_column for s in specs):
        report.notes.append("pairwise layout without partner columns: read like a long table")
    return report


# --------------------------------------------------------------------------------------------
# the study and its provenance


def _to_dataset(g: Grid, m: DiaryMapping, likert: int, report: LoadReport) -> xr.Dataset:
    """The canonical long table, then the one path to a Dataset; covariates and declarations added."""
    n_dyads, n_days = len(g.dyads), len(g.days)
    long = pd.DataFrame(
        {
            D.DYAD: np.repeat(g.dyads, 2 * n_days),
            D.PERSON: np.tile(np.repeat([0, 1], n_days), n_dyads),
            D.DAY: np.tile(g.days, 2 * n_dyads),
        }
    )
    for key in m.columns:
        long[key] = g.values[key].reshape(-1)
    ds = from_long(long, likert=likert)
    cov_vars = {}
    for key, spec in m.covariates.items():
        dims = D.PERSON_DIMS if spec.constant else D.PERSON_DAY_DIMS
        attrs = {"role": "covariate", "column": spec.column, "scale": spec.describe()}
        cov_vars[key] = (dims, g.values[f"covariate {key}"], attrs)
    if cov_vars:
        ds = ds.assign(cov_vars)
    for key, spec in m.columns.items():
        ds[key].attrs.update(column=spec.column, scale=spec.describe())
    for key, policy in report.shared_events.items():
        ds[key].attrs.update(shared_events=policy, partner_disagreements=report.partner_disagreements[key])
    return ds


def _finish_report(report: LoadReport, ds: xr.Dataset, g: Grid, m: DiaryMapping, rd: Reader) -> None:
    """The study's size, what each construct was read from, missing values and short diaries."""
    report.n_dyads, report.n_days = len(g.dyads), len(g.days)
    report.days = (int(g.days[0]), int(g.days[-1]))
    report.constructs = {k: f"{s.column!r}: {s.describe()}" for k, s in m.columns.items()}
    report.covariates = {k: f"{s.column!r}: {s.describe()}" for k, s in m.covariates.items()}
    report.absent_constructs = [c for c in CONSTRUCTS if c not in m.columns]
    report.missing_codes_seen = dict(rd.codes_seen)
    for key in m.columns:
        x = ds[key].values
        report.missing[key] = (int(np.isnan(x).sum()), int(x.size))
    note_short_diaries(ds, report)


def _with_provenance(
    ds: xr.Dataset, plan: Plan, person_ids: dict[Any, list[str]], report: LoadReport, source: str
) -> xr.Dataset:
    """The file's own person labels (where they are not 0 and 1), the source, mapping and report."""
    m = plan.m
    if any(ids != ["0", "1"] for ids in person_ids.values()):
        labels = np.asarray([person_ids.get(py_scalar(d), ["", ""]) for d in ds[D.DYAD].values], dtype=object)
        ds = ds.assign_coords(person_id=(D.PERSON_DIMS, labels.astype(str), {"column": m.ids[D.PERSON]}))
    ds.attrs.update(
        source=source,
        mapping=str(m.source),
        layout=plan.layout,
        scales=json.dumps({k: s.describe() for k, s in m.columns.items()}),
        load_report=str(report),
    )
    return ds
