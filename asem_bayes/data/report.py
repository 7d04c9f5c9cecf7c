"""The load report: what :func:`asem_bayes.data.load_diary` read, kept, set aside and filled in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.data.errors import py_scalar
from asem_bayes.inputs import diary_days
from asem_bayes.study import SHARED_EVENT_MEANINGS

__all__ = ["LoadReport", "note_short_diaries"]


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


def note_short_diaries(ds: xr.Dataset, report: LoadReport) -> None:
    """Note the couples whose reports start after the study's first day or end before its last."""
    inside = diary_days(ds)
    short = inside[D.DYAD].values[~inside.values.all(axis=1)]
    if not len(short):
        return
    spans = []
    for d in short[:5]:
        days = inside[D.DAY].values[inside.sel({D.DYAD: d}).values]
        spans.append(f"{py_scalar(d)!r}: days {days[0]}..{days[-1]}" if len(days) else f"{py_scalar(d)!r}: no report")
    report.notes.append(
        f"{len(short)} dyad(s) report on fewer days than the study spans ({'; '.join(spans)}"
        f"{'; ...' if len(short) > 5 else ''}); the model gives their days outside that span no events "
        "and scores nothing there"
    )
