"""Where the chains start: population parameters at the centre of their priors, person effects jittered.

nutpie's and PyMC's default start adds Uniform(-1, 1) jitter to every free variable in its
unconstrained space. For this model that puts some chains far in a prior's tail: the
between-person spread of a log learning rate (prior half-normal with scale 0.3) can start at 1,
and an assimilation bias (prior sd 0.8) at -2.8. From there a chain can settle in a minor local
mode of the self-model's dynamics (large spread, strong biases; a log density about 150 below
the main mode) where NUTS needs 1023 leapfrog steps per draw, and stay there
(docs/performance.md, "Where the chains start"). So every chain starts with the population
parameters at their priors' support points (the centre each prior is built around) and only the
person-level standardised effects (dims dyad, person) jittered: chains still start apart, in
every person's direction, but inside the region the priors call plausible.

In the unconstrained space (nutpie, the JAX path) the population parameters also get a small
Uniform(-0.1, 0.1) jitter: nutpie refuses a start where any gradient component is exactly zero,
which a prior's centre gives to every parameter the likelihood does not read (the event model's
in the conditional mode).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from asem_bayes import dims as D

__all__ = ["POPULATION_JITTER", "initial_point_fn", "jittered_rvs"]

#: half-width of the population parameters' start jitter in the unconstrained space
POPULATION_JITTER = 0.1


def jittered_rvs(model: Any) -> set[Any]:
    """The free random variables that get start jitter: the person-level ones (dim ``dyad``)."""
    dims = model.named_vars_to_dims
    return {rv for rv in model.free_RVs if D.DYAD in (dims.get(rv.name) or ())}


def initial_point_fn(model: Any, *, transformed: bool = True) -> Callable[[Any], dict[str, np.ndarray]]:
    """A seeded, thread-safe function giving one chain's start (the rule in this module's docstring).

    Parameters
    ----------
    model : pymc.Model
        The model built by :func:`asem_bayes.model.build_model`.
    transformed : bool
        Values keyed by the value variables in their unconstrained space (what nutpie takes) or, if
        False, by the random variables on their own scale (what ``pymc.sample(initvals=...)`` takes;
        then the population parameters are exactly at their support points).

    Returns
    -------
    callable
        ``fn(seed) -> dict[str, ndarray]``.
    """
    from pymc.initial_point import make_initial_point_fn

    jittered = jittered_rvs(model)
    fn = make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=jittered, return_transformed=transformed
    )
    person = {rv.name for rv in jittered}  # no transform: value variable = RV name
    lock = threading.Lock()  # nutpie calls it from several chains' threads

    def locked(seed: Any = None) -> dict[str, np.ndarray]:
        with lock:
            point = fn(seed)
        if not transformed:
            return point
        rng = np.random.default_rng(seed)
        return {k: x if k in person else x + rng.uniform(-POPULATION_JITTER, POPULATION_JITTER, np.shape(x))
                for k, x in point.items()}

    return locked
