"""Load real diary files into a study Dataset: column mapping, validation and a load report.

Real studies name their columns their own way, store the data in one of three layouts, code
missing values as ``.``, blanks or ``999``, and hold only some of the ASEM constructs
(docs/model.md section 12). :func:`load_diary` reads such a file with a :class:`DiaryMapping` (a
dict, or a TOML/YAML/JSON file), validates every mapped value against its declared scale, and
returns the observed part of a study in exactly the layout :func:`asem_bayes.simulate` gives
(built by :func:`asem_bayes.simulate.from_long`, so loaded and simulated data share one path).

Layouts
-------
``long``
    One row per person-day: ``dyad``, ``person``, ``day`` and one column per construct.
``pairwise``
    One row per person-day with the actor's (``_A``) and the partner's (``_P``) values. The
    mapping names the actor column; an optional ``partner_column`` is checked against the
    partner's own row and fills person-days the partner's own row lacks.
``dyad_wide``
    One row per dyad-day with both partners' columns, e.g. ``M_anx`` and ``W_anx``; the
    mapping's ``roles`` (``["M_", "W_"]`` prefixes or ``["{}_m", "{}_w"]`` templates) say how.

Nothing is dropped silently: rows or dyads set aside (empty rows, dyads with one partner) are
counted in the :class:`LoadReport`, which is attached to the Dataset as ``attrs["load_report"]``.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.inputs import PRIOR_SCALE, DataError, diary_days
from asem_bayes.simulate import (
    SHARED_EVENT_MEANINGS,
    SHARED_EVENT_POLICIES,
    SharedEventPolicy,
    combine_partner_reports,
    from_long,
    partner_disagreements,
)

__all__ = [
    "CONSTRUCTS",
    "LAYOUTS",
    "SCALES",
    "ColumnSpec",
    "DiaryError",
    "DiaryMapping",
    "LoadReport",
    "load_diary",
    "read_mapping",
    "rescale_ratings",
    "rating_scales",
]

CONSTRUCTS: tuple[str, ...] = D.EVENTS + D.DAILY_RATINGS + D.TRAITS
ID_KEYS: tuple[str, ...] = (D.DYAD, D.PERSON, D.DAY)
LAYOUTS: tuple[str, ...] = ("long", "pairwise", "dyad_wide", "auto")
SCALES: tuple[str, ...] = ("binary", "intensity", "likert", "continuous")
TRANSFORMS: tuple[str | None, ...] = (None, "intensity", "binary")
# Earlier names of the shared-event policies, still accepted in mappings.
COMBINE_ALIASES: dict[str, SharedEventPolicy] = {"max": "either", "min": "both", "equal": "error"}
SINGLE_PARTNER: tuple[str, ...] = ("drop", "keep")
# Always missing: empty cells and the usual spellings of NA. SPSS's "." or codes such as 999
# must be declared in the mapping (``missing = [".", 999]``) so that a typo is never read as NA.
DEFAULT_MISSING: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan")
MAX_DAYS = 20_000  # a day column spanning more than ~55 years is a coding error, not a study
MAX_CELLS = 50_000_000
_RESERVED = set(CONSTRUCTS) | set(ID_KEYS) | set(D.LATENT) | {D.WAVE, "wave_day", D.WEEK}
_TOP_KEYS = {
    "layout", "ids", "columns", "covariates", "roles", "missing", "sep", "decimal", "encoding",
    "ordinal", "single_partner",
}  # fmt: skip
_SPEC_KEYS = {
    "column", "scale", "range", "reverse", "to", "threshold", "offset", "missing", "partner_column",
    "combine", "constant", "wave_day", "shared",
}  # fmt: skip


class DiaryError(DataError):
    """A diary file or mapping does not fit: names the file, row, column and value at fault.

    Subclass of :class:`asem_bayes.inputs.DataError` (itself a ``ValueError``), so the CLI
    prints it as a one-line error.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: str | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.source, self.row, self.column, self.value = source, row, column, value
        where = [str(source)] if source else []
        if row is not None:
            where.append(str(row))
        if column is not None:
            where.append(f"column {column!r}")
        if value is not None:
            where.append(f"value {value!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=3)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


# --------------------------------------------------------------------------------------------
# the mapping


@dataclass(frozen=True)
class ColumnSpec:
    """How one construct (or covariate) is read from the user's file.

    Parameters
    ----------
    column : str
        The user's column name (the actor's column in the pairwise layout; the part the
        ``roles`` templates complete in the dyad-wide layout).
    scale : {"binary", "intensity", "likert", "continuous"}
        Declared scale of the raw values: 0/1, a number in [0, 1], integers within ``range``,
        or any finite number (within ``range`` when one is given).
    range : (float, float) or None
        Lowest and highest possible raw value (required for ``likert``, ``reverse`` and
        ``to="intensity"`` from a non-[0, 1] scale). A rating or trait score with a range is
        rescaled linearly to the 1..7 scale the priors assume (:func:`rescale_ratings`; not the
        daily ratings fitted as ordinal Likert categories).
    reverse : bool
        Reverse-score: ``lo + hi - x``.
    to : {None, "intensity", "binary"}
        Turn an item into an event: ``(x - lo) / (hi - lo)``, or ``x >= threshold``.
    threshold : float or None
        Threshold for ``to="binary"`` (on the raw scale, after reversal).
    offset : float
        Added last, e.g. to move grand-mean-centred scores onto the scale the priors expect.
    missing : tuple
        Extra missing-value codes for this column (the mapping's global ones also apply).
    partner_column : str or None
        Pairwise layout: the partner's column on the same row (checked and used to fill).
    combine : {"error", "first", "either", "both", "mean"} or None
        Dyad-day events (``threat``, ``dependence``) reported by each partner: how the two
        reports become the couple's one value when they differ (see
        :func:`asem_bayes.simulate.combine_partner_reports`; ``"max"``, ``"min"`` and
        ``"equal"`` are read as ``"either"``, ``"both"`` and ``"error"``). ``None``: the
        ``shared_events`` argument of :func:`load_diary` (default ``"error"``).
    constant : bool
        A trait (or covariate) measured once and repeated on every row: checked to be constant
        per person and kept once, on ``wave_day``.
    wave_day : int, "first" or "last"
        Day label that a ``constant`` trait is placed on (default: the study's first day).
    shared : bool
        Dyad-wide layout: one column for the couple rather than one per partner.
    """

    column: str
    scale: str = "continuous"
    range: tuple[float, float] | None = None
    reverse: bool = False
    to: str | None = None
    threshold: float | None = None
    offset: float = 0.0
    missing: tuple[Any, ...] = ()
    partner_column: str | None = None
    combine: str | None = None
    constant: bool = False
    wave_day: int | str = "first"
    shared: bool = False

    def describe(self) -> str:
        """One line in words, for the load report."""
        words = [self.scale + (f" {self.range[0]:g}..{self.range[1]:g}" if self.range else "")]
        if self.reverse:
            words.append("reverse-scored")
        if self.to == "intensity":
            words.append("-> intensity (x - lo) / (hi - lo)")
        elif self.to == "binary":
            words.append(f"-> event when x >= {self.threshold:g}")
        if self.offset:
            words.append(f"offset {self.offset:+g}")
        if self.constant:
            day = f"the {self.wave_day} day" if isinstance(self.wave_day, str) else f"day {self.wave_day}"
            words.append(f"measured once (constant per person), kept on {day}")
        return ", ".join(words)


def _spec_from(key: str, raw: Any, where: str, is_covariate: bool) -> ColumnSpec:
    """Build and check one :class:`ColumnSpec` from a string or a dict."""
    event = key in D.EVENTS
    if isinstance(raw, str):
        return _check_spec(
            key, ColumnSpec(column=raw, scale="intensity" if event else "continuous"), where, is_covariate
        )
    if isinstance(raw, ColumnSpec):
        return _check_spec(key, raw, where, is_covariate)
    if not isinstance(raw, Mapping):
        raise DiaryError(
            f"the entry for {key!r} must be a column name or a table of settings, got {raw!r}", source=where
        )
    unknown = sorted(set(raw) - _SPEC_KEYS)
    if unknown:
        raise DiaryError(
            f"unknown setting(s) {unknown} for {key!r}{_suggest(unknown[0], sorted(_SPEC_KEYS))} "
            f"(known: {sorted(_SPEC_KEYS)})",
            source=where,
        )
    if "column" not in raw:
        raise DiaryError(f"the entry for {key!r} needs 'column' (the name in your file)", source=where)
    kw = dict(raw)
    kw.setdefault("scale", "intensity" if event and "to" not in kw else "continuous")
    if kw.get("range") is not None:
        rng = kw["range"]
        if not (isinstance(rng, Sequence) and not isinstance(rng, str) and len(rng) == 2):
            raise DiaryError(f"'range' of {key!r} must be [lowest, highest], got {rng!r}", source=where)
        try:
            kw["range"] = (float(rng[0]), float(rng[1]))
        except (TypeError, ValueError):
            raise DiaryError(f"'range' of {key!r} must hold two numbers, got {rng!r}", source=where) from None
    if "missing" in kw:
        m = kw["missing"]
        kw["missing"] = tuple(m) if isinstance(m, Sequence) and not isinstance(m, str) else (m,)
    for name in ("threshold", "offset"):
        if kw.get(name) is not None:
            try:
                kw[name] = float(kw[name])
            except (TypeError, ValueError):
                raise DiaryError(f"{name!r} of {key!r} must be a number, got {kw[name]!r}", source=where) from None
    for name in ("column", "partner_column"):
        if kw.get(name) is not None:
            kw[name] = str(kw[name])
    return _check_spec(key, ColumnSpec(**kw), where, is_covariate)


def _check_spec(key: str, s: ColumnSpec, where: str, is_covariate: bool) -> ColumnSpec:
    def bad(msg: str) -> DiaryError:
        return DiaryError(f"{key!r}: {msg}", source=where)

    if s.scale not in SCALES:
        raise bad(f"scale must be one of {SCALES}, got {s.scale!r}{_suggest(s.scale, SCALES)}")
    if s.to not in TRANSFORMS:
        raise bad(f"'to' must be 'intensity' or 'binary', got {s.to!r}")
    if s.range is not None:
        lo, hi = s.range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise bad(f"range must be finite with lowest < highest, got {s.range}")
    if s.scale == "likert" and s.range is None:
        raise bad("a Likert scale needs its range, e.g. range = [1, 7]")
    lo_hi = s.range or ((0.0, 1.0) if s.scale in ("binary", "intensity") else None)
    if s.reverse and lo_hi is None:
        raise bad("reverse scoring needs the scale's range, e.g. range = [1, 7]")
    if s.to == "intensity" and lo_hi is None:
        raise bad("to = 'intensity' needs the scale's range, e.g. range = [1, 7]")
    if s.to == "binary" and s.threshold is None:
        raise bad("to = 'binary' needs a threshold (events are the days with x >= threshold)")
    if s.combine in COMBINE_ALIASES:
        s = replace(s, combine=COMBINE_ALIASES[s.combine])
    if s.combine is not None and s.combine not in SHARED_EVENT_POLICIES:
        hint = _suggest(str(s.combine), SHARED_EVENT_POLICIES)
        raise bad(f"combine must be one of {SHARED_EVENT_POLICIES}, got {s.combine!r}{hint}")
    if not isinstance(s.wave_day, int | str) or (isinstance(s.wave_day, str) and s.wave_day not in ("first", "last")):
        raise bad(f"wave_day must be a day label (integer), 'first' or 'last', got {s.wave_day!r}")
    if s.constant and not (key in D.TRAITS or is_covariate):
        raise bad("'constant' is for traits and covariates measured once")
    if key in D.EVENTS and not is_covariate:
        # Events enter the dynamics as 0/1 or an intensity in [0, 1].
        final = (0.0, 1.0) if s.to else (lo_hi if s.scale != "continuous" or s.range else None)
        if s.offset or final is None or final[0] < 0 or final[1] > 1:
            raise bad(
                f"events must be 0/1 or an intensity in [0, 1]; declare scale = 'binary' or 'intensity', or turn the "
                f"{s.scale} item into an event with to = 'intensity' (and its range) or to = 'binary' (and a threshold)"
            )
    return s


@dataclass(frozen=True)
class DiaryMapping:
    """A user's column names mapped to the constructs of docs/model.md section 12.

    Parameters
    ----------
    ids : dict
        Columns holding the ``dyad``, ``person`` (not in the dyad-wide layout) and ``day``.
    columns : dict of ColumnSpec
        Construct name (``threat``, ``safe``, ``soft``, ``confidence``, ``dependence``,
        ``state_anxiety``, ``state_avoidance``, ``trait_anxiety``, ``trait_avoidance``) to its
        column; constructs not listed are absent (the model is built from what the data hold).
    covariates : dict of ColumnSpec
        Further per-person-day columns kept as Dataset variables with ``role="covariate"``
        (e.g. each partner's own conflict report for the APIM baseline).
    layout : {"long", "pairwise", "dyad_wide", "auto"}
    roles : (str, str) or None
        Dyad-wide layout: column templates of person 0 and person 1 (``"M_"`` is read as the
        prefix template ``"M_{}"``).
    missing : tuple
        Missing-value codes for every column, added to :data:`DEFAULT_MISSING`.
    sep, decimal, encoding : str or None
        CSV reading; ``None`` sniffs the separator, accepts a decimal comma, and tries UTF-8
        then Latin-1.
    ordinal : bool or None
        Whether daily ratings on one common Likert scale are modelled as ordinal (ordered
        logistic; the default when they are) or as continuous.
    single_partner : {"drop", "keep"}
        Dyads with only one partner in the file: set aside (counted in the report) or kept with
        the partner's values all missing.
    """

    ids: Mapping[str, str] = field(default_factory=lambda: {k: k for k in ID_KEYS})
    columns: Mapping[str, ColumnSpec] = field(default_factory=dict)
    covariates: Mapping[str, ColumnSpec] = field(default_factory=dict)
    layout: str = "auto"
    roles: tuple[str, str] | None = None
    missing: tuple[Any, ...] = ()
    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    ordinal: bool | None = None
    single_partner: str = "drop"
    source: str = "<mapping>"

    def resolved_layout(self) -> str:
        """The layout, with ``auto`` decided from the mapping."""
        if self.layout != "auto":
            return self.layout
        if self.roles is not None:
            return "dyad_wide"
        specs = list(self.columns.values()) + list(self.covariates.values())
        return "pairwise" if any(s.partner_column for s in specs) else "long"

    def role_templates(self) -> tuple[str, str]:
        if self.roles is None:
            raise DiaryError("the dyad-wide layout needs 'roles', e.g. roles = ['M_', 'W_']", source=self.source)
        return tuple(r if "{}" in r else r + "{}" for r in self.roles)  # type: ignore[return-value]


def read_mapping(mapping: DiaryMapping | Mapping[str, Any] | str | Path | None) -> DiaryMapping:
    """A :class:`DiaryMapping` from a dict, a TOML/YAML/JSON file, or ``None``.

    ``None`` means the default names of docs/model.md section 12 (a long table such as
    :func:`asem_bayes.to_long` writes); the constructs are those the table holds.

    Accepted dict forms: sections ``ids``, ``columns`` and ``covariates`` plus top-level
    settings (see :class:`DiaryMapping`); a flat ``{"dyad": "couple", "threat": "conflict"}``;
    or the inverse ``{"couple": "dyad", "conflict": "threat"}`` (user name to construct).

    Raises
    ------
    DiaryError
        Unknown constructs or settings, bad scale declarations, unreadable files.
    """
    if isinstance(mapping, DiaryMapping):
        return mapping
    source = "<mapping>"
    if mapping is None:
        return DiaryMapping(source="<default names>")
    if isinstance(mapping, str | Path):
        path = Path(mapping)
        source = str(path)
        if not path.is_file():
            raise DiaryError("mapping file not found", source=source)
        text = path.read_text(encoding="utf-8-sig")
        try:
            if path.suffix.lower() == ".toml":
                raw: Any = tomllib.loads(text)
            elif path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                raw = yaml.safe_load(text)
            elif path.suffix.lower() == ".json":
                raw = json.loads(text)
            else:
                raise DiaryError("mapping files must end in .toml, .yaml, .yml or .json", source=source)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as err:
            if isinstance(err, DiaryError):
                raise
            raise DiaryError(f"cannot parse the mapping: {err}", source=source) from None
        except Exception as err:  # yaml.YAMLError and friends
            raise DiaryError(f"cannot parse the mapping: {err}", source=source) from None
        mapping = raw
    if not isinstance(mapping, Mapping):
        raise DiaryError(f"a mapping must be a table of settings, got {type(mapping).__name__}", source=source)
    m = {str(k): v for k, v in mapping.items()}
    known = _TOP_KEYS | set(CONSTRUCTS) | set(ID_KEYS)
    if m and not set(m) & known and all(isinstance(v, str) and v in set(CONSTRUCTS) | set(ID_KEYS) for v in m.values()):
        inv: dict[str, str] = {}
        for user, construct in m.items():
            if construct in inv:
                raise DiaryError(f"columns {inv[construct]!r} and {user!r} both map to {construct!r}", source=source)
            inv[construct] = user
        m = inv
    unknown = sorted(set(m) - known)
    if unknown:
        raise DiaryError(
            f"unknown construct or setting {unknown[0]!r}{_suggest(unknown[0], sorted(known))}; constructs are "
            f"{list(CONSTRUCTS)}, ids {list(ID_KEYS)}, settings {sorted(_TOP_KEYS)}",
            source=source,
        )
    ids = {k: k for k in ID_KEYS}
    sec_ids = m.get("ids", {}) or {}
    if not isinstance(sec_ids, Mapping):
        raise DiaryError(
            f"'ids' must be a table like {{dyad = 'couple', person = 'pid', day = 'day'}}, got {sec_ids!r}",
            source=source,
        )
    for k, v in {**sec_ids, **{k: m[k] for k in ID_KEYS if k in m}}.items():
        if k not in ID_KEYS:
            raise DiaryError(f"unknown id {k!r} in 'ids'{_suggest(k, ID_KEYS)}; ids are {list(ID_KEYS)}", source=source)
        if not isinstance(v, str | int):
            raise DiaryError(f"the id {k!r} must name a column, got {v!r}", source=source)
        ids[k] = str(v)
    sec_cols = m.get("columns", {}) or {}
    if not isinstance(sec_cols, Mapping):
        raise DiaryError(f"'columns' must be a table of constructs, got {sec_cols!r}", source=source)
    columns: dict[str, ColumnSpec] = {}
    for k, v in {**sec_cols, **{k: m[k] for k in CONSTRUCTS if k in m}}.items():
        if k not in CONSTRUCTS:
            raise DiaryError(
                f"unknown construct {k!r}{_suggest(k, CONSTRUCTS)}; constructs are {list(CONSTRUCTS)}", source=source
            )
        columns[k] = _spec_from(k, v, source, is_covariate=False)
    covariates: dict[str, ColumnSpec] = {}
    sec_cov = m.get("covariates", {}) or {}
    if not isinstance(sec_cov, Mapping):
        raise DiaryError(f"'covariates' must be a table, got {sec_cov!r}", source=source)
    for k, v in sec_cov.items():
        k = str(k)
        if not k.isidentifier() or k in _RESERVED:
            raise DiaryError(
                f"covariate name {k!r} must be an identifier other than {sorted(_RESERVED)}", source=source
            )
        covariates[k] = _spec_from(k, v, source, is_covariate=True)
    kw: dict[str, Any] = {}
    layout = m.get("layout", "auto")
    if layout not in LAYOUTS:
        raise DiaryError(
            f"layout must be one of {LAYOUTS}, got {layout!r}{_suggest(str(layout), LAYOUTS)}", source=source
        )
    kw["layout"] = layout
    if m.get("roles") is not None:
        r = m["roles"]
        if not (
            isinstance(r, Sequence)
            and not isinstance(r, str)
            and len(r) == 2
            and all(isinstance(x, str) and x for x in r)
        ):
            raise DiaryError(
                f"'roles' must be two column prefixes or templates, e.g. ['M_', 'W_'], got {r!r}", source=source
            )
        if r[0] == r[1]:
            raise DiaryError(f"the two 'roles' must differ, got {r!r}", source=source)
        kw["roles"] = (r[0], r[1])
    if "missing" in m:
        mm = m["missing"]
        kw["missing"] = tuple(mm) if isinstance(mm, Sequence) and not isinstance(mm, str) else (mm,)
    for k in ("sep", "decimal", "encoding"):
        if m.get(k) is not None:
            if not isinstance(m[k], str) or not m[k]:
                raise DiaryError(f"{k!r} must be a non-empty string, got {m[k]!r}", source=source)
            kw[k] = m[k]
    if kw.get("decimal") not in (None, ".", ","):
        raise DiaryError(f"decimal must be '.' or ',', got {kw['decimal']!r}", source=source)
    if m.get("ordinal") is not None:
        if not isinstance(m["ordinal"], bool):
            raise DiaryError(f"'ordinal' must be true or false, got {m['ordinal']!r}", source=source)
        kw["ordinal"] = m["ordinal"]
    if "single_partner" in m:
        if m["single_partner"] not in SINGLE_PARTNER:
            raise DiaryError(
                f"single_partner must be one of {SINGLE_PARTNER}, got {m['single_partner']!r}", source=source
            )
        kw["single_partner"] = m["single_partner"]
    return DiaryMapping(ids=ids, columns=columns, covariates=covariates, source=source, **kw)


# --------------------------------------------------------------------------------------------
# the report


@dataclass
class LoadReport:
    """What :func:`load_diary` read, kept, set aside and filled in; ``print`` it."""

    source: str
    layout: str
    n_rows: int = 0
    n_dyads: int = 0
    n_days: int = 0
    days: tuple[Any, Any] | None = None
    likert: int = 0
    constructs: dict[str, str] = field(default_factory=dict)
    covariates: dict[str, str] = field(default_factory=dict)
    absent_constructs: list[str] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)
    empty_rows: int = 0
    set_aside: dict[str, dict[str, Any]] = field(default_factory=dict)
    absent_person_days: int = 0
    missing_codes_seen: dict[str, int] = field(default_factory=dict)
    missing: dict[str, tuple[int, int]] = field(default_factory=dict)
    filled_from_partner: dict[str, int] = field(default_factory=dict)
    shared_events: dict[str, str] = field(default_factory=dict)
    partner_disagreements: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n_set_aside_rows(self) -> int:
        return int(sum(v["rows"] for v in self.set_aside.values())) + self.empty_rows

    def as_dict(self) -> dict[str, Any]:
        """Plain-Python copy (JSON-serialisable)."""
        return json.loads(json.dumps(self.__dict__, default=lambda x: x.item() if hasattr(x, "item") else str(x)))

    def __str__(self) -> str:
        lines = [f"Diary {self.source} ({self.layout} layout): {self.n_rows} row(s) read"]
        if self.days is not None:
            lines.append(
                f"  study: {self.n_dyads} dyad(s) x 2 persons x {self.n_days} day(s) "
                f"(days {self.days[0]}..{self.days[1]})"
            )
        if self.likert:
            lines.append(f"  daily ratings on a 1..{self.likert} Likert scale (ordered-logistic likelihood)")
        for k, d in self.constructs.items():
            lines.append(f"  {k:<16} <- {d}")
        for k, d in self.covariates.items():
            lines.append(f"  covariate {k:<6} <- {d}")
        if self.absent_constructs:
            lines.append(f"  not in the data: {', '.join(self.absent_constructs)}")
        lines.append(f"  set aside: {self.n_set_aside_rows} row(s)")
        if self.empty_rows:
            lines.append(f"    {self.empty_rows} empty row(s)")
        for what, d in self.set_aside.items():
            ids = ", ".join(map(str, d["ids"][:10])) + (" ..." if len(d["ids"]) > 10 else "")
            lines.append(f"    {what}: {len(d['ids'])} ({d['rows']} row(s)): {ids}")
        if self.absent_person_days:
            lines.append(f"  person-days absent from the file (kept as missing): {self.absent_person_days}")
        for k, (n_miss, n_all) in self.missing.items():
            if n_miss:
                lines.append(f"  missing {k}: {n_miss} of {n_all}")
        for k, n in self.missing_codes_seen.items():
            lines.append(f"  missing-value codes read as missing in {k!r}: {n}")
        for k, n in self.filled_from_partner.items():
            lines.append(f"  {k}: {n} value(s) taken from the partner's row")
        for k, policy in self.shared_events.items():
            lines.append(
                f"  {k}: shared event, partners' reports combined by {policy!r} "
                f"({SHARED_EVENT_MEANINGS[policy]}); they differ on {self.partner_disagreements.get(k, 0)} dyad-day(s)"
            )
        if self.unused_columns:
            lines.append(f"  columns not used: {', '.join(self.unused_columns)}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# reading


@dataclass
class _Table:
    frame: pd.DataFrame  # one column per file column (str or numeric); index 0..n-1
    source: str
    row_word: str  # "line" (files: line numbers incl. the header) or "row"
    row_labels: np.ndarray  # what to print for each row
    notes: list[str]


def _sniff_sep(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_table(source: Any, m: DiaryMapping) -> _Table:
    notes: list[str] = []
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        names = [str(c) for c in df.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DiaryError(f"column name(s) {dup} appear more than once", source="<DataFrame>")
        df.columns = names
        labels = np.asarray(df.index)
        df = df.reset_index(drop=True)
        return _Table(df, "<DataFrame>", "row", labels, notes)
    if not isinstance(source, str | Path):
        raise DiaryError(f"expected a file path or a pandas DataFrame, got {type(source).__name__}")
    path = Path(source)
    name = str(path)
    if not path.is_file():
        raise DiaryError("file not found", source=name)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds
            raise DiaryError(f"cannot read the Parquet file: {err}", source=name) from None
        df.columns = [str(c) for c in df.columns]
        return _Table(df.reset_index(drop=True), name, "row", np.arange(1, len(df) + 1), notes)
    if suffix == ".sav":
        try:
            df = pd.read_spss(path, convert_categoricals=False)
        except ImportError:
            raise DiaryError(
                "reading .sav files needs pyreadstat; or export the data from SPSS as CSV", source=name
            ) from None
        df.columns = [str(c) for c in df.columns]
        return _Table(df.reset_index(drop=True), name, "row", np.arange(1, len(df) + 1), notes)
    raw = path.read_bytes()
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
    sep = m.sep or ("\t" if suffix == ".tsv" else _sniff_sep(text[:65536]))
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
    return _Table(df, name, "line", labels, notes)


class _Reader:
    """Parses mapped columns to floats with errors naming file, row, column and value."""

    def __init__(self, table: _Table, m: DiaryMapping) -> None:
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
        shown = "; ".join(f"{self.row(int(p))}: {_py(v)!r}" for p, v in zip(positions[:5], values[:5], strict=False))
        more = f" (and {len(positions) - 5} more)" if len(positions) > 5 else ""
        return DiaryError(
            f"{msg} in {len(positions)} row(s): {shown}{more}",
            source=self.t.source,
            row=self.row(int(positions[0])),
            column=column,
            value=_py(values[0]),
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


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# --------------------------------------------------------------------------------------------
# validation with pandera


def _scale_checks(spec: ColumnSpec) -> list[pa.Check]:
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


def _validate(frame: pd.DataFrame, checks: Mapping[str, list[pa.Check]], ids: bool, reader: _Reader, colname) -> None:
    """Run a pandera schema; turn the first failing check into a :class:`DiaryError`."""
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
            pos = np.unique(dup["index"].astype(int).to_numpy())
            r = frame.loc[pos[0]]
            same = frame.index[
                (frame["_dyad"] == r["_dyad"]) & (frame["_pid"] == r["_pid"]) & (frame["_day"] == r["_day"])
            ]
            rows = ", ".join(reader.row(int(reader_pos(frame, p))) for p in same[:5])
            raise DiaryError(  # noqa: B904 - the pandera error says less than this one
                f"duplicate person-day: dyad {_py(r['_dyad'])!r}, person {_py(r['_pid'])!r}, day {_py(r['_day']):g} "
                f"appears in {rows} ({len(pos)} duplicated row(s) in all)",
                source=reader.t.source,
                row=reader.row(int(reader_pos(frame, pos[0]))),
            )
        first = fc.iloc[0]
        key = str(first["column"])
        sel = fc[(fc["column"] == first["column"]) & (fc["check"] == first["check"])]
        idx = [int(i) for i in sel["index"]]
        pos = np.asarray([reader_pos(frame, i) for i in idx])
        # Show the values as written in the file, not as parsed.
        raw = np.asarray([reader.t.frame[colname(key, i)].iloc[p] for i, p in zip(idx, pos, strict=True)], dtype=object)
        raise reader.many(str(first["check"]), colname(key, idx[0]), pos, raw) from None


def reader_pos(frame: pd.DataFrame, idx: int) -> int:
    """Position in the file's table of a row of a working frame (its ``_pos`` column)."""
    return int(frame.loc[idx, "_pos"])


# --------------------------------------------------------------------------------------------
# loading


def _apply(spec: ColumnSpec, x: np.ndarray) -> np.ndarray:
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


def _to_prior_scale(ds: xr.Dataset, m: DiaryMapping, likert: int, report: LoadReport) -> xr.Dataset:
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


def _note_short_diaries(ds: xr.Dataset, report: LoadReport) -> None:
    """Note the couples whose reports start after the study's first day or end before its last."""
    inside = diary_days(ds)
    short = inside[D.DYAD].values[~inside.values.all(axis=1)]
    if not len(short):
        return
    spans = []
    for d in short[:5]:
        days = inside[D.DAY].values[inside.sel({D.DYAD: d}).values]
        spans.append(f"{_py(d)!r}: days {days[0]}..{days[-1]}" if len(days) else f"{_py(d)!r}: no report")
    report.notes.append(
        f"{len(short)} dyad(s) report on fewer days than the study spans ({'; '.join(spans)}"
        f"{'; ...' if len(short) > 5 else ''}); the model gives their days outside that span no events "
        "and scores nothing there"
    )


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
    m = read_mapping(mapping)
    over: dict[str, Any] = {}
    if layout is not None:
        if layout not in LAYOUTS:
            raise DiaryError(f"layout must be one of {LAYOUTS}, got {layout!r}{_suggest(str(layout), LAYOUTS)}")
        over["layout"] = layout
    for k, v in (("sep", sep), ("decimal", decimal), ("encoding", encoding), ("single_partner", single_partner)):
        if v is not None:
            over[k] = v
    if missing is not None:
        over["missing"] = tuple(m.missing) + tuple(missing)
    if over:
        m = replace(m, **over)
    if m.decimal not in (None, ".", ","):
        raise DiaryError(f"decimal must be '.' or ',', got {m.decimal!r}")
    if shared_events is not None and shared_events not in SHARED_EVENT_POLICIES:
        raise DiaryError(
            f"shared_events must be one of {SHARED_EVENT_POLICIES}, got {shared_events!r}"
            f"{_suggest(str(shared_events), SHARED_EVENT_POLICIES)}"
        )
    if m.single_partner not in SINGLE_PARTNER:
        raise DiaryError(f"single_partner must be one of {SINGLE_PARTNER}, got {m.single_partner!r}")
    table = _read_table(source, m)
    rd = _Reader(table, m)
    lay = m.resolved_layout()
    if lay == "long" and m.layout == "auto" and not m.columns and mapping is None:
        # Default names: the constructs are those present in the table; a table written by
        # asem_bayes.to_long carries its Likert scale in attrs.
        k = int(source.attrs.get("likert", 0) or 0) if isinstance(source, pd.DataFrame) else 0

        def default(c: str) -> ColumnSpec:
            if c in D.EVENTS:
                return ColumnSpec(column=c, scale="intensity")
            if c in D.DAILY_RATINGS and k:
                return ColumnSpec(column=c, scale="likert", range=(1.0, float(k)))
            return ColumnSpec(column=c)

        cols = {c: default(c) for c in CONSTRUCTS if c in table.frame}
        m = replace(m, columns=cols)
    report = LoadReport(source=table.source, layout=lay, n_rows=len(table.frame), notes=list(table.notes))
    if lay == "pairwise" and not any(s.partner_column for s in list(m.columns.values()) + list(m.covariates.values())):
        report.notes.append("pairwise layout without partner columns: read like a long table")

    frame = table.frame
    available = list(frame.columns)

    def need(col: str, what: str) -> None:
        if col not in frame.columns:
            raise DiaryError(
                f"column {col!r} (mapped to {what}) is not in the file{_suggest(col, available)}; columns: {available}",
                source=table.source,
                column=col,
            )

    wide = lay == "dyad_wide"
    templates = m.role_templates() if wide else ("{}", "{}")
    id_keys = (D.DYAD, D.DAY) if wide else ID_KEYS
    for k in id_keys:
        need(m.ids[k], f"the {k} id")
    all_specs = {**m.columns, **{f"covariate {k}": s for k, s in m.covariates.items()}}

    def src_cols(spec: ColumnSpec) -> list[str]:
        if wide and not spec.shared:
            return [templates[0].format(spec.column), templates[1].format(spec.column)]
        return [spec.column]

    used = {m.ids[k] for k in id_keys}
    for key, spec in all_specs.items():
        if spec.shared and not wide:
            raise DiaryError(
                f"{key!r}: 'shared' columns belong to the dyad-wide layout (this is {lay})", source=m.source
            )
        if spec.partner_column and lay != "pairwise":
            raise DiaryError(
                f"{key!r}: 'partner_column' belongs to the pairwise layout (this is {lay})", source=m.source
            )
        for c in src_cols(spec):
            need(c, key)
            used.add(c)
        if spec.partner_column:
            need(spec.partner_column, f"the partner's {key}")
            used.add(spec.partner_column)
    report.unused_columns = [c for c in available if c not in used]

    # Empty rows (every field blank): set aside and counted.
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
            keep_pos = np.flatnonzero(~blank)
            table = _Table(
                frame.iloc[keep_pos].reset_index(drop=True),
                table.source,
                table.row_word,
                table.row_labels[keep_pos],
                table.notes,
            )
            frame = table.frame
            rd = _Reader(table, m)
    if len(frame) == 0:
        raise DiaryError("no data rows", source=table.source)

    # Ids.
    dyad = rd.labels(m.ids[D.DYAD], "dyad")
    day, dated = rd.days(m.ids[D.DAY], dyad)
    if dated:
        report.notes.append(
            f"{m.ids[D.DAY]!r} holds dates: read as days since each couple's first diary date "
            "(gaps kept as missed days)"
        )
    if np.isnan(day).any():
        pos = np.flatnonzero(np.isnan(day))
        raise rd.many("missing day", m.ids[D.DAY], pos, frame[m.ids[D.DAY]].to_numpy()[pos])
    n = len(frame)
    if wide:
        pid = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
        pos_all = np.concatenate([np.arange(n), np.arange(n)])
        dyad_all, day_all = np.concatenate([dyad, dyad]), np.concatenate([day, day])
    else:
        pid = rd.labels(m.ids[D.PERSON], "person")
        pos_all, dyad_all, day_all = np.arange(n), dyad, day
    role_of = pid == 1 if wide else None  # which template a working row used (dyad-wide)

    # Values: parsed per source column (each file column once), then stacked over roles.
    values: dict[str, np.ndarray] = {}
    partner_vals: dict[str, np.ndarray] = {}
    for key, spec in all_specs.items():
        cols = src_cols(spec)
        parsed = [rd.numeric(c, spec.missing, what=key) for c in cols]
        values[key] = np.concatenate(parsed * (2 if wide and spec.shared else 1)) if wide else parsed[0]
        if spec.partner_column:
            partner_vals[key] = rd.numeric(spec.partner_column, spec.missing, what=f"the partner's {key}")

    work = pd.DataFrame({"_pos": pos_all, "_dyad": dyad_all, "_pid": pid, "_day": day_all.astype(float)})
    for key in all_specs:
        work[key] = values[key]

    def colname(key: str, idx: int) -> str:
        if key in partner_cols_map:
            return partner_cols_map[key]
        if key not in all_specs:
            return m.ids[D.DAY] if key == "_day" else key
        spec = all_specs[key]
        if wide and not spec.shared:
            return templates[1 if role_of[idx] else 0].format(spec.column)
        return spec.column

    partner_cols_map: dict[str, str] = {}
    _validate(work, {k: _scale_checks(s) for k, s in all_specs.items()}, True, rd, colname)
    if partner_vals:
        pw = pd.DataFrame({"_pos": np.arange(n), **{f"_P_{k}": v for k, v in partner_vals.items()}})
        partner_cols_map = {f"_P_{k}": all_specs[k].partner_column for k in partner_vals}  # type: ignore[misc]
        _validate(pw, {f"_P_{k}": _scale_checks(all_specs[k]) for k in partner_vals}, False, rd, colname)
    if (work["_day"].max() - work["_day"].min()) >= MAX_DAYS:
        i = int(work["_day"].idxmax())
        raise rd.error(
            f"days span {work['_day'].min():g}..{work['_day'].max():g}, more than {MAX_DAYS} days; "
            "is this a date or an id?",
            int(work.loc[i, "_pos"]),
            m.ids[D.DAY],
            _py(frame[m.ids[D.DAY]].iloc[int(work.loc[i, "_pos"])]),
        )
    work["_day"] = work["_day"].astype(np.int64)

    # Persons -> roles 0/1 within each dyad (sorted person ids; column order in dyad-wide files).
    person_ids: dict[Any, list[str]] = {}
    if wide:
        work["_role"] = work["_pid"]
    else:
        persons = work.groupby("_dyad", sort=False)["_pid"].unique()
        big = persons[persons.map(len) > 2]
        if len(big):
            d0 = big.index[0]
            rows = work.loc[work["_dyad"] == d0, "_pos"].to_numpy()
            raise rd.error(
                f"dyad {_py(d0)!r} has {len(big.iloc[0])} persons {sorted(map(_py, big.iloc[0]), key=str)} "
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
                    "ids": [_py(d) for d in single],
                }
                work = work[~sel]
            else:
                report.notes.append(
                    f"{len(single)} dyad(s) with one partner only kept; the other partner's values are all missing"
                )
        if len(work) == 0:
            raise DiaryError("no dyad has both partners in the file", source=table.source)
        report.notes.append(f"person 0 of each dyad is the lower id in {m.ids[D.PERSON]!r}, person 1 the higher")
        person_ids = {d: [str(_py(x)) for x in p] + [""] * (2 - len(p)) for d, p in order.items()}

    # The full (dyad, role, day) grid.
    uniq = np.asarray(work["_dyad"].unique())
    if np.issubdtype(uniq.dtype, np.integer):
        dyads = np.sort(uniq)
    else:
        dyads = np.asarray(sorted(str(u) for u in uniq), dtype=object)
    day_lo, day_hi = int(work["_day"].min()), int(work["_day"].max())
    days = np.arange(day_lo, day_hi + 1)
    if len(dyads) * 2 * len(days) > MAX_CELLS:
        raise DiaryError(
            f"{len(dyads)} dyads x {len(days)} days is too large a grid; check the dyad and day columns",
            source=table.source,
        )
    idx = pd.MultiIndex.from_arrays([work["_dyad"], work["_role"], work["_day"]])
    grid = pd.MultiIndex.from_product([dyads, [0, 1], days])
    cube = work.set_index(idx)[list(all_specs) + ["_pos"]].reindex(grid)
    present = cube["_pos"].notna().to_numpy()
    report.absent_person_days = int((~present).sum())
    shape = (len(dyads), 2, len(days))

    def arr(key: str) -> np.ndarray:
        return cube[key].to_numpy(dtype=float).reshape(shape)

    out = {k: arr(k) for k in all_specs}
    pos_cube = cube["_pos"].to_numpy(dtype=float).reshape(shape)

    # Pairwise: the partner's columns must agree with the partner's own row; they fill gaps.
    for key, pv in partner_vals.items():
        pvw = pd.Series(
            pv[work["_pos"].to_numpy()],
            index=pd.MultiIndex.from_arrays([work["_dyad"], 1 - work["_role"], work["_day"]]),
        )
        pcube = pvw.reindex(grid).to_numpy(dtype=float).reshape(shape)
        ppos = pd.Series(work["_pos"].to_numpy(), index=pvw.index).reindex(grid).to_numpy(dtype=float).reshape(shape)
        own = out[key]
        both = ~np.isnan(own) & ~np.isnan(pcube)
        clash = both & ~np.isclose(own, pcube, rtol=1e-6, atol=1e-9)
        if clash.any():
            d, i, t = np.argwhere(clash)[0]
            spec = all_specs[key]
            raise DiaryError(
                f"the partner's {spec.partner_column!r} ({pcube[d, i, t]!r} on {rd.row(int(ppos[d, i, t]))}) "
                "contradicts "
                f"the person's own {spec.column!r} ({own[d, i, t]!r}) for dyad {_py(dyads[d])!r}, day {days[t]}; "
                f"{int(clash.sum())} such person-day(s)",
                source=table.source,
                row=rd.row(int(pos_cube[d, i, t])),
                column=spec.column,
                value=_py(own[d, i, t]),
            )
        fill = np.isnan(own) & ~np.isnan(pcube)
        if fill.any():
            report.filled_from_partner[key] = int(fill.sum())
            out[key] = np.where(fill, pcube, own)

    # Transforms (declared scales were checked on the raw values).
    for key, spec in all_specs.items():
        out[key] = _apply(spec, out[key])

    # Dyad-day events: one value per couple and day.
    for key in [k for k in D.DYAD_EVENTS if k in m.columns]:
        spec = m.columns[key]
        policy = shared_events or spec.combine or "error"
        differ = partner_disagreements(out[key])
        report.shared_events[key] = policy
        report.partner_disagreements[key] = int(differ.sum())
        if policy == "error" and differ.any():
            d, t = np.argwhere(differ)[0]
            x0, x1 = out[key][d, 0, t], out[key][d, 1, t]
            rows = pos_cube[d, :, t][~np.isnan(pos_cube[d, :, t])]  # a report may come from the partner's row
            raise DiaryError(
                f"the partners' reports of the shared event {key!r} differ ({x0:g} vs {x1:g}) for dyad "
                f"{_py(dyads[d])!r}, day {days[t]} ({int(differ.sum())} dyad-day(s)); declare combine = "
                f"{', '.join(repr(p) for p in SHARED_EVENT_POLICIES if p != 'error')} in the mapping, "
                "or pass shared_events",
                source=table.source,
                row=rd.row(int(rows[0])) if len(rows) else None,
                column=spec.column,
            )
        comb = combine_partner_reports(out[key], policy, name=key)
        out[key] = np.repeat(comb[:, None, :], 2, axis=1)

    # Traits and covariates measured once: constant per person, kept on one day.
    for key, spec in all_specs.items():
        if not spec.constant:
            continue
        x = out[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # persons never measured stay NaN
            lo, hi = np.nanmin(x, axis=-1), np.nanmax(x, axis=-1)
        varies = ~np.isnan(lo) & ~np.isclose(lo, hi)
        if varies.any():
            d, i = np.argwhere(varies)[0]
            t = int(np.nanargmax(x[d, i]))
            raise DiaryError(
                f"{key!r} is declared constant (measured once) but person {i} of dyad {_py(dyads[d])!r} has values "
                f"{lo[d, i]!r}..{hi[d, i]!r}; {int(varies.sum())} such person(s)",
                source=table.source,
                row=rd.row(int(pos_cube[d, i, t])),
                column=spec.column,
                value=_py(x[d, i, t]),
            )
        if key in D.TRAITS:
            wd = spec.wave_day
            t = 0 if wd == "first" else len(days) - 1 if wd == "last" else int(wd) - day_lo
            if not 0 <= t < len(days):
                raise DiaryError(
                    f"{key!r}: wave_day {wd} is not a day of the study ({day_lo}..{day_hi})", source=m.source
                )
            kept = np.full_like(x, np.nan)
            kept[..., t] = lo
            out[key] = kept
        else:
            out[key] = lo  # (dyad, person)

    # Likert daily ratings: ordinal on 1..K when all share one declared scale.
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
                out[k] = out[k] - lo_r + 1
    elif m.ordinal and daily:
        raise DiaryError(
            "ordinal = true needs every daily rating on one common Likert scale (scale = 'likert', same range)",
            source=m.source,
        )
    report.likert = likert

    # The canonical long table, then the one path to a Dataset.
    grid_cols = {
        D.DYAD: np.repeat(dyads, 2 * len(days)),
        D.PERSON: np.tile(np.repeat([0, 1], len(days)), len(dyads)),
        D.DAY: np.tile(days, 2 * len(dyads)),
    }
    long = pd.DataFrame(grid_cols)
    for key in m.columns:
        long[key] = out[key].reshape(-1)
    ds = from_long(long, likert=likert)
    cov_vars = {}
    for key, spec in m.covariates.items():
        x = out[f"covariate {key}"]
        dims = D.PERSON_DIMS if spec.constant else D.PERSON_DAY_DIMS
        cov_vars[key] = (dims, x, {"role": "covariate", "column": spec.column, "scale": spec.describe()})
    if cov_vars:
        ds = ds.assign(cov_vars)
    for key, spec in m.columns.items():
        ds[key].attrs.update(column=spec.column, scale=spec.describe())
    for key, policy in report.shared_events.items():
        ds[key].attrs.update(shared_events=policy, partner_disagreements=report.partner_disagreements[key])

    ds = _to_prior_scale(ds, m, likert, report)
    report.n_dyads, report.n_days, report.days = len(dyads), len(days), (day_lo, day_hi)
    report.constructs = {k: f"{s.column!r}: {s.describe()}" for k, s in m.columns.items()}
    report.covariates = {k: f"{s.column!r}: {s.describe()}" for k, s in m.covariates.items()}
    report.absent_constructs = [c for c in CONSTRUCTS if c not in m.columns]
    report.missing_codes_seen = dict(rd.codes_seen)
    for key in m.columns:
        x = ds[key].values
        report.missing[key] = (int(np.isnan(x).sum()), int(x.size))
    _note_short_diaries(ds, report)
    if any(ids != ["0", "1"] for ids in person_ids.values()):  # the file's own person labels, for provenance
        labels = np.asarray([person_ids.get(_py(d), ["", ""]) for d in ds[D.DYAD].values], dtype=object)
        ds = ds.assign_coords(person_id=(D.PERSON_DIMS, labels.astype(str), {"column": m.ids[D.PERSON]}))
    ds.attrs.update(
        source=table.source,
        mapping=str(m.source),
        layout=lay,
        scales=json.dumps({k: s.describe() for k, s in m.columns.items()}),
        load_report=str(report),
    )
    return (ds, report) if return_report else ds
