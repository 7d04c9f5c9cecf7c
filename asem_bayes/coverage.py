"""Which parameters of a variant can the data inform at all?

A study that lacks a construct (no ``soft`` column, no trait waves, no daily state avoidance)
leaves the parameters that act only through it with no path to the likelihood: their posterior
is their prior. :func:`uninformed_parameters` finds them *numerically* rather than from a
hand-kept table, so it stays right for every registered variant: it evaluates the model's
log-likelihood (the same numpy code that fills a fit's ``log_likelihood`` group) at a few
prior draws, changes one parameter at a time, and calls a parameter uninformed when the
log-likelihood does not move at all (bit for bit: a term multiplied by an absent, all-zero
event is exactly zero). It then says why, by adding each absent construct as synthetic data
and seeing which one would connect the parameter.

Being informed is necessary, not sufficient: a parameter with a data path can still be weakly
identified (e.g. one trait wave cannot separate the trait intercept from the initial-state
mean). :func:`coverage_report` adds such notes in words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the package's convention
from asem_bayes.inputs import ModelInputs, prepare_inputs
from asem_bayes.registry import get_variant
from asem_bayes.schema import Variant
from asem_bayes.simulate import draw_person_params

__all__ = ["uninformed_parameters", "coverage_report"]

_TOL = 1e-9  # relative change of a log-likelihood term that counts as a data path (see _differs)
_CHUNK = 16  # parameter perturbations evaluated together (memory ~ chunk x days x dyads)


def _inputs(data: xr.Dataset | ModelInputs, joint: bool, missing_events: str) -> ModelInputs:
    if isinstance(data, ModelInputs):
        return data
    if joint:
        # The joint mode scores events as 0/1. Which parameters have a data path depends on
        # where events occur, not on their intensity, so intensities are read as occurrences.
        data = data.copy()
        for e in D.EVENTS:
            if e in data:
                data[e] = xr.where(data[e].isnull(), np.nan, (data[e] > 0).astype(float), keep_attrs=True)
    return prepare_inputs(data, joint=joint, missing_events=missing_events)


def _base_points(v: Variant, n_dyads: int, n_points: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    points = []
    for _ in range(n_points):
        # Correlated person effects (docs/model.md section 18) at correlation 0: the same points as
        # without the option, which adds no likelihood term, so the verdicts are the same
        pop = v.draw_prior(rng) | dict.fromkeys(v.correlation_names, 0.0)
        points.append({**pop, **draw_person_params(v, pop, n_dyads, rng)})
    return points


def _perturbed(v: Variant, base: dict[str, Any], name: str, rng: np.random.Generator) -> dict[str, Any]:
    """``base`` with one parameter redrawn (a person parameter for every person at once)."""
    q = dict(base)
    person = {pp.name: pp for pp in v.person_params}
    if name in person:
        pp = person[name]
        z = rng.standard_normal(np.shape(base[name]))
        q[name] = pp.apply_link(np, base[pp.mu] + base[pp.sd] * z)
    else:
        new = float(v.param(name).prior.draw(rng))
        q[name] = new if new != base[name] else new + 1e-3
    return q


def _stack(v: Variant, points: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Stack parameter dicts as draws: population (n, 1, 1), person (n, dyad, person)."""
    out = {}
    for prm in v.params:
        out[prm.name] = np.asarray([p[prm.name] for p in points], dtype=float)[:, None, None]
    for pp in v.person_params:
        out[pp.name] = np.stack([np.asarray(p[pp.name], dtype=float) for p in points])
    return out


def _loglik(inp: ModelInputs, v: Variant, points: list[dict[str, Any]], mode: str) -> np.ndarray:
    """Pointwise log-likelihood ``(len(points), n_obs)``, every observed quantity concatenated."""
    from asem_bayes.model import pointwise_log_likelihood  # the numpy code behind a fit's log_likelihood group

    # One draw at a time in the joint mode: model.pointwise_log_likelihood mis-broadcasts population
    # parameters of the shared-event logits when several draws go together.
    chunk = 1 if mode == "joint" else _CHUNK
    rows = []
    for start in range(0, len(points), chunk):
        part = pointwise_log_likelihood(inp, v, _stack(v, points[start : start + chunk]), mode)
        rows.append(np.concatenate([part[k] for k in sorted(part)], axis=1))
    return np.concatenate(rows, axis=0)


def _differs(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two pointwise log-likelihoods differ beyond floating-point noise.

    A parameter without a data path leaves every term unchanged up to rounding: numpy's SIMD
    and scalar code paths can differ in the last bit depending on an element's position, so
    exact equality would call noise "informed". A real data path moves terms far more than
    1e-9 relative for a prior redraw of the parameter.
    """
    return bool(np.any(np.abs(a - b) > _TOL * (1.0 + np.abs(b))))


def _tested_names(v: Variant) -> list[str]:
    """Parameters perturbed directly: population parameters that are not hyper-parameters of a
    person-level parameter (those act only through it), and the person-level parameters."""
    hyper = {pp.mu for pp in v.person_params} | {pp.sd for pp in v.person_params}
    return [p for p in v.param_names if p not in hyper] + v.person_param_names


def _moving(inp: ModelInputs, v: Variant, mode: str, names: Iterable[str], n_points: int, seed: int) -> set[str]:
    """Names whose perturbation changes the log-likelihood at any of the base points."""
    names = list(names)
    rng = np.random.default_rng(seed)
    moved: set[str] = set()
    for base in _base_points(v, inp.n_dyads, n_points, rng):
        todo = [n for n in names if n not in moved]
        if not todo:
            break
        pts = [base] + [_perturbed(v, base, n, rng) for n in todo]
        ll = _loglik(inp, v, pts, mode)
        moved |= {n for n, row in zip(todo, ll[1:], strict=True) if _differs(row, ll[0])}
    return moved


def _with_construct(inp: ModelInputs, name: str, joint: bool, rng: np.random.Generator) -> ModelInputs:
    """A copy of ``inp`` with synthetic data for one absent construct."""
    T, Dn = inp.n_days, inp.n_dyads
    events = dict(inp.events)
    obs = dict(inp.obs)
    present_events = inp.present_events
    wave_pos = inp.wave_pos
    if name in D.EVENTS:
        x = (rng.random((T, Dn, 2)) < 0.4).astype(float)
        if name in D.DYAD_EVENTS:
            x[..., 1] = x[..., 0]
        if name in ("safe", "soft"):
            x = x * (events["threat"] > 0)
        events[name] = x
        present_events = tuple(e for e in D.EVENTS if e in present_events or e == name)
        if joint:
            observed = np.ones((Dn, 2, T), bool)
            if name in D.DYAD_EVENTS:
                observed[:, 1, :] = False
            flat = np.flatnonzero(observed.reshape(-1))
            obs[f"event_{name}"] = (flat, x.transpose(1, 2, 0).reshape(-1)[flat])
    elif name in D.DAILY_RATINGS:
        idx = np.arange(Dn * 2 * T)
        y = rng.integers(1, inp.likert + 1, idx.size).astype(float) if inp.likert else rng.normal(4, 1, idx.size)
        obs[name] = (idx, y)
    else:
        if wave_pos.size == 0:
            wave_pos = np.asarray([0, T - 1])
        flat = ((np.arange(Dn)[:, None, None] * 2 + np.arange(2)[None, :, None]) * T + wave_pos[None, None, :]).reshape(
            -1
        )
        obs[name] = (flat.astype(np.int64), rng.normal(3.5, 1, flat.size))
    return replace(inp, events=events, obs=obs, present_events=present_events, wave_pos=wave_pos)


def _absent(inp: ModelInputs) -> list[str]:
    ev = [e for e in D.EVENTS if e not in inp.present_events]
    ratings = [r for r in D.RATINGS if r not in inp.obs]
    return ev + ratings


def _label(c: str) -> str:
    return f"{c!r} events" if c in D.EVENTS else f"{c!r} ratings" if c in D.DAILY_RATINGS else f"{c!r} waves"


def uninformed_parameters(
    data: xr.Dataset | ModelInputs,
    variant: str | Variant = "asem",
    mode: str | None = None,
    *,
    missing_events: str = "absent",
    n_points: int = 3,
    seed: int = 0,
) -> dict[str, str]:
    """Parameters of ``variant`` that the data cannot inform, each with the reason.

    Parameters
    ----------
    data : xarray.Dataset or ModelInputs
        The study (e.g. from :func:`asem_bayes.data.load_diary`).
    variant : str or Variant
        Registered variant name.
    mode : {"conditional", "joint"} or None
        Inference mode (default: the variant's default). In the conditional mode the event
        model's parameters are never informed.
    missing_events : str
        Missing-event policy used to build the inputs (it does not change which parameters
        have a data path).
    n_points : int
        Prior draws at which the log-likelihood is probed; a parameter is informed when
        changing it moves the log-likelihood at any of them.
    seed : int
        Seed of the prior draws.

    Returns
    -------
    dict
        Parameter name (population and person-level; hyper-parameters follow their person
        parameter) to a reason in words, e.g. ``{"e_soft": "needs 'soft' events"}``. Empty when
        every parameter has a path to the data.
    """
    from asem_bayes.model import check_mode

    v = get_variant(variant)
    mode = check_mode(v, mode)
    joint = mode == "joint"
    inp = _inputs(data, joint, missing_events)
    names = _tested_names(v)
    moved = _moving(inp, v, mode, names, n_points, seed)
    still = [n for n in names if n not in moved]
    if not still:
        return {}
    rng = np.random.default_rng(seed + 1)
    absent = _absent(inp)
    helps: dict[str, list[str]] = {n: [] for n in still}
    for c in absent:
        aug = _with_construct(inp, c, joint, rng)
        for n in _moving(aug, v, mode, still, n_points, seed):
            helps[n].append(c)
    pairs: dict[str, list[tuple[str, str]]] = {n: [] for n in still}
    rest = [n for n in still if not helps[n]]
    if rest:
        for i, c1 in enumerate(absent):
            for c2 in absent[i + 1 :]:
                aug = _with_construct(_with_construct(inp, c1, joint, rng), c2, joint, rng)
                for n in _moving(aug, v, mode, rest, n_points, seed):
                    pairs[n].append((c1, c2))
    group = {p.name: p.group for p in v.params} | {pp.name: pp.group for pp in v.person_params}
    reasons: dict[str, str] = {}
    for n in still:
        if helps[n]:
            reason = "needs " + " or ".join(_label(c) for c in helps[n])
        elif pairs[n]:
            reason = "needs " + " or ".join(f"{_label(a)} with {_label(b)}" for a, b in pairs[n])
        elif group.get(n) == "events" and not joint:
            reason = "event-model parameter: the conditional mode does not score events (fit with mode='joint')"
        else:
            reason = f"no data of any construct inform it in the {mode} mode"
        reasons[n] = reason
    for pp in v.person_params:
        if pp.name in reasons:
            for h in (pp.mu, pp.sd):
                reasons.setdefault(h, f"population of {pp.name}, which {reasons[pp.name]}")
    order = {n: i for i, n in enumerate(v.param_names + v.person_param_names)}
    return dict(sorted(reasons.items(), key=lambda kv: order.get(kv[0], 0)))


def coverage_report(
    data: xr.Dataset | ModelInputs,
    variant: str | Variant = "asem",
    mode: str | None = None,
    *,
    missing_events: str = "absent",
) -> str:
    """What a fit of ``variant`` can learn from ``data``, in words (uninformed parameters and
    known weak spots)."""
    from asem_bayes.model import check_mode

    v = get_variant(variant)
    mode = check_mode(v, mode)
    inp = _inputs(data, mode == "joint", missing_events)
    un = uninformed_parameters(inp, v, mode)
    lines = [f"variant {v.name!r} ({mode} mode): {len(v.param_names)} population parameters"]
    if un:
        pop = [n for n in un if n in v.param_names]
        lines.append(f"  {len(pop)} population parameter(s) the data cannot inform (their posterior is their prior):")
        lines += [f"    {n:<14} {r}" for n, r in un.items() if n in v.param_names]
        person = [n for n in un if n in v.person_param_names]
        if person:
            lines.append(f"  person-level parameters uninformed: {', '.join(person)}")
    else:
        lines.append("  every parameter has a path to the data")
    for note in _weak_spots(inp, v):
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def _weak_spots(inp: ModelInputs, v: Variant) -> list[str]:
    notes = []
    traits = [t for t in D.TRAITS if t in inp.obs]
    if traits and len(inp.wave_pos) == 1:
        notes.append(
            "one trait wave only: the trait's intercept and loading trade off against the initial working models' "
            "mean and spread; they are identified mainly through the priors"
        )
    if v.changes and not {"confidence", "dependence"} & set(inp.present_events):
        notes.append(
            "no positive-evidence events (confidence, dependence): in the data the working models can only erode"
        )
    if v.changes and not traits:
        notes.append("no trait waves: chronic change is seen only through the daily ratings")
    return notes
