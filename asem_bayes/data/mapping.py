"""The column mapping: which of the user's columns holds which construct, on what scale.

:func:`read_mapping` reads a :class:`DiaryMapping` from a dict or a TOML/YAML/JSON file and
checks every :class:`ColumnSpec` (scale, range, transforms) before any data are read.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.data.errors import DiaryError, suggest
from asem_bayes.study import SHARED_EVENT_POLICIES, SharedEventPolicy

__all__ = [
    "COMBINE_ALIASES",
    "CONSTRUCTS",
    "DEFAULT_MISSING",
    "ID_KEYS",
    "LAYOUTS",
    "SCALES",
    "SINGLE_PARTNER",
    "TRANSFORMS",
    "ColumnSpec",
    "DiaryMapping",
    "read_mapping",
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

_RESERVED = set(CONSTRUCTS) | set(ID_KEYS) | set(D.LATENT) | {D.WAVE, "wave_day", D.WEEK}
_TOP_KEYS = {
    "layout", "ids", "columns", "covariates", "roles", "missing", "sep", "decimal", "encoding",
    "ordinal", "single_partner",
}  # fmt: skip
_SPEC_KEYS = {
    "column", "scale", "range", "reverse", "to", "threshold", "offset", "missing", "partner_column",
    "combine", "constant", "wave_day", "shared",
}  # fmt: skip


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
        :func:`asem_bayes.study.combine_partner_reports`; ``"max"``, ``"min"`` and
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
            f"unknown setting(s) {unknown} for {key!r}{suggest(unknown[0], sorted(_SPEC_KEYS))} "
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
        raise bad(f"scale must be one of {SCALES}, got {s.scale!r}{suggest(s.scale, SCALES)}")
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
        hint = suggest(str(s.combine), SHARED_EVENT_POLICIES)
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
        source = str(Path(mapping))
        mapping = _parse_mapping_file(Path(mapping))
    if not isinstance(mapping, Mapping):
        raise DiaryError(f"a mapping must be a table of settings, got {type(mapping).__name__}", source=source)
    m = _by_construct({str(k): v for k, v in mapping.items()}, source)
    return DiaryMapping(
        ids=_ids_section(m, source),
        columns=_columns_section(m, source),
        covariates=_covariates_section(m, source),
        source=source,
        **_settings(m, source),
    )


def _parse_mapping_file(path: Path) -> Any:
    """The raw contents of a ``.toml``, ``.yaml``/``.yml`` or ``.json`` mapping file."""
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
    return raw


def _by_construct(m: dict[str, Any], source: str) -> dict[str, Any]:
    """The mapping keyed by construct, id and setting (the inverse form turned round); unknown keys raise."""
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
            f"unknown construct or setting {unknown[0]!r}{suggest(unknown[0], sorted(known))}; constructs are "
            f"{list(CONSTRUCTS)}, ids {list(ID_KEYS)}, settings {sorted(_TOP_KEYS)}",
            source=source,
        )
    return m


def _ids_section(m: Mapping[str, Any], source: str) -> dict[str, str]:
    """The id columns: the ``ids`` table and top-level ``dyad``/``person``/``day`` entries."""
    ids = {k: k for k in ID_KEYS}
    sec_ids = m.get("ids", {}) or {}
    if not isinstance(sec_ids, Mapping):
        raise DiaryError(
            f"'ids' must be a table like {{dyad = 'couple', person = 'pid', day = 'day'}}, got {sec_ids!r}",
            source=source,
        )
    for k, v in {**sec_ids, **{k: m[k] for k in ID_KEYS if k in m}}.items():
        if k not in ID_KEYS:
            raise DiaryError(f"unknown id {k!r} in 'ids'{suggest(k, ID_KEYS)}; ids are {list(ID_KEYS)}", source=source)
        if not isinstance(v, str | int):
            raise DiaryError(f"the id {k!r} must name a column, got {v!r}", source=source)
        ids[k] = str(v)
    return ids


def _columns_section(m: Mapping[str, Any], source: str) -> dict[str, ColumnSpec]:
    """The constructs: the ``columns`` table and top-level construct entries."""
    sec_cols = m.get("columns", {}) or {}
    if not isinstance(sec_cols, Mapping):
        raise DiaryError(f"'columns' must be a table of constructs, got {sec_cols!r}", source=source)
    columns: dict[str, ColumnSpec] = {}
    for k, v in {**sec_cols, **{k: m[k] for k in CONSTRUCTS if k in m}}.items():
        if k not in CONSTRUCTS:
            raise DiaryError(
                f"unknown construct {k!r}{suggest(k, CONSTRUCTS)}; constructs are {list(CONSTRUCTS)}", source=source
            )
        columns[k] = _spec_from(k, v, source, is_covariate=False)
    return columns


def _covariates_section(m: Mapping[str, Any], source: str) -> dict[str, ColumnSpec]:
    """The ``covariates`` table."""
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
    return covariates


def _settings(m: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The top-level settings (layout, roles, missing codes, CSV reading, ordinal, single partners)."""
    kw: dict[str, Any] = {}
    layout = m.get("layout", "auto")
    if layout not in LAYOUTS:
        raise DiaryError(
            f"layout must be one of {LAYOUTS}, got {layout!r}{suggest(str(layout), LAYOUTS)}", source=source
        )
    kw["layout"] = layout
    if m.get("roles") is not None:
        kw["roles"] = _roles(m["roles"], source)
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
    return kw


def _roles(r: Any, source: str) -> tuple[str, str]:
    """The dyad-wide layout's two column prefixes or templates."""
    if not (
        isinstance(r, Sequence) and not isinstance(r, str) and len(r) == 2 and all(isinstance(x, str) and x for x in r)
    ):
        raise DiaryError(
            f"'roles' must be two column prefixes or templates, e.g. ['M_', 'W_'], got {r!r}", source=source
        )
    if r[0] == r[1]:
        raise DiaryError(f"the two 'roles' must differ, got {r!r}", source=source)
    return (r[0], r[1])
