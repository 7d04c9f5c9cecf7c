"""The study format: a diary study as a Dataset, and the long person-day table.

A study is an :class:`xarray.Dataset` with dims ``dyad``, ``person``, ``day`` and ``wave``
(docs/model.md section 12): events and daily ratings per person-day (dyad-day events such as
``threat`` per dyad-day), trait scores per person and wave, the wave days as the ``wave_day``
coordinate. :func:`asem_bayes.simulate.simulate` returns one (with the latent states and true
parameters added); :func:`to_long` and :func:`from_long` convert to and from the long table of
one row per person-day, through which loaded diaries (:func:`asem_bayes.data.load_diary`) enter.

Partners report shared events (``threat``, ``dependence``) each; :func:`combine_partner_reports`
turns their two reports into the couple's one value under a :data:`SharedEventPolicy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - short, used on every line

__all__ = [
    "SHARED_EVENT_MEANINGS",
    "SHARED_EVENT_POLICIES",
    "SharedEventPolicy",
    "combine_partner_reports",
    "from_long",
    "partner_disagreements",
    "to_long",
    "wave_positions",
]


def to_long(ds: xr.Dataset) -> pd.DataFrame:
    """The long person-day table of docs/model.md section 12 (one row per person-day).

    Dyad-day events are repeated on both partners' rows; trait scores sit on the wave day's row
    and are missing elsewhere. Rows of days a person missed stay in the table with missing values.
    """
    n_dyads, n_days = ds.sizes[D.DYAD], ds.sizes[D.DAY]
    grid = pd.MultiIndex.from_product([ds[c].values for c in D.LONG_INDEX], names=list(D.LONG_INDEX))
    frame = {c: grid.get_level_values(c).to_numpy() for c in D.LONG_INDEX}
    for name in D.EVENTS + D.DAILY_RATINGS:
        if name not in ds:
            continue
        x = ds[name]
        if D.PERSON not in x.dims:
            x = x.expand_dims({D.PERSON: ds[D.PERSON].values}).transpose(D.DYAD, D.PERSON, D.DAY)
        frame[name] = x.transpose(*D.PERSON_DAY_DIMS).values.reshape(-1)
    for name in D.TRAITS:
        if name not in ds:
            continue
        full = np.full((n_dyads, 2, n_days), np.nan)
        full[..., wave_positions(ds)] = ds[name].transpose(*D.PERSON_WAVE_DIMS).values
        frame[name] = full.reshape(-1)
    df = pd.DataFrame(frame)
    df.attrs["likert"] = int(ds.attrs.get("likert", 0))
    return df


SharedEventPolicy = Literal["error", "first", "either", "both", "mean"]
"""How the partners' two reports of a shared (dyad-day) event become the couple's one value."""
SHARED_EVENT_POLICIES: tuple[SharedEventPolicy, ...] = get_args(SharedEventPolicy)
SHARED_EVENT_MEANINGS: dict[SharedEventPolicy, str] = {
    "error": "refuse data in which the partners' reports differ",
    "first": "person 0's report",
    "either": "the larger report: 1 if either partner reported the event",
    "both": "the smaller report: 1 only if both partners reported the event",
    "mean": "the mean of the two reports (an intensity)",
}


def partner_disagreements(reports: np.ndarray) -> np.ndarray:
    """Dyad-days on which both partners reported a shared event and their reports differ.

    Parameters
    ----------
    reports : numpy.ndarray
        Each partner's report, shape ``(dyad, person, day)``; NaN where a partner gave none.

    Returns
    -------
    numpy.ndarray
        Boolean ``(dyad, day)``.
    """
    x0, x1 = reports[:, 0], reports[:, 1]
    return ~np.isnan(x0) & ~np.isnan(x1) & ~np.isclose(x0, x1)


def combine_partner_reports(
    reports: np.ndarray,
    policy: SharedEventPolicy = "error",
    *,
    name: str = "event",
    dyads: Sequence[Any] | None = None,
    days: Sequence[Any] | None = None,
) -> np.ndarray:
    """The couple's one value of a shared event per dyad-day, from both partners' reports.

    Where only one partner reported the event, that report is the couple's value under every
    policy; where neither did, the value is missing (NaN). Where both did and they differ,
    ``policy`` decides (:data:`SHARED_EVENT_MEANINGS`).

    Parameters
    ----------
    reports : numpy.ndarray
        Each partner's report, shape ``(dyad, person, day)``.
    policy : {"error", "first", "either", "both", "mean"}
        ``"error"`` raises; ``"first"`` takes person 0's report; ``"either"`` the larger (1 if
        either partner reported the event); ``"both"`` the smaller (1 only if both did);
        ``"mean"`` their mean (an intensity).
    name : str
        The event's name, for the error message.
    dyads, days : sequence, optional
        Dyad and day labels, for the error message (positions when omitted).

    Returns
    -------
    numpy.ndarray
        Shape ``(dyad, day)``.

    Raises
    ------
    ValueError
        For an unknown policy, or under ``"error"`` when the reports differ: the message counts
        the dyad-days and names the first few.
    """
    if policy not in SHARED_EVENT_POLICIES:
        raise ValueError(f"shared_events must be one of {SHARED_EVENT_POLICIES}, got {policy!r}")
    x0, x1 = reports[:, 0], reports[:, 1]
    differ = partner_disagreements(reports)
    if policy == "error" and differ.any():
        raise ValueError(_disagreement_message(name, reports, differ, dyads, days))
    one = np.where(np.isnan(x0), x1, x0)  # person 0's report, else person 1's
    if policy == "either":
        return np.fmax(x0, x1)  # fmax/fmin ignore a missing report
    if policy == "both":
        return np.fmin(x0, x1)
    if policy == "mean":
        return np.where(np.isnan(x0) | np.isnan(x1), one, (x0 + x1) / 2)
    return one


def _disagreement_message(
    name: str, reports: np.ndarray, differ: np.ndarray, dyads: Sequence[Any] | None, days: Sequence[Any] | None
) -> str:
    where = np.argwhere(differ)
    shown = []
    for d, t in where[:3]:
        dyad = dyads[d] if dyads is not None else d
        day = days[t] if days is not None else t
        shown.append(f"dyad {_label(dyad)!r}, day {_label(day)} ({reports[d, 0, t]:g} vs {reports[d, 1, t]:g})")
    more = ", ..." if len(where) > 3 else ""
    others = ", ".join(repr(p) for p in SHARED_EVENT_POLICIES if p != "error")
    return (
        f"the partners' reports of the shared event {name!r} differ on {len(where)} dyad-day(s): "
        f"{'; '.join(shown)}{more}; choose how to combine them: shared_events = {others}"
    )


def _label(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def from_long(df: pd.DataFrame, likert: int | None = None, shared_events: SharedEventPolicy = "error") -> xr.Dataset:
    """Inverse of :func:`to_long`: the observed part of a study as a Dataset.

    Dyad and day labels are kept as coordinates (sorted; days filled in between the first and
    last), person-days absent from the table become missing, and wave days are the days on which
    any trait score was recorded.

    Parameters
    ----------
    df : pandas.DataFrame
        The long person-day table (columns ``dyad``, ``person``, ``day`` and the constructs).
    likert : int, optional
        Likert scale of the daily ratings (default: ``df.attrs["likert"]``, else continuous).
    shared_events : {"error", "first", "either", "both", "mean"}
        How the partners' reports of a shared event (``threat``, ``dependence``) become the
        couple's one value when both reported it and they differ: raise (default), person 0's
        report, 1 if either reported it, 1 only if both did, or their mean (see
        :func:`combine_partner_reports`). A report of one partner alone always counts. The
        policy and the number of disagreeing dyad-days are kept in the variable's ``attrs``.

    Raises
    ------
    ValueError
        Missing index columns, an unknown policy, or (``"error"``) partners who disagree about a
        shared event: the message counts the dyad-days and names the first few.
    """
    missing = [c for c in D.LONG_INDEX if c not in df.columns]
    if missing:
        raise ValueError(f"long table lacks index column(s) {missing}")
    if shared_events not in SHARED_EVENT_POLICIES:
        raise ValueError(f"shared_events must be one of {SHARED_EVENT_POLICIES}, got {shared_events!r}")
    dyads = np.sort(df[D.DYAD].unique())
    days = np.sort(df[D.DAY].unique())
    full_days = np.arange(int(days.min()), int(days.max()) + 1)
    idx = pd.MultiIndex.from_product([dyads, [0, 1], full_days], names=list(D.LONG_INDEX))
    frame = df.set_index(list(D.LONG_INDEX)).reindex(idx)
    shape = (len(dyads), 2, len(full_days))
    coords = {D.DYAD: dyads, D.PERSON: np.arange(2), D.DAY: full_days}
    data_vars: dict[str, Any] = {}
    for name in D.EVENTS + D.DAILY_RATINGS:
        if name not in frame:
            continue
        x = frame[name].to_numpy(dtype=float).reshape(shape)
        role = D.ROLE_EVENT if name in D.EVENTS else D.ROLE_RATING
        if name in D.DYAD_EVENTS:
            n_differ = int(partner_disagreements(x).sum())
            x = combine_partner_reports(x, shared_events, name=name, dyads=dyads, days=full_days)
            attrs = {"role": role, "shared_events": shared_events, "partner_disagreements": n_differ}
            data_vars[name] = (D.DYAD_DAY_DIMS, x, attrs)
        else:
            data_vars[name] = (D.PERSON_DAY_DIMS, x, {"role": role})
    wave_days: Sequence[int] = []
    traits = [t for t in D.TRAITS if t in frame]
    if traits:
        any_trait = np.zeros(len(full_days), bool)
        for name in traits:
            any_trait |= ~np.isnan(frame[name].to_numpy(dtype=float).reshape(shape)).all(axis=(0, 1))
        wave_days = np.flatnonzero(any_trait)
        for name in traits:
            x = frame[name].to_numpy(dtype=float).reshape(shape)[..., wave_days]
            data_vars[name] = (D.PERSON_WAVE_DIMS, x, {"role": D.ROLE_TRAIT})
    coords[D.WAVE] = np.arange(len(wave_days))
    wave_labels = full_days[np.asarray(wave_days, dtype=int)]
    ds = xr.Dataset(data_vars, coords={**coords, "wave_day": (D.WAVE, wave_labels)})
    ds.attrs["likert"] = int(likert if likert is not None else df.attrs.get("likert", 0) or 0)
    return ds


def wave_positions(ds: xr.Dataset) -> np.ndarray:
    """Positions along ``day`` of the wave days (``wave_day`` holds day labels)."""
    if "wave_day" not in ds.coords or ds.sizes.get(D.WAVE, 0) == 0:
        return np.zeros(0, dtype=int)
    return np.asarray(ds.indexes[D.DAY].get_indexer(ds["wave_day"].values), dtype=int)
