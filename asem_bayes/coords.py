"""Sampling coordinates: the same posterior, in coordinates along which NUTS mixes faster.

The ratings see the latent working models only through their loadings, and the models' absolute
location and scale are informed weakly (docs/model.md, section 4, "Identification of the latent
scale"). In the schema's own coordinates that leaves long, narrow ridges that a diagonal mass
matrix cannot follow: scaling every person's deviation from the mean working model by ``c``,
dividing the loadings ``k``, ``l`` by ``c`` and raising the learning rates by ``c`` leaves the
ratings nearly unchanged (posterior correlations of 0.8-0.95 among ``k_V``, ``l_V``, ``o0_mu``,
``o0_sd`` and ``theta_pos_o_mu`` in a 100 x 56 fit). NUTS then needs many draws per effective
draw in exactly the parameters a modeller reads.

This module maps a few population parameters to *sheared* coordinates that follow those ridges.
With ``x`` a person's initial working model (``s0`` or ``o0``), ``xbar`` its mean over the
persons of the study and ``S`` their standard deviation (both functions of the initial-state
parameters and their ``z``, which stay as they are):

======================  =================================================================
schema parameter        sampling coordinate (``<name>_sc``)
======================  =================================================================
loading ``k``, ``l``    ``log k + log S``: the loading per unit of between-person spread
intercept ``c_mu``,     ``c_mu - k (xbar - x_ref)``: the intercept at the sample's mean
``m``                   working model instead of at ``x_ref = tanh(x0_mu)``
bias ``psi``            ``psi * S``: the bias per unit of between-person spread
rate mean               ``theta_mu + psi xbar + log(1 -/+ xbar) - log S``: the log rate at
``theta_mu``            the mean working model, times the gap it closes, per unit of spread
======================  =================================================================

Each schema parameter is its own coordinate plus a function of coordinates earlier in that
list or left alone, so the Jacobian of the map is triangular with ones on its diagonal except
for ``psi = psi_sc / S``: ``log |J| = -sum log S`` over the biases. The priors stay the
schema's, evaluated at the schema values (a ``Potential``), so the posterior of every schema
parameter is *exactly* the one of the schema-coordinate model; only the sampler's path
changes. ``tests/test_coords.py`` checks the density identity and the Jacobian against
autodiff. How well a shear follows its ridge only changes the speed, never the posterior.

The between-person spreads of the learning rates (``theta_*_sd``, HalfNormal priors) are
*folded*: the sampler moves a signed ``y ~ Normal(0, sigma)`` (``<sd>_signed``) with
``sd = |y|`` and person values ``mu + y * zraw`` (``<name>_zraw ~ Normal(0, 1)``), reported as
``z = sign(y) * zraw``. Since ``|y|`` is HalfNormal and ``sign(y) * zraw`` standard normal and
independent of it, the posterior of ``(sd, z)`` is the schema's; what changes is that a spread
whose posterior stays near its prior is a Gaussian for the sampler instead of the long left
tail of ``log sd`` (bulk ESS of ``theta_neg_o_sd`` 1.7 times higher in the benchmark fit, three
seeds). Well-informed spreads (``c_A_sd``, ``s0_sd``) are not folded: their two mirror modes
would be far apart.

Everything here takes the array module ``xp`` first (numpy, ``pytensor.tensor`` or
``jax.numpy``), like :mod:`asem_bayes.dynamics`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from asem_bayes.registry import get_variant
from asem_bayes.schema import Variant

__all__ = ["SamplingCoordinates", "plan", "SUFFIX", "SIGNED", "RAW_Z"]

SUFFIX = "_sc"
SIGNED = "_signed"
RAW_Z = "_zraw"
# Floor under the variance of the initial working models inside log S: it keeps the map finite
# for a degenerate design (a single dyad whose persons start alike); any smooth function of the
# unsheared coordinates gives a valid bijection, so the floor changes no posterior.
VAR_FLOOR = 1e-12
# Nominal statistics for the start values only (the sampler jitters them anyway).
_NOMINAL_LOG_S = math.log(0.25)

# One block per working model: model, initial-state person parameter, its population mean,
# loadings (daily rating, trait wave), intercepts (same order). The observation model is shared
# by every variant (models/_common.py, dynamics.rating_means / trait_means).
_OBS_BLOCKS = (
    ("s", "s0", "s0_mu", ("k_A", "l_A"), ("c_A_mu", "m_A")),
    ("o", "o0", "o0_mu", ("k_V", "l_V"), ("c_V_mu", "m_V")),
)
# The four learning-rate slots of ``Variant.log_rates``: (working model, sign of the evidence).
_SLOTS = (("s", +1), ("s", -1), ("o", +1), ("o", -1))


@dataclass(frozen=True)
class _Rate:
    """A person-level log learning rate's population mean and the rate slots it sets."""

    theta_mu: str
    slots: tuple[int, ...]


@dataclass(frozen=True)
class _Bias:
    """A population assimilation bias and the slots whose slope in the state it sets."""

    psi: str
    slots: tuple[int, ...]


@dataclass(frozen=True)
class SamplingCoordinates:
    """Which population parameters of a variant are sampled in sheared coordinates, and how.

    Build it with :func:`plan`. ``sheared`` lists the schema parameters concerned; each is
    sampled as ``<name>_sc`` (:data:`SUFFIX`) and kept in the model as a deterministic of that
    name.
    """

    variant: str
    folded: tuple[tuple[str, str], ...]  # (spread with a HalfNormal prior, its person parameter)
    loadings: tuple[tuple[str, str], ...]  # (parameter, working model)
    intercepts: tuple[tuple[str, str, str, str], ...]  # (parameter, model, its loading, x0_mu)
    biases: tuple[_Bias, ...]
    rates: tuple[_Rate, ...]

    @property
    def sheared(self) -> tuple[str, ...]:
        """Schema parameters given by sampling coordinates, in the order they are computed."""
        return (
            *(b.psi for b in self.biases),
            *(n for n, _ in self.loadings),
            *(n for n, *_ in self.intercepts),
            *(r.theta_mu for r in self.rates),
        )

    def coord_names(self) -> tuple[str, ...]:
        """Names of the sheared sampling coordinates (``<parameter>_sc``)."""
        return tuple(n + SUFFIX for n in self.sheared)

    def sampler_only_names(self) -> tuple[str, ...]:
        """Every variable that exists only for the sampler: the sheared coordinates, the signed
        spreads ``<sd>_signed`` and their raw standardised person values ``<name>_zraw``."""
        return (
            *self.coord_names(),
            *(sd + SIGNED for sd, _ in self.folded),
            *(pp + RAW_Z for _, pp in self.folded),
        )

    # ------------------------------------------------------------------------------------
    # the map and its inverse

    def to_params(self, xp: Any, coords: Mapping[str, Any], p: MutableMapping[str, Any]) -> Any:
        """Fill ``p`` with the sheared schema parameters; return their log prior plus ``log |J|``.

        ``p`` must already hold every other population parameter the shears read and the
        person-level initial working models ``s0``, ``o0`` (arrays over persons). The returned
        term is the log density of the sheared parameters' priors *in the schema model's
        unconstrained coordinates* (``log k`` for a LogNormal loading) plus the log-Jacobian of
        the map, so that adding it to the rest of the model gives the schema model's density.
        """
        v = get_variant(self.variant)
        stats = {m: _state_stats(xp, p[x0]) for m, x0, *_ in _OBS_BLOCKS}
        lp = 0.0
        for b in self.biases:
            log_s = _mean([stats[_SLOTS[k][0]][1] for k in b.slots])
            p[b.psi] = coords[b.psi + SUFFIX] / xp.exp(log_s)
            lp = lp + _prior_logp(xp, v, b.psi, p[b.psi]) - log_s
        for name, m in self.loadings:
            log_x = coords[name + SUFFIX] - stats[m][1]
            p[name] = xp.exp(log_x)
            lp = lp + _prior_logp(xp, v, name, log_x)
        for name, m, load, mu0 in self.intercepts:
            p[name] = coords[name + SUFFIX] + p[load] * (stats[m][0] - xp.tanh(p[mu0]))
            lp = lp + _prior_logp(xp, v, name, p[name])
        shifts = self._rate_shifts(xp, stats, p)
        for r in self.rates:
            p[r.theta_mu] = coords[r.theta_mu + SUFFIX] + _mean([shifts[k] for k in r.slots])
            lp = lp + _prior_logp(xp, v, r.theta_mu, p[r.theta_mu])
        return lp

    def from_params(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Sampling coordinates at given schema parameters (numpy): the inverse of :meth:`to_params`.

        ``params`` holds population values and the person-level ``s0``, ``o0``.
        """
        stats = {m: _state_stats(np, np.asarray(params[x0], dtype=float)) for m, x0, *_ in _OBS_BLOCKS}
        return self._inverse({k: np.asarray(x, dtype=float) for k, x in params.items()}, stats)

    def start_values(self) -> dict[str, float]:
        """Start values of the coordinates: the priors' centres at nominal statistics of the
        initial working models (mean ``tanh`` of the prior mean, spread 0.25)."""
        v = get_variant(self.variant)
        p = {n: _centre(v, n) for n in self.sheared}
        for name, _ in self.loadings:  # a LogNormal prior's centre is that of its log
            p[name] = math.exp(p[name])
        stats = {}
        for m, _x0, mu0, *_ in _OBS_BLOCKS:
            p[mu0] = _centre(v, mu0)
            stats[m] = (math.tanh(p[mu0]), _NOMINAL_LOG_S)
        return {k: float(x) for k, x in self._inverse(p, stats).items()}

    def _inverse(self, p: Mapping[str, Any], stats: Mapping[str, tuple[Any, Any]]) -> dict[str, np.ndarray]:
        """Sampling coordinates at schema values ``p``, given the initial working models' statistics."""
        out: dict[str, np.ndarray] = {}
        for b in self.biases:
            log_s = _mean([stats[_SLOTS[k][0]][1] for k in b.slots])
            out[b.psi + SUFFIX] = p[b.psi] * np.exp(log_s)
        for name, m in self.loadings:
            out[name + SUFFIX] = np.log(p[name]) + stats[m][1]
        for name, m, load, mu0 in self.intercepts:
            out[name + SUFFIX] = p[name] - p[load] * (stats[m][0] - np.tanh(p[mu0]))
        shifts = self._rate_shifts(np, stats, p)
        for r in self.rates:
            out[r.theta_mu + SUFFIX] = p[r.theta_mu] - _mean([shifts[k] for k in r.slots])
        return {k: np.asarray(x, dtype=float) for k, x in out.items()}

    def _rate_shifts(self, xp: Any, stats: Mapping[str, tuple[Any, Any]], p: Mapping[str, Any]) -> dict[int, Any]:
        """Per slot: ``log S - psi xbar - log(1 -/+ xbar)`` (what ``theta_mu`` adds to its coordinate)."""
        slope: dict[int, Any] = {}
        for b in self.biases:
            for k in b.slots:
                slope[k] = slope.get(k, 0.0) + p[b.psi]
        out = {}
        for k, (m, sign) in enumerate(_SLOTS):
            mean, log_s = stats[m]
            out[k] = log_s - slope.get(k, 0.0) * mean - xp.log1p(-sign * mean)
        return out


def _mean(xs: list[Any]) -> Any:
    return xs[0] if len(xs) == 1 else sum(xs[1:], xs[0]) / len(xs)


def _state_stats(xp: Any, x0: Any) -> tuple[Any, Any]:
    """Mean and log standard deviation of the initial working models over all persons."""
    mean = x0.mean()
    log_s = 0.5 * xp.log(((x0 - mean) ** 2).mean() + VAR_FLOOR)
    return mean, log_s


def _prior_logp(xp: Any, v: Variant, name: str, u: Any) -> Any:
    """Log prior density of ``name`` at ``u``, its value in the schema model's unconstrained
    coordinate (the value for a Normal prior, its log for a LogNormal one)."""
    prior = v.param(name).prior
    mu, sigma = prior.kwargs["mu"], prior.kwargs["sigma"]
    return -0.5 * ((u - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2.0 * math.pi)


def _centre(v: Variant, name: str) -> float:
    """A prior's centre in the unconstrained coordinate (mu of a Normal, or of a LogNormal's log)."""
    return float(v.param(name).prior.kwargs["mu"])


def _probe_slots(v: Variant) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Which rate slots each person-level log rate sets (intercept) and each population
    parameter tilts (slope in the state), read off ``log_rates`` with unit inputs."""
    dyn_pp = [pp for pp in v.person_params if pp.group == "dynamics"]
    dyn_pop = [q.name for q in v.params if q.group == "dynamics"]
    zero = {pp.name: 0.0 for pp in dyn_pp} | dict.fromkeys(dyn_pop, 0.0)

    def rates(p, x):
        return np.asarray([np.broadcast_to(r, ()) for r in v.log_rates(np, x, x, p)], dtype=float)

    intercept, slope = {}, {}
    for pp in dyn_pp:
        r = rates({**zero, pp.name: 1.0}, 0.0)
        if not np.all(np.isin(r, (0.0, 1.0))):
            raise ValueError(f"{v.name}: log rate {pp.name} enters log_rates with a coefficient other than 1")
        intercept[pp.mu] = tuple(int(k) for k in np.flatnonzero(r))
    for name in dyn_pop:
        r0, r1 = rates({**zero, name: 1.0}, 0.0), rates({**zero, name: 1.0}, 1.0)
        if np.any(r0 != 0.0):
            raise ValueError(f"{v.name}: population parameter {name} shifts log_rates directly")
        d = r1 - r0
        if np.any(d != 0.0):
            if not np.all(np.isin(d, (0.0, 1.0))):
                raise ValueError(f"{v.name}: bias {name} enters log_rates with a coefficient other than 1")
            slope[name] = tuple(int(k) for k in np.flatnonzero(d))
    return intercept, slope


@functools.cache
def _plan(name: str) -> SamplingCoordinates:
    v = get_variant(name)
    have = set(v.param_names)
    loadings, intercepts = [], []
    for m, x0, mu0, loads, cepts in _OBS_BLOCKS:
        for load, cept in zip(loads, cepts, strict=True):
            if {load, cept, mu0} <= have and x0 in v.person_param_names:
                loadings.append((load, m))
                intercepts.append((cept, m, load, mu0))
    # Spreads of the person-level learning rates: weakly informed by a diary, so folded.
    folded = tuple(
        (pp.sd, pp.name)
        for pp in v.person_params
        if pp.group == "dynamics" and v.param(pp.sd).prior.dist == "HalfNormal"
    )
    biases, rates = [], []
    if v.changes:
        intercept, slope = _probe_slots(v)
        biases = [_Bias(n, s) for n, s in slope.items() if s]
        rates = [_Rate(n, s) for n, s in intercept.items() if s]
    plan_ = SamplingCoordinates(name, folded, tuple(loadings), tuple(intercepts), tuple(biases), tuple(rates))
    for n in plan_.sheared:
        dist = v.param(n).prior.dist
        want = "LogNormal" if n in {q for q, _ in loadings} else "Normal"
        if dist != want:
            raise ValueError(f"{v.name}: sheared parameter {n} needs a {want} prior, has {dist}")
    return plan_


def plan(variant: str | Variant) -> SamplingCoordinates:
    """The sampling coordinates of a registered variant (see the module docstring)."""
    return _plan(get_variant(variant).name)
