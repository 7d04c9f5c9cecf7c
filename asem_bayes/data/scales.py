"""Scales: the declared transforms of a column, the Likert scale of the daily ratings, and the
linear move of ratings and trait scores onto the 1..7 scale the priors assume."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.data.errors import DiaryError
from asem_bayes.data.mapping import ColumnSpec, DiaryMapping
from asem_bayes.data.report import LoadReport
from asem_bayes.inputs import PRIOR_SCALE

__all__ = ["apply_transform", "ordinal_likert", "rating_scales", "rescale_ratings", "to_prior_scale"]


def apply_transform(spec: ColumnSpec, x: np.ndarray) -> np.ndarray:
    """Reverse-score, turn into an event, offset (in that order)."""
    lo, hi = spec.range or (0.0, 1.0)
    if spec.reverse:
        x = lo + hi - x
    if spec.to == "intensity":
        x = (x - lo) / (hi - lo)
    elif spec.to == "binary":
        x = np.where(np.isnan(x), np.nan, (x >= spec.threshold).astype(float))
    if spec.offset:
        x = x + spec.offset
    return x


def rescale_ratings(ds: xr.Dataset, ranges: Mapping[str, tuple[float, float]]) -> xr.Dataset:
    """Ratings declared on another scale, moved linearly onto the scale the priors assume.

    The observation model's priors (``c_A_mu ~ Normal(4, 1)``, ``k_V ~ LogNormal(0.4, 0.3)``,
    ...) assume ratings and trait scores on :data:`asem_bayes.inputs.PRIOR_SCALE` (1..7). A
    rating on ``lo..hi`` becomes ``1 + 6 * (x - lo) / (hi - lo)``, so its lowest and highest
    possible values map to 1 and 7 and every estimate keeps the meaning it has on a 1..7 scale.
    :func:`load_diary` calls this for each rating or trait whose mapping declares a ``range``.

    Parameters
    ----------
    ds : xarray.Dataset
        A study (e.g. from :func:`asem_bayes.from_long`).
    ranges : mapping of str to (float, float)
        Rating or trait name to the lowest and highest possible value of its scale.

    Returns
    -------
    xarray.Dataset
        A copy with the rescaled variables (``attrs["rescaled_from"]`` holds the declared range)
        and ``attrs["rating_scales"]`` (see :func:`rating_scales`) recording every rating's scale.
    """
    out = ds.copy()
    lo_p, hi_p = PRIOR_SCALE
    for name, (lo, hi) in ranges.items():
        if name not in D.DAILY_RATINGS + D.TRAITS or name not in out:
            raise DiaryError(f"{name!r} is not a rating or trait score of this study")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise DiaryError(f"the range of {name!r} must be finite with lowest < highest, got {(lo, hi)}")
        if (float(lo), float(hi)) == PRIOR_SCALE:  # declared on the priors' scale: kept as read
            out[name] = out[name].assign_attrs(declared_range=[float(lo), float(hi)])
            continue
        x = out[name]
        out[name] = (lo_p + (hi_p - lo_p) * (x - lo) / (hi - lo)).assign_attrs(
            {**x.attrs, "rescaled_from": [float(lo), float(hi)]}
        )
    out.attrs["rating_scales"] = json.dumps(rating_scales(out))
    return out


def rating_scales(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """How each rating and trait score of a study relates to the scale the priors assume.

    Returns
    -------
    dict
        Name to ``{"fitted_on": [1, 7], "declared": [lo, hi] or None, "rescaled": bool,
        "units_per_point": (hi - lo) / 6 or None}``: one point on the fitted scale is
        ``units_per_point`` units of the original one.
    """
    lo_p, hi_p = PRIOR_SCALE
    out: dict[str, dict[str, Any]] = {}
    for name in D.DAILY_RATINGS + D.TRAITS:
        if name not in ds:
            continue
        declared = ds[name].attrs.get("rescaled_from")
        rec: dict[str, Any] = {"fitted_on": [lo_p, hi_p], "declared": None, "rescaled": declared is not None}
        if declared is None and "declared_range" in ds[name].attrs:
            rec["declared"] = [float(v) for v in np.asarray(ds[name].attrs["declared_range"]).reshape(-1)]
        if declared is not None:
            lo, hi = (float(v) for v in np.asarray(declared).reshape(-1))
            rec.update(declared=[lo, hi], units_per_point=(hi - lo) / (hi_p - lo_p))
        elif name in D.DAILY_RATINGS and int(ds.attrs.get("likert", 0) or 0):
            rec.update(fitted_on=[1.0, float(ds.attrs["likert"])], likert=int(ds.attrs["likert"]))
        out[name] = rec
    return out


def to_prior_scale(ds: xr.Dataset, m: DiaryMapping, likert: int, report: LoadReport) -> xr.Dataset:
    """Rescale the ratings whose mapping declares a range to the priors' scale; say so in the report."""
    lo_p, hi_p = PRIOR_SCALE
    rated = [k for k in m.columns if k in D.DAILY_RATINGS + D.TRAITS and not (likert and k in D.DAILY_RATINGS)]
    declared = {k: m.columns[k] for k in rated if m.columns[k].range is not None and not m.columns[k].to}
    # the range is the raw values'; an offset (added when read) moves it along
    ranges = {k: (s.range[0] + s.offset, s.range[1] + s.offset) for k, s in declared.items()}  # type: ignore[index]
    ds = rescale_ratings(ds, ranges)
    for k, (lo, hi) in ranges.items():
        if (lo, hi) != PRIOR_SCALE:
            report.notes.append(
                f"{k} rescaled from its declared {lo:g}..{hi:g} to the priors' {lo_p:g}..{hi_p:g} scale: "
                f"1 + {hi_p - lo_p:g} * (x - {lo:g}) / {hi - lo:g} (estimates are in 1..7 points; one point is "
                f"{(hi - lo) / (hi_p - lo_p):.4g} of the original units)"
            )
    undeclared = [k for k in rated if k not in ranges]
    if undeclared:
        report.notes.append(
            f"no range declared for {', '.join(undeclared)}: used as read; the priors assume the "
            f"{lo_p:g}..{hi_p:g} scale (declare range = [lowest, highest] to rescale)"
        )
    if likert and likert != int(hi_p - lo_p + 1) and any(k in m.columns for k in D.DAILY_RATINGS):
        report.notes.append(
            f"daily ratings kept on their 1..{likert} Likert categories (ordinal); the priors assume 7 points, so "
            "set ordinal = false to fit them rescaled to 1..7 as continuous ratings"
        )
    return ds


def ordinal_likert(values: dict[str, np.ndarray], m: DiaryMapping, report: LoadReport) -> int:
    """K when the daily ratings are fitted as ordinal 1..K Likert categories, else 0.

    Ordinal when every daily rating is declared ``likert`` on one common range (no transform,
    no offset) and the mapping does not set ``ordinal = false``; ratings on ``lo..hi`` with
    ``lo != 1`` are shifted to ``1..K`` in ``values``. ``ordinal = true`` without one common
    Likert scale raises.
    """
    daily = [k for k in D.DAILY_RATINGS if k in m.columns]
    likert = 0
    ordinal_ok = [
        k for k in daily if m.columns[k].scale == "likert" and not m.columns[k].to and not m.columns[k].offset
    ]
    lik = {m.columns[k].range for k in ordinal_ok}
    if daily and m.ordinal is not False and len(lik) == 1 and len(ordinal_ok) == len(daily):
        lo_r, hi_r = next(iter(lik))  # type: ignore[misc]
        likert = int(round(hi_r - lo_r)) + 1
        if lo_r != 1:
            report.notes.append(
                f"daily ratings shifted from {lo_r:g}..{hi_r:g} to 1..{likert} for the ordinal likelihood"
            )
            for k in daily:
                values[k] = values[k] - lo_r + 1
    elif m.ordinal and daily:
        raise DiaryError(
            "ordinal = true needs every daily rating on one common Likert scale (scale = 'likert', same range)",
            source=m.source,
        )
    return likert
