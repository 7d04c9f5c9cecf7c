"""The ASEM process model, written once and generic over the array module.

Every function takes the array module ``xp`` first: :mod:`numpy` in the simulator,
:mod:`pytensor.tensor` in the PyMC model, :mod:`jax.numpy` on an accelerator. Arrays carry the
person role as their *last* axis (size 2), so the partner's value is ``x[..., ::-1]`` and any
leading axes (posterior draws, days, dyads) broadcast. Population parameters may be scalars or
arrays that broadcast against the states.

Timing within a day ``t`` (see ``docs/model.md``): ratings and event probabilities use the
states at the *start* of day ``t``; day ``t``'s events then move the states to the start of
day ``t + 1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Events(NamedTuple):
    """One day's events, each broadcastable to ``(..., 2)`` (received by the person).

    ``threat`` and ``dependence`` are shared by the dyad; pass them with a trailing axis of
    size 1 or already repeated for both partners.
    """

    threat: Any
    safe: Any
    soft: Any
    confidence: Any
    dependence: Any


def partner(x: Any) -> Any:
    """The partner's value of a ``(..., 2)`` array."""
    return x[..., ::-1]


def latent(xp: Any, x: Any) -> Any:
    """The unbounded latent ``z = atanh(x)`` of a working model ``x`` in (-1, 1).

    Used once, on the initial working models; the day loop carries ``z`` (see :func:`step`).
    """
    return xp.arctanh(x)


def update(xp: Any, z: Any, log_pos: Any, log_neg: Any, pos: Any, neg: Any) -> Any:
    """Add a day's evidence on the latent scale: ``z + exp(log_pos) pos - exp(log_neg) neg``.

    No pull toward either bound: a person's change depends on the state only through the
    learning rates, so every difference between secure and insecure people comes from the
    assimilation biases (docs/model.md, section 3).
    """
    return z + xp.exp(log_pos) * pos - xp.exp(log_neg) * neg


def step(xp: Any, variant: Any, zs: Any, zo: Any, ev: Events, p: Mapping[str, Any]) -> tuple[Any, Any]:
    """Latent working models of self ``zs`` and others ``zo`` at the start of the next day.

    The working models are ``s = tanh(zs)`` and ``o = tanh(zo)``; the learning rates read them
    (``log eta = theta + psi * s``), the update adds evidence to the latents. The latents are
    carried through the loop (never recovered from ``s`` by ``atanh``), so the update stays finite
    and differentiable for any run of events: it grows at most linearly in the number of days,
    with rates that are bounded for bounded ``theta`` and ``psi``.
    """
    if not variant.changes:
        return zs, zo
    pos_s, neg_s, pos_o, neg_o = variant.evidence(xp, ev, p)
    lps, lns, lpo, lno = variant.log_rates(xp, xp.tanh(zs), xp.tanh(zo), p)
    return update(xp, zs, lps, lns, pos_s, neg_s), update(xp, zo, lpo, lno, pos_o, neg_o)


def fatigue_step(xp: Any, f: Any, safe: Any, soft: Any, zeta: Any) -> Any:
    """Partner fatigue of each person *as a giver*: ``F[t+1] = (1 - zeta) F[t] + given[t]``.

    ``safe`` and ``soft`` are received, so what a person gave is what their partner received.
    """
    return (1.0 - zeta) * f + partner(safe) + partner(soft)


def _logistic(xp: Any, x: Any) -> Any:
    return 1.0 / (1.0 + xp.exp(-x))


class EventProbs(NamedTuple):
    """Event probabilities of docs/model.md section 5, shapes ``(...)`` for dyad events and
    ``(..., 2)`` for events received by a person (safe/soft are conditional on a threat)."""

    threat: Any
    safe: Any
    soft: Any
    confidence: Any
    dependence: Any


def event_logits(xp: Any, s: Any, o: Any, f: Any, p: Mapping[str, Any], fatigue: bool) -> EventProbs:
    """Logits of the event model; ``f`` is each person's fatigue as a giver (ignored if not ``fatigue``)."""
    insecurity = -(s + o) / 2.0
    sj, oj = partner(s), partner(o)
    load = p["phi"] * partner(f) if fatigue else 0.0
    return EventProbs(
        threat=p["a0"] + p["a1"] * (insecurity[..., 0] + insecurity[..., 1]),
        safe=p["b0"] + p["b1"] * sj + p["b2"] * oj - load,
        soft=p["c0"] + p["c1"] * sj + p["c2"] * oj - load,
        confidence=p["x0"] + p["x1"] * oj + p["x2"] * sj,
        dependence=p["y0"] + p["y1"] * (o[..., 0] + o[..., 1]),
    )


def event_probs(xp: Any, s: Any, o: Any, f: Any, p: Mapping[str, Any], fatigue: bool) -> EventProbs:
    """Event probabilities (logistic of :func:`event_logits`)."""
    return EventProbs(*(_logistic(xp, x) for x in event_logits(xp, s, o, f, p, fatigue)))


def reference_states(xp: Any, p: Mapping[str, Any]) -> tuple[Any, Any]:
    """The population's median initial working models, ``tanh(s0_mu)`` and ``tanh(o0_mu)``.

    Ratings are centred on them: otherwise a shift of every working model is absorbed by the
    rating intercepts (posterior correlations near 0.9 between ``s0_mu``, ``c_A_mu`` and
    ``m_A``), which NUTS samples badly.
    """
    return xp.tanh(p["s0_mu"]), xp.tanh(p["o0_mu"])


def rating_means(xp: Any, s: Any, o: Any, ev: Events, p: Mapping[str, Any]) -> tuple[Any, Any]:
    """Expected daily state anxiety and state avoidance (docs/model.md section 4, centred)."""
    s_ref, o_ref = reference_states(xp, p)
    anxiety = p["c_A"] - p["k_A"] * (s - s_ref) + ev.threat * (p["tau_A"] - p["b_safe"] * ev.safe)
    avoidance = (
        p["c_V"]
        - p["k_V"] * (o - o_ref)
        + ev.threat * (p["tau_V"] - p["b_soft"] * ev.soft)
        + p["b_backfire"] * ev.safe * xp.maximum(0.0, -o)
    )
    return anxiety, avoidance


def trait_means(xp: Any, s: Any, o: Any, p: Mapping[str, Any]) -> tuple[Any, Any]:
    """Expected trait anxiety and avoidance questionnaire scores (centred like the ratings)."""
    s_ref, o_ref = reference_states(xp, p)
    return p["m_A"] - p["l_A"] * (s - s_ref), p["m_V"] - p["l_V"] * (o - o_ref)
