"""The (dyad, person, day) grid: persons given the roles 0 and 1, the person-days laid on the full
grid, and what is settled per couple or per person there (partner columns, shared events,
values measured once).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.data.errors import DiaryError, py_scalar
from asem_bayes.data.mapping import ColumnSpec, DiaryMapping
from asem_bayes.data.reading import Reader
from asem_bayes.data.report import LoadReport
from asem_bayes.data.rows import Plan
from asem_bayes.study import SHARED_EVENT_POLICIES, SharedEventPolicy, combine_partner_reports, partner_disagreements

__all__ = [
    "MAX_CELLS",
    "Grid",
    "assign_roles",
    "combine_shared_events",
    "keep_constant_once",
    "lay_on_grid",
    "merge_partner_columns",
]

MAX_CELLS = 50_000_000


def assign_roles(
    work: pd.DataFrame, plan: Plan, rd: Reader, report: LoadReport
) -> tuple[pd.DataFrame, dict[Any, list[str]]]:
    """Persons -> roles 0/1 within each dyad (sorted person ids; column order in dyad-wide files).

    Also returns the file's person labels per dyad (empty in the dyad-wide layout).
    """
    if plan.wide:
        work["_role"] = work["_pid"]
        return work, {}
    m = plan.m
    persons = work.groupby("_dyad", sort=False)["_pid"].unique()
    big = persons[persons.map(len) > 2]
    if len(big):
        d0 = big.index[0]
        rows = work.loc[work["_dyad"] == d0, "_pos"].to_numpy()
        raise rd.error(
            f"dyad {py_scalar(d0)!r} has {len(big.iloc[0])} persons {sorted(map(py_scalar, big.iloc[0]), key=str)} "
            f"(a dyad has two); {len(big)} such dyad(s) in all",
            int(rows[0]),
            m.ids[D.PERSON],
        )
    order = {d: sorted(p.tolist(), key=lambda v: (str(type(v)), v)) for d, p in persons.items()}
    work["_role"] = [order[d].index(p) for d, p in zip(work["_dyad"], work["_pid"], strict=True)]
    single = [d for d, p in order.items() if len(p) == 1]
    if single:
        sel = work["_dyad"].isin(single)
        if m.single_partner == "drop":
            report.set_aside["dyads with one partner only"] = {
                "rows": int(sel.sum()),
                "ids": [py_scalar(d) for d in single],
            }
            work = work[~sel]
        else:
            report.notes.append(
                f"{len(single)} dyad(s) with one partner only kept; the other partner's values are all missing"
            )
    if len(work) == 0:
        raise DiaryError("no dyad has both partners in the file", source=rd.t.source)
    report.notes.append(f"person 0 of each dyad is the lower id in {m.ids[D.PERSON]!r}, person 1 the higher")
    return work, {d: [str(py_scalar(x)) for x in p] + [""] * (2 - len(p)) for d, p in order.items()}


@dataclass
class Grid:
    """The study's full (dyad, person, day) grid and every construct's values on it."""

    dyads: np.ndarray
    days: np.ndarray
    index: pd.MultiIndex  # (dyad, role, day), row-major over shape
    values: dict[str, np.ndarray]  # construct -> (dyad, person, day); (dyad, person) once kept once
    pos: np.ndarray  # the file-table position of each person-day's row (NaN where absent)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.dyads), 2, len(self.days))


def lay_on_grid(work: pd.DataFrame, plan: Plan, report: LoadReport, source: str) -> Grid:
    """The person-days read, on the full grid: sorted dyads x 2 persons x every day from first to last."""
    uniq = np.asarray(work["_dyad"].unique())
    if np.issubdtype(uniq.dtype, np.integer):
        dyads = np.sort(uniq)
    else:
        dyads = np.asarray(sorted(str(u) for u in uniq), dtype=object)
    days = np.arange(int(work["_day"].min()), int(work["_day"].max()) + 1)
    if len(dyads) * 2 * len(days) > MAX_CELLS:
        raise DiaryError(
            f"{len(dyads)} dyads x {len(days)} days is too large a grid; check the dyad and day columns",
            source=source,
        )
    idx = pd.MultiIndex.from_arrays([work["_dyad"], work["_role"], work["_day"]])
    grid = pd.MultiIndex.from_product([dyads, [0, 1], days])
    cube = work.set_index(idx)[list(plan.specs) + ["_pos"]].reindex(grid)
    report.absent_person_days = int((~cube["_pos"].notna().to_numpy()).sum())
    shape = (len(dyads), 2, len(days))
    values = {k: cube[k].to_numpy(dtype=float).reshape(shape) for k in plan.specs}
    return Grid(dyads, days, grid, values, cube["_pos"].to_numpy(dtype=float).reshape(shape))


def merge_partner_columns(
    g: Grid, partner_vals: dict[str, np.ndarray], work: pd.DataFrame, plan: Plan, rd: Reader, report: LoadReport
) -> None:
    """Pairwise layout: the partner's columns must agree with the partner's own row; they fill gaps."""
    for key, pv in partner_vals.items():
        pvw = pd.Series(
            pv[work["_pos"].to_numpy()],
            index=pd.MultiIndex.from_arrays([work["_dyad"], 1 - work["_role"], work["_day"]]),
        )
        pcube = pvw.reindex(g.index).to_numpy(dtype=float).reshape(g.shape)
        ppos = pd.Series(work["_pos"].to_numpy(), index=pvw.index).reindex(g.index).to_numpy(dtype=float)
        ppos = ppos.reshape(g.shape)
        own = g.values[key]
        both = ~np.isnan(own) & ~np.isnan(pcube)
        clash = both & ~np.isclose(own, pcube, rtol=1e-6, atol=1e-9)
        if clash.any():
            d, i, t = np.argwhere(clash)[0]
            spec = plan.specs[key]
            raise DiaryError(
                f"the partner's {spec.partner_column!r} ({pcube[d, i, t]!r} on {rd.row(int(ppos[d, i, t]))}) "
                "contradicts "
                f"the person's own {spec.column!r} ({own[d, i, t]!r}) for dyad {py_scalar(g.dyads[d])!r}, "
                f"day {g.days[t]}; {int(clash.sum())} such person-day(s)",
                source=rd.t.source,
                row=rd.row(int(g.pos[d, i, t])),
                column=spec.column,
                value=py_scalar(own[d, i, t]),
            )
        fill = np.isnan(own) & ~np.isnan(pcube)
        if fill.any():
            report.filled_from_partner[key] = int(fill.sum())
            g.values[key] = np.where(fill, pcube, own)


def combine_shared_events(
    g: Grid, m: DiaryMapping, shared_events: SharedEventPolicy | None, rd: Reader, report: LoadReport
) -> None:
    """Dyad-day events: the partners' reports become one value per couple and day."""
    for key in [k for k in D.DYAD_EVENTS if k in m.columns]:
        spec = m.columns[key]
        policy = shared_events or spec.combine or "error"
        x = g.values[key]
        differ = partner_disagreements(x)
        report.shared_events[key] = policy
        report.partner_disagreements[key] = int(differ.sum())
        if policy == "error" and differ.any():
            d, t = np.argwhere(differ)[0]
            rows = g.pos[d, :, t][~np.isnan(g.pos[d, :, t])]  # a report may come from the partner's row
            raise DiaryError(
                f"the partners' reports of the shared event {key!r} differ ({x[d, 0, t]:g} vs {x[d, 1, t]:g}) for "
                f"dyad {py_scalar(g.dyads[d])!r}, day {g.days[t]} ({int(differ.sum())} dyad-day(s)); declare "
                f"combine = {', '.join(repr(p) for p in SHARED_EVENT_POLICIES if p != 'error')} in the mapping, "
                "or pass shared_events",
                source=rd.t.source,
                row=rd.row(int(rows[0])) if len(rows) else None,
                column=spec.column,
            )
        comb = combine_partner_reports(x, policy, name=key)
        g.values[key] = np.repeat(comb[:, None, :], 2, axis=1)


def keep_constant_once(g: Grid, plan: Plan, rd: Reader) -> None:
    """Traits and covariates measured once: constant per person, a trait kept on its ``wave_day``,
    a covariate as one value per person."""
    for key, spec in plan.specs.items():
        if not spec.constant:
            continue
        lo = _constant_value(g, key, spec, rd)
        if key not in D.TRAITS:
            g.values[key] = lo  # (dyad, person)
            continue
        wd, n_days, day_lo = spec.wave_day, len(g.days), int(g.days[0])
        t = 0 if wd == "first" else n_days - 1 if wd == "last" else int(wd) - day_lo
        if not 0 <= t < n_days:
            raise DiaryError(
                f"{key!r}: wave_day {wd} is not a day of the study ({day_lo}..{int(g.days[-1])})",
                source=plan.m.source,
            )
        kept = np.full_like(g.values[key], np.nan)
        kept[..., t] = lo
        g.values[key] = kept


def _constant_value(g: Grid, key: str, spec: ColumnSpec, rd: Reader) -> np.ndarray:
    """A value declared constant, once per (dyad, person); a person whose values vary raises."""
    x = g.values[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # persons never measured stay NaN
        lo, hi = np.nanmin(x, axis=-1), np.nanmax(x, axis=-1)
    varies = ~np.isnan(lo) & ~np.isclose(lo, hi)
    if varies.any():
        d, i = np.argwhere(varies)[0]
        t = int(np.nanargmax(x[d, i]))
        raise DiaryError(
            f"{key!r} is declared constant (measured once) but person {i} of dyad {py_scalar(g.dyads[d])!r} has "
            f"values {lo[d, i]!r}..{hi[d, i]!r}; {int(varies.sum())} such person(s)",
            source=rd.t.source,
            row=rd.row(int(g.pos[d, i, t])),
            column=spec.column,
            value=py_scalar(x[d, i, t]),
        )
    return lo
