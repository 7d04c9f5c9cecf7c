"""What a fitted model says about other worlds: what-if projections, forecasts, attribution and
effects in the units of the questionnaires (docs/model.md, section "What-if projections").

Every function reruns the fitted dynamics (:func:`asem_bayes.dynamics.step`) for posterior draws.
Two worlds run side by side, day by day, from the same draws and the same random numbers:

- the **fitted** world: the observed events on the study's days (so its working models are the
  fitted trajectories, exactly), then events drawn from the event process past the study;
- the **altered** world: the same, with the user's alterations of the event process.

Events follow a threshold model, ``event = 1[u < p]`` with ``u`` uniform. On an observed day
the ``u`` that produced the observed event is drawn from its posterior (below ``p`` if the event
happened, above it if not), and the altered world uses the same ``u`` with its own probability
``q``. So an unaltered world reproduces the observed days exactly, a rate scaled by ``c`` keeps
an observed event with probability ``min(1, q/p)`` and adds one on an event-free day with
probability ``max(0, q - p) / (1 - p)``: the smallest change of the observed schedule with the
altered rates (the counterfactual of a threshold model). In the joint mode ``p`` and ``q`` come
from the fitted event model at each world's own working models (so a more secure partner also
changes what happens next); in the conditional mode there is no event model, and they are each
person's observed rates (each couple's for shared events; buffering per threat day), the same in
both worlds except for the alteration, which assumes that events do not answer the working models.
"""

from __future__ import annotations

import itertools
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes import dims as D
from asem_bayes import dynamics
from asem_bayes.inputs import ModelInputs
from asem_bayes.schema import Variant

__all__ = [
    "Alteration",
    "parse_alteration",
    "project",
    "forecast",
    "summarize_projection",
    "summarize_forecast",
    "plot_projection",
    "attribution",
    "CHANNELS",
    "observable_effects",
    "format_effects",
]

OBSERVABLES = ("self_model", "others_model", "trait_anxiety", "trait_avoidance", "state_anxiety", "state_avoidance")
BUFFERING = ("safe", "soft")  # only on threat days


# ---------------------------------------------------------------------------------------------
# alterations


@dataclass(frozen=True)
class Alteration:
    """One change of the event process.

    Parameters
    ----------
    event : str
        ``threat``, ``safe``, ``soft``, ``confidence`` or ``dependence``.
    op : {"scale", "set"}
        Multiply the daily probability by ``value`` (capped at 1) or set it to ``value``. For
        ``safe`` and ``soft`` the probability is per threat day (buffering answers a threat).
    value : float
        Factor (``>= 0``) or probability (in ``[0, 1]``).
    person : int or None
        The person (0 or 1) who *receives* the event; ``None``: both. ``safe@0`` is the safe
        buffering person 0 receives, that is the safe buffering person 1 gives. Shared events
        (``threat``, ``dependence``) belong to the couple and take no person.
    """

    event: str
    op: str
    value: float
    person: int | None = None

    def __post_init__(self) -> None:
        if self.event not in D.EVENTS:
            raise ValueError(f"unknown event {self.event!r} in an alteration; events are {', '.join(D.EVENTS)}")
        if self.op not in ("scale", "set"):
            raise ValueError(f"alteration op must be 'scale' or 'set', got {self.op!r}")
        if self.person is not None and self.event in D.DYAD_EVENTS:
            raise ValueError(f"{self.event} is shared by the couple: an alteration of it takes no @person")
        if self.person not in (None, 0, 1):
            raise ValueError(f"person must be 0 or 1 (the receiving partner), got {self.person!r}")
        if not math.isfinite(self.value) or self.value < 0 or (self.op == "set" and self.value > 1):
            what = "a probability in [0, 1]" if self.op == "set" else "a factor >= 0"
            raise ValueError(f"{self.event}: the value must be {what}, got {self.value}")

    def apply(self, q: np.ndarray) -> np.ndarray:
        """The altered probabilities (``q`` is ``(..., 2)`` for the receiving persons)."""
        new = np.minimum(1.0, q * self.value) if self.op == "scale" else np.full_like(q, self.value)
        if self.person is None:
            return new
        out = q.copy()
        out[..., self.person] = new[..., self.person]
        return out

    def describe(self) -> str:
        """The alteration in words."""
        who = "" if self.person is None else f" received by person {self.person} (given by person {1 - self.person})"
        what = f"x {self.value:g}" if self.op == "scale" else f"= {self.value:.3g} per day"
        per = " per threat day" if self.event in BUFFERING and self.op == "set" else ""
        return f"{self.event}{who} {what}{per}"


_ALTERATION = re.compile(r"^\s*([a-z_]+)\s*(?:@\s*(\d))?\s*(\*=|=|\*|x)\s*([0-9.eE+-]+(?:\s*/\s*[0-9.]+)?)\s*$")


def parse_alteration(text: str) -> Alteration:
    """Read one alteration written as ``EVENT[@PERSON]=P`` or ``EVENT[@PERSON]*=FACTOR``.

    Examples: ``threat=0`` (no threats), ``safe@0*=2`` (person 1 buffers person 0 safely twice as
    often), ``confidence=3/7`` (three confidence-building days a week for both).

    Parameters
    ----------
    text : str
        The alteration.

    Returns
    -------
    Alteration
    """
    m = _ALTERATION.match(text.lower())
    if m is None:
        raise ValueError(
            f"cannot read the alteration {text!r}: write EVENT[@PERSON]=PROBABILITY or EVENT[@PERSON]*=FACTOR, "
            "e.g. 'threat=0', 'safe@0*=2', 'confidence=3/7'"
        )
    event, person, op, value = m.groups()
    num, _, den = value.partition("/")
    try:
        x = float(num) / (float(den) if den else 1.0)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"cannot read the value {value!r} of the alteration {text!r}") from None
    return Alteration(event, "set" if op == "=" else "scale", x, None if person is None else int(person))


def _alterations(items: Iterable[Alteration | str]) -> tuple[Alteration, ...]:
    return tuple(a if isinstance(a, Alteration) else parse_alteration(a) for a in items)


# ---------------------------------------------------------------------------------------------
# posterior draws


def _select_draws(post: xr.Dataset, n_draws: int | None) -> xr.Dataset:
    """About ``n_draws`` draws, evenly thinned within each chain (all if ``None``)."""
    total = post.sizes["chain"] * post.sizes["draw"]
    if n_draws is None or n_draws >= total:
        return post
    step = math.ceil(total / n_draws)
    return post.isel(draw=slice(None, None, step))


def draw_params(post: xr.Dataset, v: Variant, sl: slice = slice(None)) -> dict[str, np.ndarray]:
    """Parameters of the draws in ``sl``: population ones shaped ``(n, 1, 1)``, person ones ``(n, dyad, 2)``.

    Parameters
    ----------
    post : xarray.Dataset
        Posterior (dims ``chain``, ``draw``, ...).
    v : Variant
        The fitted variant.
    sl : slice
        Which of the draws, flattened in (chain, draw) order (default: all).

    Returns
    -------
    dict
        Name to array, draws flattened in (chain, draw) order.
    """
    out = {}
    for prm in v.params:
        out[prm.name] = post[prm.name].values.reshape(-1)[sl][:, None, None]
    for pp in v.person_params:
        x = post[pp.name].transpose(..., D.DYAD, D.PERSON).values
        out[pp.name] = x.reshape(-1, *x.shape[-2:])[sl]
    return out


# ---------------------------------------------------------------------------------------------
# the event process of each world


def _observed_rates(inp: ModelInputs) -> dict[str, np.ndarray]:
    """Each person's daily event probabilities over the days of their diary, ``(dyad, 2)``;
    buffering per threat day. A person without threats gets the pooled buffering rate."""
    inside = np.ones((inp.n_days, inp.n_dyads), bool) if inp.in_diary is None else inp.in_diary.T
    days = np.maximum(inside.sum(axis=0), 1)[:, None]
    ev = {k: np.where(inside[..., None], inp.events[k], 0.0) for k in D.EVENTS}
    rates = {k: ev[k].sum(axis=0) / days for k in D.EVENTS if k not in BUFFERING}
    threats = ev["threat"].sum(axis=0)
    for k in BUFFERING:
        hits = (ev[k] * ev["threat"]).sum(axis=0)
        pooled = hits.sum() / threats.sum() if threats.sum() > 0 else 0.0
        rates[k] = np.where(threats > 0, hits / np.maximum(threats, 1), pooled)
    return rates


@dataclass
class _World:
    """One world's latent working models, fatigue and the day's event probabilities."""

    zs: np.ndarray
    zo: np.ndarray
    f: np.ndarray

    def states(self) -> tuple[np.ndarray, np.ndarray]:
        return np.tanh(self.zs), np.tanh(self.zo)


def _probs(world: _World, p: Mapping[str, Any], v: Variant, joint: bool, rates: Mapping[str, np.ndarray]) -> dict:
    """The day's event probabilities, ``(n, dyad, 2)`` for every event (shared ones repeated)."""
    if not joint:
        shape = world.zs.shape
        return {k: np.broadcast_to(rates[k], shape) for k in D.EVENTS}
    s, o = world.states()
    pr = dynamics.event_probs(np, s, o, world.f, p, v.fatigue)
    # Shared events' logits drop the person axis: population parameters shaped (n, 1) there.
    dyad_p = {k: (x[..., 0] if np.ndim(x) == 3 and np.shape(x)[-2:] == (1, 1) else x) for k, x in p.items()}
    shared = dynamics.event_probs(np, s, o, world.f, dyad_p, v.fatigue)
    out = {k: getattr(pr, k) for k in D.PERSON_EVENTS}
    for k in D.DYAD_EVENTS:
        out[k] = np.repeat(getattr(shared, k)[..., None], 2, axis=-1)
    return out


def _abduct(e: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniforms ``u`` consistent with the observed events ``e = 1[u < p]``."""
    r = rng.random(p.shape)
    return np.where(e > 0.5, r * p, p + r * (1.0 - p))


def _uniforms(obs: Mapping[str, np.ndarray] | None, p: Mapping[str, np.ndarray], rng) -> dict[str, np.ndarray]:
    """One day's uniforms of every event: abducted from the observed events, or fresh.

    Shared events get one uniform per couple; buffering on a day without an observed threat is
    unobserved, so its uniform is fresh.
    """
    shape = p["threat"].shape
    u = {}
    for k in D.EVENTS:
        if obs is None:
            x = rng.random(shape)
        elif k in BUFFERING:
            x = np.where(obs["threat"] > 0.5, _abduct(obs[k], p[k], rng), rng.random(shape))
        else:
            x = _abduct(np.broadcast_to(obs[k], shape), p[k], rng)
        if k in D.DYAD_EVENTS:
            x = np.repeat(x[..., :1], 2, axis=-1)
        u[k] = x
    return u


def _events(u: Mapping[str, np.ndarray], q: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    e = {k: (u[k] < q[k]).astype(float) for k in D.EVENTS}
    for k in BUFFERING:
        e[k] = e[k] * e["threat"]
    return e


def _step(world: _World, e: Mapping[str, np.ndarray], p: Mapping[str, Any], v: Variant) -> None:
    ev = dynamics.Events(*(e[k] for k in D.EVENTS))
    world.zs, world.zo = dynamics.step(np, v, world.zs, world.zo, ev, p)
    if v.fatigue:
        world.f = dynamics.fatigue_step(np, world.f, e["safe"], e["soft"], p["zeta"])


# ---------------------------------------------------------------------------------------------
# observables


def _expected_rating(mu: np.ndarray, sigma: Any, likert: int) -> np.ndarray:
    """Expected daily rating: the mean, or on a ``likert``-point item the expected category of
    the ordered logistic with cutpoints halfway between categories (docs/model.md section 4)."""
    if not likert:
        return mu
    cuts = np.arange(1, likert) + 0.5
    return 1.0 + sum(1.0 / (1.0 + np.exp(-(mu - c) / sigma)) for c in cuts)


def _observables(
    world: _World, e: Mapping[str, np.ndarray], p: Mapping[str, Any], likert: int
) -> dict[str, np.ndarray]:
    s, o = world.states()
    ev = dynamics.Events(*(e[k] for k in D.EVENTS))
    mu_a, mu_v = dynamics.rating_means(np, s, o, ev, p)
    ta, tv = dynamics.trait_means(np, s, o, p)
    return {
        "self_model": s,
        "others_model": o,
        "trait_anxiety": ta,
        "trait_avoidance": tv,
        "state_anxiety": _expected_rating(np.broadcast_to(mu_a, s.shape), p["sigma_A"], likert),
        "state_avoidance": _expected_rating(np.broadcast_to(mu_v, s.shape), p["sigma_V"], likert),
    }


# ---------------------------------------------------------------------------------------------
# projections


def _schedule_days(schedule: xr.Dataset | None, horizon: int, n_dyads: int) -> dict[int, dict[str, np.ndarray]]:
    """The altered world's events on the days a schedule covers, each ``(dyad, 2)``."""
    if schedule is None:
        return {}
    missing = [k for k in D.EVENTS if k not in schedule]
    if missing:
        raise ValueError(f"the event schedule lacks {', '.join(missing)}: give every event (0 where none)")
    out: dict[int, dict[str, np.ndarray]] = {}
    for t in np.asarray(schedule[D.DAY].values, dtype=int):
        if not 0 <= t < horizon:
            raise ValueError(f"the event schedule has day {t}, outside the projection's days 0..{horizon - 1}")
        day = {}
        for k in D.EVENTS:
            x = schedule[k].sel({D.DAY: t})
            x = x.expand_dims({D.PERSON: 2}, axis=-1) if D.PERSON not in x.dims else x.transpose(D.DYAD, D.PERSON)
            vals = np.asarray(x.values, dtype=float)
            if vals.shape != (n_dyads, 2) or not np.isin(vals, (0.0, 1.0)).all():
                raise ValueError(f"schedule {k} on day {t}: need 0/1 values for each of {n_dyads} couples")
            day[k] = vals
        out[int(t)] = day
    return out


def project(
    post: xr.Dataset,
    inp: ModelInputs,
    variant: Variant,
    mode: str,
    alterations: Sequence[Alteration | str] = (),
    *,
    days: int = 0,
    start: int = 0,
    schedule: xr.Dataset | None = None,
    n_draws: int | None = 200,
    seed: int | None = None,
) -> xr.DataTree:
    """Rerun each posterior draw's dynamics in the fitted and in an altered world.

    Parameters
    ----------
    post : xarray.Dataset
        Posterior of a fit of ``variant`` to the study behind ``inp``.
    inp : ModelInputs
        The study's arrays (:func:`asem_bayes.inputs.prepare_inputs`).
    variant : Variant
        The fitted variant.
    mode : {"conditional", "joint"}
        The fit's mode: the joint mode generates events with the fitted event model.
    alterations : sequence of Alteration or str
        Changes of the event process (:func:`parse_alteration`), applied from day ``start``.
    days : int
        Days projected past the end of the study.
    start : int
        First day the alterations apply to (``inp.n_days``: only after the study).
    schedule : xarray.Dataset or None
        Events of the altered world on the days it covers (variables named like the events,
        dims ``(dyad, person, day)`` or ``(dyad, day)``, ``day`` counted from the study's first).
    n_draws : int or None
        Posterior draws used, evenly thinned within chains (``None``: all).
    seed : int or None
        Seed of the abducted and future events.

    Returns
    -------
    xarray.DataTree
        Groups ``fitted``, ``altered`` and ``difference`` (altered minus fitted) with dims
        ``(chain, draw, dyad, person, day)``: working models and expected trait scores and daily
        ratings at the start of each day; the worlds also hold their events (``event_*``).
        ``day`` has the coordinate ``in_study``; ``attrs`` say what was altered and assumed.
    """
    alts = _alterations(alterations)
    T, N = inp.n_days, inp.n_dyads
    H = T + int(days)
    if days < 0 or not 0 <= start <= H:
        raise ValueError(f"need days >= 0 and 0 <= start <= {H}, got days={days}, start={start}")
    sel = _select_draws(post, n_draws)
    p = draw_params(sel, variant)
    joint = mode == "joint"
    rates = _observed_rates(inp)
    sched = _schedule_days(schedule, H, N)
    rng = np.random.default_rng(seed)
    zs0, zo0 = dynamics.latent(np, p["s0"]), dynamics.latent(np, p["o0"])
    worlds = [_World(zs0.copy(), zo0.copy(), np.zeros_like(zs0)) for _ in range(2)]
    inside = np.ones((N, T), bool) if inp.in_diary is None else inp.in_diary
    out = [{k: np.empty((H, *zs0.shape)) for k in (*OBSERVABLES, *D.EVENTS)} for _ in range(2)]
    for t in range(H):
        probs = [_probs(w, p, variant, joint, rates) for w in worlds]
        q = dict(probs[1])
        if t >= start:
            for a in alts:
                q[a.event] = a.apply(np.asarray(q[a.event]))
        obs = {k: inp.events[k][t] for k in D.EVENTS} if t < T else None
        u = _uniforms(obs, probs[0], rng)
        fitted = {k: np.broadcast_to(obs[k], zs0.shape) for k in D.EVENTS} if obs else _events(u, probs[0])
        altered = _events(u, q) if t >= start else fitted
        if t in sched:
            altered = {k: np.broadcast_to(x, zs0.shape) for k, x in sched[t].items()}
        if t < T and not inside.all():  # days outside a couple's diary have no events
            keep = inside[:, t][None, :, None]
            altered = {k: np.where(keep, x, 0.0) for k, x in altered.items()}
        for world, e, store in zip(worlds, (fitted, altered), out, strict=True):
            for k, x in _observables(world, e, p, inp.likert).items():
                store[k][t] = x
            for k in D.EVENTS:
                store[k][t] = e[k]
            _step(world, e, p, variant)
    return _projection_tree(sel, inp, out, alts, mode, T, H, start, seed, schedule is not None)


def _projection_tree(sel, inp, out, alts, mode, T, H, start, seed, scheduled) -> xr.DataTree:
    nc, nd = sel.sizes["chain"], sel.sizes["draw"]
    coords = {
        "chain": sel["chain"].values,
        "draw": sel["draw"].values,
        D.DYAD: inp.coords[D.DYAD],
        D.PERSON: inp.coords[D.PERSON],
        D.DAY: np.arange(H),
        "in_study": (D.DAY, np.arange(H) < T),
    }
    dims = ("chain", "draw", *D.PERSON_DAY_DIMS)

    def dataset(store: dict[str, np.ndarray], events: bool) -> xr.Dataset:
        names = (*OBSERVABLES, *(D.EVENTS if events else ()))
        data = {}
        for k in names:
            x = store[k].transpose(1, 2, 3, 0).reshape(nc, nd, *store[k].shape[2:], H)
            data[f"event_{k}" if k in D.EVENTS else k] = (dims, x.astype(np.int8) if k in D.EVENTS else x)
        return xr.Dataset(data, coords=coords)

    fitted, altered = dataset(out[0], True), dataset(out[1], True)
    diff = dataset({k: out[1][k] - out[0][k] for k in OBSERVABLES}, False)
    what = [a.describe() for a in alts] + (["event schedule given"] if scheduled else [])
    attrs = {
        "alterations": "; ".join(what) or "none",
        "alterations_from_day": int(start),
        "study_days": int(T),
        "mode": mode,
        "seed": "none" if seed is None else str(seed),
        "events": "fitted event model" if mode == "joint" else "each person's observed rates (events do not "
        "answer the working models)",
    }
    tree = xr.DataTree.from_dict({"fitted": fitted, "altered": altered, "difference": diff})
    tree.attrs.update(attrs)
    return tree


def forecast(
    post: xr.Dataset,
    inp: ModelInputs,
    variant: Variant,
    mode: str,
    days: int,
    *,
    n_draws: int | None = 200,
    seed: int | None = None,
) -> xr.Dataset:
    """Each person's working models, trait scores and daily ratings ``days`` past the study.

    The uncertainty holds the posterior's and the future events' (drawn by the fitted event
    model in the joint mode, at each person's observed rates in the conditional mode).

    Returns
    -------
    xarray.Dataset
        The fitted world of :func:`project` without alterations, days ``0 .. n_days + days - 1``.
    """
    if days < 1:
        raise ValueError(f"a forecast needs days >= 1, got {days}")
    tree = project(post, inp, variant, mode, days=days, n_draws=n_draws, seed=seed)
    ds = tree["fitted"].to_dataset()
    ds.attrs.update(tree.attrs)
    return ds


def _summary_rows(observable: str, cols: Mapping[str, xr.DataArray], by: str) -> pd.DataFrame:
    """One summary row (``by="average"``) or one per person, indexed by the observable first."""
    cols = {c: x.drop_vars([n for n in x.coords if n not in x.dims]) for c, x in cols.items()}
    if by == "average":
        return pd.DataFrame({c: [float(x)] for c, x in cols.items()}, index=pd.Index([observable], name="observable"))
    return pd.concat({observable: xr.Dataset(cols).to_dataframe()}, names=["observable"])


def summarize_projection(
    tree: xr.DataTree, *, day: int | None = None, by: str = "average", prob: float = 0.9
) -> pd.DataFrame:
    """Fitted and altered values and their difference on one day, with intervals.

    Parameters
    ----------
    tree : xarray.DataTree
        A :func:`project` result.
    day : int or None
        The day summarised (default: the last one).
    by : {"average", "person"}
        Average over persons first (the population's answer) or one row per person.
    prob : float
        Probability of the central intervals.

    Returns
    -------
    pandas.DataFrame
        One row per observable (and person), columns ``fitted``, ``altered``, ``difference`` (posterior
        means) and the difference's interval ``lower``/``upper``.
    """
    if by not in ("average", "person"):
        raise ValueError(f"by must be 'average' or 'person', got {by!r}")
    t = int(tree["fitted"][D.DAY].values[-1]) if day is None else int(day)
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    rows = []
    for k in OBSERVABLES:
        f, a, d = (tree[g][k].sel({D.DAY: t}) for g in ("fitted", "altered", "difference"))
        if by == "average":
            f, a, d = (x.mean((D.DYAD, D.PERSON)) for x in (f, a, d))
        sample = ("chain", "draw")
        q = d.quantile([lo, hi], dim=sample)
        cols = {"fitted": f.mean(sample), "altered": a.mean(sample), "difference": d.mean(sample),
                "lower": q.sel(quantile=lo, drop=True), "upper": q.sel(quantile=hi, drop=True)}  # fmt: skip
        rows.append(_summary_rows(k, cols, by))
    return pd.concat(rows)


def summarize_forecast(ds: xr.Dataset, *, by: str = "average", prob: float = 0.9) -> pd.DataFrame:
    """The forecast's last day beside the study's last day, with the forecast's interval.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`forecast` result.
    by : {"average", "person"}
        Average over persons first or one row per person.
    prob : float
        Probability of the central interval.

    Returns
    -------
    pandas.DataFrame
        Rows per observable (and person); columns ``end_of_study``, ``forecast`` (posterior means),
        ``lower`` and ``upper`` (the forecast's interval).
    """
    if by not in ("average", "person"):
        raise ValueError(f"by must be 'average' or 'person', got {by!r}")
    T = int(ds.attrs["study_days"])
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    sample = ("chain", "draw")
    rows = []
    for k in OBSERVABLES:
        end, last = ds[k].isel({D.DAY: T - 1}), ds[k].isel({D.DAY: -1})
        if by == "average":
            end, last = end.mean((D.DYAD, D.PERSON)), last.mean((D.DYAD, D.PERSON))
        q = last.quantile([lo, hi], dim=sample)
        cols = {"end_of_study": end.mean(sample), "forecast": last.mean(sample),
                "lower": q.sel(quantile=lo, drop=True), "upper": q.sel(quantile=hi, drop=True)}  # fmt: skip
        rows.append(_summary_rows(k, cols, by))
    return pd.concat(rows)


def plot_projection(
    tree: xr.DataTree,
    observable: str = "trait_anxiety",
    *,
    dyad: Any = None,
    person: Any = None,
    ax: Any = None,
) -> Any:
    """Fan chart of the fitted and the altered world over the days (median, 50% and 90% bands).

    Parameters
    ----------
    tree : xarray.DataTree
        A :func:`project` result.
    observable : str
        One of ``self_model``, ``others_model``, ``trait_anxiety``, ``trait_avoidance``,
        ``state_anxiety``, ``state_avoidance``.
    dyad, person : label or None
        One person's trajectories; ``None`` averages over every person of the study.
    ax : matplotlib Axes or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if observable not in OBSERVABLES:
        raise ValueError(f"observable must be one of {', '.join(OBSERVABLES)}, got {observable!r}")
    if (dyad is None) != (person is None):
        raise ValueError("give both dyad and person for one person's trajectories, or neither for the average")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 4))
    days = tree["fitted"][D.DAY].values
    for group, colour, label in (("fitted", "tab:blue", "fitted world"), ("altered", "tab:orange", "altered world")):
        x = tree[group][observable]
        x = x.mean((D.DYAD, D.PERSON)) if dyad is None else x.sel({D.DYAD: dyad, D.PERSON: person})
        q = x.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim=("chain", "draw")).values
        ax.fill_between(days, q[0], q[4], color=colour, alpha=0.15, lw=0)
        ax.fill_between(days, q[1], q[3], color=colour, alpha=0.3, lw=0)
        ax.plot(days, q[2], color=colour, label=f"{label} (median, 50% and 90% bands)")
    study_days = int(tree.attrs["study_days"])
    if study_days < len(days):
        ax.axvline(study_days - 0.5, color="0.3", ls="--", lw=1)
        ax.text(study_days - 0.5, 1.0, " end of study", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    who = "average over persons" if dyad is None else f"dyad {dyad}, person {person}"
    title = f"{observable.replace('_', ' ')} ({who}); altered: {tree.attrs['alterations']}"
    ax.set_title(textwrap.fill(title, 90), fontsize=9)
    ax.set_xlabel("day")
    ax.set_ylabel(observable.replace("_", " "))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="best")
    return fig


# ---------------------------------------------------------------------------------------------
# attribution

CHANNELS: dict[str, tuple[str, ...]] = {
    "confidence": ("confidence",),
    "dependence": ("dependence",),
    "threats": ("threat",),
    "buffering": BUFFERING,
}
"""Channels of the attribution and the events each one removes when it is switched off."""


def _replay_end(p, events: Mapping[str, np.ndarray], v: Variant, off: Iterable[str], in_diary) -> tuple:
    """Working models after the study's last day with the events of channels ``off`` removed."""
    removed = {e for c in off for e in CHANNELS[c]}
    zs, zo = dynamics.latent(np, p["s0"]), dynamics.latent(np, p["o0"])
    for t in range(next(iter(events.values())).shape[0]):
        day = {k: (np.zeros_like(events[k][t]) if k in removed else events[k][t]) for k in D.EVENTS}
        zs, zo = dynamics.step(np, v, zs, zo, dynamics.Events(*(day[k] for k in D.EVENTS)), p)
    return np.tanh(zs), np.tanh(zo)


def attribution(post: xr.Dataset, inp: ModelInputs, variant: Variant, *, n_draws: int | None = 200) -> xr.Dataset:
    """How much of each person's fitted change came from each channel (Shapley decomposition).

    The fitted dynamics are replayed on the observed events with every subset of the channels
    (:data:`CHANNELS`) switched off. A channel's share is its Shapley value: its effect of being
    switched on, averaged over the orders in which the channels could be added. The dynamics are
    not additive (learning rates depend on the working models, buffering acts only on threats), so
    removing one channel at a time would not add up; Shapley values add up exactly to the fitted
    change, since with every channel off the working models do not move.

    Parameters
    ----------
    post : xarray.Dataset
        Posterior of a fit of ``variant``.
    inp : ModelInputs
        The study's arrays.
    variant : Variant
        The fitted variant.
    n_draws : int or None
        Posterior draws used (``None``: all).

    Returns
    -------
    xarray.Dataset
        ``self_model``, ``others_model``, ``trait_anxiety`` and ``trait_avoidance``: each
        channel's share of the change from the start of the study to the end of its last day,
        dims ``(chain, draw, dyad, person, channel)``; and ``*_total``, the fitted change.
    """
    sel = _select_draws(post, n_draws)
    p = draw_params(sel, variant)
    names = list(CHANNELS)
    n = len(names)
    ends = {}
    for r in range(n + 1):
        for on in itertools.combinations(names, r):
            off = [c for c in names if c not in on]
            ends[frozenset(on)] = _replay_end(p, inp.events, variant, off, inp.in_diary)
    s0, o0 = ends[frozenset()]
    shares = {k: np.zeros((*s0.shape, n)) for k in ("self_model", "others_model")}
    for i, c in enumerate(names):
        rest = [x for x in names if x != c]
        for r in range(n):
            weight = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
            for subset in itertools.combinations(rest, r):
                a, b = ends[frozenset(subset) | {c}], ends[frozenset(subset)]
                shares["self_model"][..., i] += weight * (a[0] - b[0])
                shares["others_model"][..., i] += weight * (a[1] - b[1])
    s1, o1 = ends[frozenset(names)]
    totals = {"self_model": s1 - s0, "others_model": o1 - o0}
    # Trait scores are linear in the working models, so their shares follow (m - l * change).
    lA, lV = p["l_A"][..., None], p["l_V"][..., None]
    shares["trait_anxiety"], totals["trait_anxiety"] = -lA * shares["self_model"], -p["l_A"] * totals["self_model"]
    shares["trait_avoidance"] = -lV * shares["others_model"]
    totals["trait_avoidance"] = -p["l_V"] * totals["others_model"]
    return _attribution_dataset(sel, inp, shares, totals, names)


def _attribution_dataset(sel, inp, shares, totals, names) -> xr.Dataset:
    nc, nd = sel.sizes["chain"], sel.sizes["draw"]
    dims = ("chain", "draw", *D.PERSON_DIMS)
    data = {}
    for k, x in shares.items():
        data[k] = ((*dims, "channel"), x.reshape(nc, nd, *x.shape[1:]))
        data[f"{k}_total"] = (dims, totals[k].reshape(nc, nd, *totals[k].shape[1:]))
    coords = {"chain": sel["chain"].values, "draw": sel["draw"].values, "channel": names}
    coords.update({k: inp.coords[k] for k in D.PERSON_DIMS})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs["decomposition"] = (
        "Shapley values over the channels confidence, dependence, threats and buffering: each channel's "
        "effect of being switched on, averaged over the orders of adding the channels; they add up to the "
        "fitted change from the start of the study to the end of its last day"
    )
    return ds


# ---------------------------------------------------------------------------------------------
# effects in the units of the questionnaires

EFFECT_SCENARIOS: dict[str, dict[str, float]] = {
    "10 confidence-building days": {"confidence": 1.0},
    "10 positive-dependence days": {"dependence": 1.0},
    "10 threats, unbuffered": {"threat": 1.0},
    "10 threats, buffered (safe and soft)": {"threat": 1.0, "safe": 1.0, "soft": 1.0},
}


def observable_effects(
    post: xr.Dataset, variant: Variant, *, percentiles: Sequence[float] = (10, 90), n_days: int = 10
) -> xr.Dataset:
    """Expected change of the trait scores after ``n_days`` days of one kind, for a person at given
    percentiles of security.

    A person at percentile ``q`` starts with both working models at the ``q``-th percentile of
    the population's initial distribution (``tanh(mu + sd * z_q)``) and has the population's mean
    learning rates; the days of :data:`EFFECT_SCENARIOS` follow one another with no other events.
    The assimilation biases show as the difference between the percentiles.

    Returns
    -------
    xarray.Dataset
        ``trait_anxiety`` and ``trait_avoidance`` changes (questionnaire units), dims
        ``(chain, draw, scenario, percentile)``.
    """
    from scipy.stats import norm

    z = norm.ppf(np.asarray(percentiles, dtype=float) / 100.0)
    p = {k: post[k].values for k in post.data_vars if post[k].dims == ("chain", "draw")}
    for pp in variant.person_params:  # the population's typical person
        if pp.name not in ("s0", "o0"):
            p[pp.name] = p[pp.mu]
    ex = (...,) + (None,) * 2
    p = {k: v[ex] for k, v in p.items()}  # (chain, draw, 1, 1): scenario x percentile broadcast
    zs = p["s0_mu"] + p["s0_sd"] * z
    zo = p["o0_mu"] + p["o0_sd"] * z
    out = {"trait_anxiety": [], "trait_avoidance": []}
    for events in EFFECT_SCENARIOS.values():
        ev = dynamics.Events(*(np.float64(events.get(k, 0.0)) for k in D.EVENTS))
        a, b = zs, zo
        for _ in range(n_days):
            a, b = dynamics.step(np, variant, a, b, ev, p)
        out["trait_anxiety"].append(-p["l_A"] * (np.tanh(a) - np.tanh(zs)))
        out["trait_avoidance"].append(-p["l_V"] * (np.tanh(b) - np.tanh(zo)))
    dims = ("chain", "draw", "scenario", "percentile")
    coords = {"chain": post["chain"].values, "draw": post["draw"].values,
              "scenario": list(EFFECT_SCENARIOS), "percentile": list(percentiles)}  # fmt: skip
    data = {k: (dims, np.concatenate(x, axis=2)) for k, x in out.items()}
    return xr.Dataset(data, coords=coords, attrs={"days": n_days})


# What each cell of the effects table rests on: the learning rate and bias of the working model the
# scenario moves, the ripple or buffering share it passes through, and the trait's loading.
EFFECT_NEEDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("10 confidence-building days", "trait_anxiety"): ("theta_pos_s", "psi_pos_s", "l_A"),
    ("10 confidence-building days", "trait_avoidance"): ("theta_pos_o", "psi_pos_o", "rho", "l_V"),
    ("10 positive-dependence days", "trait_anxiety"): ("theta_pos_s", "psi_pos_s", "rho", "l_A"),
    ("10 positive-dependence days", "trait_avoidance"): ("theta_pos_o", "psi_pos_o", "l_V"),
    ("10 threats, unbuffered", "trait_anxiety"): ("theta_neg_s", "psi_neg_s", "l_A"),
    ("10 threats, unbuffered", "trait_avoidance"): ("theta_neg_o", "psi_neg_o", "l_V"),
    ("10 threats, buffered (safe and soft)", "trait_anxiety"): ("theta_neg_s", "psi_neg_s", "e_safe", "l_A"),
    ("10 threats, buffered (safe and soft)", "trait_avoidance"): ("theta_neg_o", "psi_neg_o", "e_soft", "l_V"),
}


def _rests_on_prior(needs: Iterable[str], uninformed: set[str]) -> list[str]:
    """The names in ``needs`` the data cannot inform (a variant's shared ``theta_pos`` counts for
    ``theta_pos_s`` and ``theta_pos_o``; a person-level rate's population ``_mu`` counts for it)."""
    out = []
    for n in needs:
        base = n[:-2] if n.endswith(("_s", "_o")) and n.startswith("theta") else n
        if {n, f"{n}_mu", base, f"{base}_mu"} & uninformed:
            out.append(n)
    return out


def format_effects(effects: xr.Dataset, prob: float = 0.9, uninformed: Iterable[str] = ()) -> list[str]:
    """Lines of text: each scenario's expected trait changes at each security percentile.

    A cell that rests on a parameter the data cannot inform (``uninformed``, e.g. from
    :func:`asem_bayes.diagnostics.uninformed`) is not printed as an estimate: it names them.
    """
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    missing = set(uninformed)
    lines = [
        "Effects in questionnaire units (expected change of the trait scores; posterior median and "
        f"{prob:.0%} interval; a person at the given percentile of initial security, mean learning rates):"
    ]
    for sc in effects["scenario"].values:
        cells = []
        for trait in ("trait_anxiety", "trait_avoidance"):
            short = trait.split("_")[1]
            prior = _rests_on_prior(EFFECT_NEEDS.get((str(sc), trait), ()), missing)
            if prior:
                cells.append(f"{short}: not informed by these data ({', '.join(prior)})")
                continue
            for q in effects["percentile"].values:
                x = effects[trait].sel(scenario=sc, percentile=q).values.reshape(-1)
                a, m, b = np.quantile(x, [lo, 0.5, hi])
                cells.append(f"{short} @{q:g}th {m:+.2f} [{a:+.2f}, {b:+.2f}]")
        lines.append(f"  {sc}: " + "; ".join(cells))
    return lines
