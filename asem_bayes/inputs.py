"""Turn a study Dataset into the arrays a model consumes, with clear errors for bad data.

The arrays are what :class:`asem_bayes.model.CompiledModel` swaps in when it refits a new
dataset of the same design, so everything that varies between datasets lives here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes import dims as D
from asem_bayes.study import SHARED_EVENT_POLICIES, SharedEventPolicy, combine_partner_reports, wave_positions

__all__ = [
    "DataError",
    "ModelInputs",
    "prepare_inputs",
    "diary_days",
    "off_scale_note",
    "MISSING_EVENT_POLICIES",
    "PRIOR_SCALE",
    "residual_links",
]

MISSING_EVENT_POLICIES = ("error", "absent", "person_rate")
# The scale the observation model's priors assume for every daily rating and trait score
# (c_A_mu ~ Normal(4, 1), k_A ~ LogNormal(0.4, 0.3), ...): 1..7. Ratings declared on another
# scale are rescaled to it when read (asem_bayes.data.rescale_ratings).
PRIOR_SCALE: tuple[float, float] = (1.0, 7.0)
BUFFERING = ("safe", "soft")  # the partner's answers to a threat: 0 on days without one


class DataError(ValueError):
    """The data do not fit the model (missing variables, wrong dims, bad values)."""


@dataclass
class ModelInputs:
    """Arrays for one dataset.

    ``events`` are time-major ``(day, dyad, person)`` arrays that drive the dynamics.
    ``obs`` maps each observed quantity to ``(flat_index, values)``: indices into the
    ``(dyad, person, day)`` grid flattened in C order (traits index their wave day).
    ``in_diary`` is ``(dyad, day)``: the days from each couple's first to its last report
    (:func:`diary_days`); the events of the other days are 0, so they leave the working models
    where they are, and nothing is scored there.
    """

    n_dyads: int
    n_days: int
    likert: int
    events: dict[str, np.ndarray]
    obs: dict[str, tuple[np.ndarray, np.ndarray]]
    present_events: tuple[str, ...]
    present_ratings: tuple[str, ...]
    coords: dict[str, np.ndarray]
    wave_pos: np.ndarray
    notes: list[str] = field(default_factory=list)
    in_diary: np.ndarray | None = None

    @property
    def design_key(self) -> tuple[Any, ...]:
        """What must match for a compiled model to refit this dataset."""
        return (self.n_dyads, self.n_days, self.likert, self.present_events, self.present_ratings)

    def links(self, name: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Each observation of daily rating ``name`` linked by residual option ``kind``: the
        position of its linked observation and the gap in days (:func:`residual_links`)."""
        return residual_links(self.obs[name][0], self.n_days, kind)

    def data_arrays(self, residuals: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """Every array by the name of its ``pm.Data`` container, encoded as the model reads it:
        Likert daily ratings as 0-based categories, scored events as integers. With residual
        options (docs/model.md section 17) also each daily rating's links ``prev_<rating>`` and
        ``gap_<rating>``."""
        out = {f"ev_{k}": v for k, v in self.events.items()}
        for kind in residuals:
            for name in D.DAILY_RATINGS:
                if name in self.obs:
                    out[f"prev_{name}"], out[f"gap_{name}"] = self.links(name, kind)
        for k, (idx, y) in self.obs.items():
            out[f"idx_{k}"] = idx
            if self.likert and k in D.DAILY_RATINGS:
                y = (y - 1).astype(np.int64)
            elif k.startswith("event_"):
                y = y.astype(np.int64)
            out[f"y_{k}"] = y
        return out


def residual_links(idx: np.ndarray, n_days: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Which earlier observation each observation of a daily rating is conditioned on.

    Parameters
    ----------
    idx : numpy.ndarray
        Flat (dyad, person, day) indices of the rating's observations, ascending (C order), as in
        :attr:`ModelInputs.obs`.
    n_days : int
        Days of the study.
    kind : {"ar1", "partner"}
        ``"ar1"``: the same person's last observed day before (the gap in days is its distance);
        ``"partner"``: for person 1, person 0's rating of the same day (gap 0).

    Returns
    -------
    prev, gap : numpy.ndarray
        ``prev[j]`` the position in ``idx`` of observation ``j``'s link, -1 where it has none (a
        person's first observation; person 0, or a day the partner did not rate); ``gap[j]`` the
        days between them (1 where unlinked).
    """
    idx = np.asarray(idx, dtype=np.int64)
    n = idx.size
    prev = np.full(n, -1, dtype=np.int64)
    gap = np.ones(n, dtype=np.int64)
    if kind == "ar1":
        person, day = idx // n_days, idx % n_days
        same = np.zeros(n, bool)
        same[1:] = person[1:] == person[:-1]
        prev[same] = np.flatnonzero(same) - 1
        gap[same] = day[same] - day[prev[same]]
    elif kind == "partner":
        second = (idx // n_days) % 2 == 1
        target = idx - n_days  # person 0's cell of the same dyad-day
        pos = np.clip(np.searchsorted(idx, target), 0, max(n - 1, 0))
        found = second & (n > 0) & (idx[pos] == target) if n else second
        prev[found] = pos[found]
        gap[found] = 0
    else:
        raise ValueError(f"unknown residual option {kind!r}")
    return prev, gap


def _where(mask: np.ndarray, dims: tuple[str, ...], ds: xr.Dataset) -> str:
    pos = np.argwhere(mask)[0]
    return ", ".join(f"{d}={_plain(ds[d].values[i])!r}" for d, i in zip(dims, pos, strict=True))


def _plain(x: Any) -> Any:
    """A label as plain Python (labels of an object array, e.g. strings, already are)."""
    return x.item() if isinstance(x, np.generic) else x


def diary_days(data: xr.Dataset) -> xr.DataArray:
    """The days of each couple's diary: from its first to its last report.

    A report is any event, daily rating or trait score of either partner. Studies are padded to
    the longest diary (a couple that stopped early, or started late, has all-missing days
    there); those days are not part of the couple's diary. A couple without any report has none.

    Parameters
    ----------
    data : xarray.Dataset
        A study (dims ``dyad``, ``person``, ``day``, optionally ``wave``).

    Returns
    -------
    xarray.DataArray
        Boolean, dims ``(dyad, day)``.
    """
    reports = np.zeros((data.sizes[D.DYAD], data.sizes[D.DAY]), bool)
    for name in D.EVENTS + D.DAILY_RATINGS:
        # a variable on other dims is reported by prepare_inputs' own checks
        if name in data and set(data[name].dims) in (set(D.DYAD_DAY_DIMS), set(D.PERSON_DAY_DIMS)):
            x = data[name]
            seen = x.notnull().any(D.PERSON) if D.PERSON in x.dims else x.notnull()
            reports |= seen.transpose(D.DYAD, D.DAY).values
    wave_pos = wave_positions(data)
    for name in D.TRAITS:
        if name in data and set(data[name].dims) == set(D.PERSON_WAVE_DIMS):
            seen = data[name].notnull().any(D.PERSON).transpose(D.DYAD, D.WAVE).values
            for w, t in enumerate(wave_pos):
                if t >= 0:
                    reports[:, t] |= seen[:, w]
    # between the first and the last report: reported on or before, and on or after
    inside = np.logical_or.accumulate(reports, axis=1) & np.logical_or.accumulate(reports[:, ::-1], axis=1)[:, ::-1]
    return xr.DataArray(inside, dims=D.DYAD_DAY_DIMS, coords={D.DYAD: data[D.DYAD].values, D.DAY: data[D.DAY].values})


def off_scale_note(data: xr.Dataset, name: str) -> str | None:
    """A warning in words when the continuous rating ``name`` lies far off :data:`PRIOR_SCALE`.

    Far off: its 1st or 99th percentile more than half the scale's width beyond its ends (a
    rating on 0..100, z-scores). ``None`` for ratings on (or near) the priors' scale, Likert
    ratings and ratings already rescaled (``attrs["rescaled_from"]``).
    """
    x = data[name]
    if "rescaled_from" in x.attrs or (name in D.DAILY_RATINGS and int(data.attrs.get("likert", 0) or 0)):
        return None
    vals = np.asarray(x.values, dtype=float)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return None
    lo, hi = PRIOR_SCALE
    q_lo, q_hi = np.quantile(vals, [0.01, 0.99])
    width = hi - lo
    if q_lo >= lo - width / 2 and q_hi <= hi + width / 2:
        return None
    return (
        f"{name!r} lies at {vals.min():g}..{vals.max():g}, but the priors assume ratings on the {lo:g}..{hi:g} scale; "
        "declare the rating's range in the diary mapping (range = [lowest, highest]; load_diary then rescales it) "
        "or rescale it with asem_bayes.data.rescale_ratings, else the priors pull the estimates toward the wrong scale"
    )


def _check_var(ds: xr.Dataset, name: str, expected: tuple[str, ...]) -> xr.DataArray:
    x = ds[name]
    if set(x.dims) != set(expected):
        raise DataError(f"variable {name!r} has dims {x.dims}; expected {expected}")
    x = x.transpose(*expected)
    try:
        x = x.astype(float)
    except (TypeError, ValueError) as err:
        raise DataError(f"variable {name!r} is not numeric: {err}") from None
    if np.isinf(x.values).any():
        raise DataError(f"variable {name!r} has an infinite value at {_where(np.isinf(x.values), expected, ds)}")
    return x


def _event_values(data: xr.Dataset, name: str, joint: bool, shared_events: SharedEventPolicy) -> np.ndarray:
    """One event's checked values, ``(dyad, person, day)`` with NaN where not reported.

    A shared event reported by each partner becomes the couple's one value per dyad-day by the
    policy ``shared_events``, the same one :func:`asem_bayes.study.from_long` applies.
    """
    expected = D.DYAD_DAY_DIMS if D.PERSON not in data[name].dims else D.PERSON_DAY_DIMS
    if name in D.PERSON_EVENTS:
        expected = D.PERSON_DAY_DIMS
    x = _check_var(data, name, expected).values
    if x.ndim == 3 and name in D.DYAD_EVENTS:
        try:
            x = combine_partner_reports(x, shared_events, name=name, dyads=data[D.DYAD].values, days=data[D.DAY].values)
        except ValueError as err:
            raise DataError(str(err)) from None
    if x.ndim == 2:
        x = np.repeat(x[:, None, :], 2, axis=1)
    finite = x[~np.isnan(x)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        bad = ~np.isnan(x) & ((x < 0) | (x > 1))
        raise DataError(
            f"event {name!r} must lie in [0, 1]; found {x[bad][0]!r} at {_where(bad, D.PERSON_DAY_DIMS, data)}"
        )
    if joint and finite.size and not np.isin(finite, (0.0, 1.0)).all():
        bad = ~np.isnan(x) & ~np.isin(x, (0.0, 1.0))
        raise DataError(
            f"joint mode scores events as 0/1; {name!r} has {x[bad][0]!r} at {_where(bad, D.PERSON_DAY_DIMS, data)}"
        )
    return x


def _rate(x: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Each person's mean reported value (over the days ``where`` holds), 0 if there is none."""
    if where is not None:
        x = np.where(where, x, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a person without reports has no rate
        rate = np.nanmean(x, axis=-1, keepdims=True)
    return np.nan_to_num(rate, nan=0.0)


def _person_rate_fill(name: str, x: np.ndarray, threat: np.ndarray, threat_filled: np.ndarray | None) -> np.ndarray:
    """Expected values of ``x`` (dyad, person, day) on its missing days, given the day's threat.

    ``threat`` is the reported threat (dyad, person, day; NaN where missing), ``threat_filled``
    the dynamics' threat after its own fill (day, dyad, person).

    Buffering (``safe``, ``soft``) only happens on threat days: on a day with a reported threat
    of 0 it is 0; on a reported threat day it is the person's rate among reported threat days;
    where the threat is missing too it is ``P(threat) * P(buffering | threat)``, with
    ``P(threat)`` the threat's own imputed value (the couple's threat rate).
    """
    if name not in BUFFERING:
        return np.broadcast_to(_rate(x), x.shape)
    on_threat = threat > 0  # False where the threat is missing
    given_threat = _rate(x, on_threat)
    expected = threat_filled.transpose(1, 2, 0) * given_threat
    return np.where(np.isnan(threat), expected, np.where(on_threat, given_threat, 0.0))


def _fill_missing(
    data: xr.Dataset,
    name: str,
    x: np.ndarray,
    policy: str,
    threat: np.ndarray,
    threat_filled: np.ndarray | None,
    inside: np.ndarray,
) -> tuple[np.ndarray, str | None]:
    """``x`` (dyad, person, day) with its missing values inside the couples' diaries filled by
    ``policy``, and 0 outside them (no events, so the working models stay put); and a note."""
    outside = ~inside[:, None, :]
    nan = np.isnan(x) & ~outside
    if not nan.any():
        return np.where(outside, 0.0, x), None
    if policy == "error":
        raise DataError(
            f"event {name!r} is missing on {int(nan.sum())} person-day(s), first at "
            f"{_where(nan, D.PERSON_DAY_DIMS, data)}; choose a policy for missing event reports: "
            "'absent' (a missed report means the event did not happen) or 'person_rate' (the person's own "
            "rate), as missing_events='absent' in Python or --missing-events absent on the command line "
            "(docs/model.md section 10)"
        )
    fill = np.zeros_like(x) if policy == "absent" else _person_rate_fill(name, x, threat, threat_filled)
    how = " (buffering: given the day's threat)" if name in BUFFERING and policy == "person_rate" else ""
    x = np.where(outside, 0.0, np.where(nan, fill, x))
    return x, f"{int(nan.sum())} missing {name!r} report(s) filled by policy {policy!r}{how}"


def prepare_inputs(
    data: xr.Dataset,
    *,
    joint: bool = False,
    missing_events: str = "error",
    shared_events: SharedEventPolicy = "error",
) -> ModelInputs:
    """Validate a study and build the model's arrays.

    Parameters
    ----------
    data : xarray.Dataset
        A study with dims ``dyad``, ``person`` (size 2), ``day`` and optionally ``wave``.
    joint : bool
        Whether the events will be scored too (they must then be binary).
    missing_events : {"error", "absent", "person_rate"}
        Missing event reports (e.g. on missed days): raise (default), treat the event as not
        having happened, or use the person's observed rate of that event as an intensity.
        Buffering (``safe``, ``soft``) is imputed given the day's threat: 0 without a threat, the
        person's rate among threat days with one, ``P(threat) * P(buffering | threat)`` where
        the threat is missing too.
    shared_events : {"error", "first", "either", "both", "mean"}
        A shared event (``threat``, ``dependence``) given with a ``person`` dim holds each
        partner's report; where both reported it and they differ, this policy makes the couple's
        one value (see :func:`asem_bayes.study.combine_partner_reports`). That value drives
        both partners' dynamics and, in the joint mode, is scored once per dyad-day (in person
        0's cell).

    Raises
    ------
    DataError
        Naming the variable, and the dyad/person/day at fault.
    """
    if not isinstance(data, xr.Dataset):
        raise DataError(f"expected an xarray.Dataset study, got {type(data).__name__}; see asem_bayes.from_long")
    if missing_events not in MISSING_EVENT_POLICIES:
        raise DataError(f"missing_events must be one of {MISSING_EVENT_POLICIES}, got {missing_events!r}")
    if shared_events not in SHARED_EVENT_POLICIES:
        raise DataError(f"shared_events must be one of {SHARED_EVENT_POLICIES}, got {shared_events!r}")
    for d in (D.DYAD, D.PERSON, D.DAY):
        if d not in data.dims:
            raise DataError(f"study lacks the dim {d!r} (dims: {tuple(data.dims)})")
    if data.sizes[D.PERSON] != 2:
        raise DataError(f"dim 'person' must have size 2 (both partners), got {data.sizes[D.PERSON]}")
    n_dyads, n_days = data.sizes[D.DYAD], data.sizes[D.DAY]
    if n_days < 2:
        raise DataError(f"need at least 2 diary days, got {n_days}")
    likert = int(data.attrs.get("likert", 0) or 0)

    present_events = tuple(e for e in D.EVENTS if e in data)
    if "threat" not in present_events:
        raise DataError("study has no 'threat' variable: the insecurity-triggering situations are required")
    notes: list[str] = []
    in_diary = diary_days(data).values
    short = int((~in_diary.all(axis=1)).sum())
    if short:
        notes.append(
            f"{short} couple(s) report on fewer days than the study spans: their days before the first and "
            "after the last report carry no events (the working models stay put) and nothing is scored there"
        )
    events: dict[str, np.ndarray] = {}
    reported: dict[str, np.ndarray] = {}  # (dyad, person, day) as reported, NaN where missing
    for name in D.EVENTS:
        if name not in data:
            notes.append(f"no {name!r} events in the data: the model treats them as never happening")
            events[name] = np.zeros((n_days, n_dyads, 2))
            continue
        x = _event_values(data, name, joint, shared_events)
        reported[name] = x
        x, note = _fill_missing(data, name, x, missing_events, reported["threat"], events.get("threat"), in_diary)
        if note:
            notes.append(note)
        events[name] = np.ascontiguousarray(x.transpose(2, 0, 1))

    obs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    present_ratings = []
    for name in D.DAILY_RATINGS:
        if name not in data:
            notes.append(f"no {name!r} ratings in the data")
            continue
        y = _check_var(data, name, D.PERSON_DAY_DIMS).values.reshape(-1)
        keep = np.flatnonzero(~np.isnan(y))
        if likert:
            vals = y[keep]
            bad = (vals < 1) | (vals > likert) | (vals != np.round(vals))
            if bad.any():
                flat = np.zeros(y.shape, bool)
                flat[keep[bad]] = True
                raise DataError(
                    f"{name!r} must be an integer 1..{likert} on this Likert scale; found {vals[bad][0]!r} at "
                    f"{_where(flat.reshape(n_dyads, 2, n_days), D.PERSON_DAY_DIMS, data)}"
                )
        obs[name] = (keep.astype(np.int64), y[keep])
        present_ratings.append(name)

    wave_pos = wave_positions(data)
    if (wave_pos < 0).any():
        raise DataError(f"wave_day values {data['wave_day'].values[wave_pos < 0]} are not days of the study")
    for name in D.TRAITS:
        if name not in data:
            continue
        if D.WAVE not in data.dims:
            raise DataError(f"{name!r} needs the dim 'wave' and the coord 'wave_day'")
        y = _check_var(data, name, D.PERSON_WAVE_DIMS).values
        flat = (np.arange(n_dyads)[:, None, None] * 2 + np.arange(2)[None, :, None]) * n_days + wave_pos[None, None, :]
        keep = ~np.isnan(y)
        obs[name] = (flat[keep].astype(np.int64), y[keep])
        present_ratings.append(name)
    if not obs:
        raise DataError("study has no ratings (state_anxiety, state_avoidance, trait_anxiety, trait_avoidance)")
    for name in present_ratings:
        note = off_scale_note(data, name)
        if note:
            notes.append(note)
            warnings.warn(note, UserWarning, stacklevel=2)

    if joint:
        ev_pd = {k: v.transpose(1, 2, 0) for k, v in events.items()}  # (dyad, person, day)
        for name in present_events:
            observed = ~np.isnan(reported[name])
            if name in BUFFERING:
                observed &= reported["threat"] == 1  # buffering is scored only on reported threat days
            if name in D.DYAD_EVENTS:
                observed[:, 1, :] = False  # a shared event is scored once per dyad-day
            flat = np.flatnonzero(observed.reshape(-1))
            obs[f"event_{name}"] = (flat.astype(np.int64), ev_pd[name].reshape(-1)[flat])

    coords = {D.DYAD: data[D.DYAD].values, D.PERSON: data[D.PERSON].values, D.DAY: data[D.DAY].values}
    return ModelInputs(
        n_dyads=n_dyads,
        n_days=n_days,
        likert=likert,
        events=events,
        obs=obs,
        present_events=present_events,
        present_ratings=tuple(present_ratings),
        coords=coords,
        wave_pos=wave_pos,
        notes=notes,
        in_diary=in_diary,
    )
