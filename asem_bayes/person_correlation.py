"""Correlated person-level effects: an LKJ prior on the correlation of chosen person parameters.

An option of every variant (docs/model.md section 18). By default each person-level parameter
has its own independent standardised effect, ``value = link(mu + X @ beta + sd * z)`` with
``z ~ Normal(0, 1)``. With ``person_correlation=("s0", "o0", ...)`` the named parameters'
effects of one person are jointly normal,

    (z_1, ..., z_k)[person] ~ MvNormal(0, R),        R ~ LKJ(eta = 2),

while each parameter keeps its own population mean, spread, covariates and link. The PyMC model
is non-centred: ``raw ~ Normal(0, 1)`` with dims ``(dyad, person, person_param)`` times the
Cholesky factor ``L`` of ``R`` (``pm.LKJCorr``, which samples ``L`` through PyMC's
``CholeskyCorrTransform``), ``z = raw @ L.T``. The correlations are reported as scalar
deterministics ``corr_<a>_<b>`` (one per pair, ``a`` before ``b`` in the variant's order of
person parameters), in the parameters' own sign convention: where a spread is sampled folded
(:mod:`asem_bayes.coords`: ``sd = |y|``, ``z = sign(y) * w``) the sampler's correlation of
``w`` is multiplied by the signs. The names ``corr_person_chol`` and ``corr_person_raw``
(:data:`SAMPLER_ONLY`) are the sampler's coordinates; a fit's posterior holds the correlations
and every parameter's standardised effects ``<name>_z`` instead.

The simulator draws the named effects with the true correlation, ``corr_<a>_<b>`` among its
parameters (reference value :data:`REFERENCE` for every pair; ``params="prior"`` draws ``R``
from the LKJ prior), and records them with the other true parameters.

Everything here is numpy except :func:`model_effects`, which builds the PyMC variables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from asem_bayes import dims as D
from asem_bayes.schema import Variant

__all__ = [
    "ETA",
    "REFERENCE",
    "CHOL",
    "RAW",
    "SAMPLER_ONLY",
    "PersonCorrelationError",
    "check_person_correlation",
    "with_person_correlation",
    "parse_names",
    "model_coords",
    "reference_values",
    "prior_values",
    "correlation_matrix",
    "draw_lkj",
    "correlate",
    "decorrelate",
    "model_effects",
    "sampler_values",
]

ETA = 2.0
"""Shape of the LKJ prior on the correlation matrix: density proportional to ``det(R) ** (eta - 1)``.
2 puts its mode at independence and zero density at +-1; each correlation of a 2 x 2 matrix is
then ``2 * Beta(2, 2) - 1`` (the prior of the residual correlations of section 17)."""

REFERENCE = 0.3
"""The simulator's default correlation of every pair of named effects."""

CHOL = "corr_person_chol"
RAW = "corr_person_raw"
SAMPLER_ONLY = (CHOL, RAW)
"""The model's variables that exist for the sampler only (dropped from a fit's posterior)."""


class PersonCorrelationError(ValueError):
    """A ``person_correlation`` that names no person parameter of the variant, or too few, or
    correlation values that are missing or do not form a correlation matrix."""


def check_person_correlation(names: Iterable[str] | str | None, variant: Variant) -> tuple[str, ...]:
    """The names validated against ``variant``, in the order of its person parameters.

    Raises
    ------
    PersonCorrelationError
        For a name that is not a person-level parameter of ``variant`` (the message lists the
        variant's), a repeated name, or a single name (a correlation needs two).
    """
    if names is None:
        return ()
    given = [names] if isinstance(names, str) else list(names)
    if not given:
        return ()
    allowed = variant.person_param_names
    bad = [n for n in given if n not in allowed]
    if bad:
        raise PersonCorrelationError(
            f"person_correlation names {bad}, not person-level parameter(s) of variant {variant.name!r}; "
            f"its person-level parameters are {allowed}"
        )
    if len(set(given)) != len(given):
        raise PersonCorrelationError(f"person_correlation names a parameter twice: {given}")
    if len(given) < 2:
        raise PersonCorrelationError(
            f"person_correlation needs at least 2 person-level parameters to correlate, got {given}; "
            f"choose from {allowed}"
        )
    return tuple(n for n in allowed if n in given)


def with_person_correlation(variant: Variant, names: Iterable[str] | str | None) -> Variant:
    """The variant whose named person-level effects are correlated (empty: independent effects)."""
    return dataclasses.replace(variant, person_correlation=check_person_correlation(names, variant))


def parse_names(text: str | None) -> tuple[str, ...]:
    """``"s0,o0"`` (a fit's ``attrs["person_correlation"]``, the CLI's value) as ``("s0", "o0")``."""
    return tuple(n.strip() for n in str(text or "").split(",") if n.strip())


def model_coords(variant: Variant) -> dict[str, list[str]]:
    """The model's coordinates of the correlated effects (none without the option)."""
    names = list(variant.person_correlation)
    return {D.PERSON_PARAM: names, D.PERSON_PARAM_BIS: names} if names else {}


def reference_values(variant: Variant) -> dict[str, float]:
    """Every correlation of the option at :data:`REFERENCE` (the simulator's default)."""
    return dict.fromkeys(variant.correlation_names, REFERENCE)


def prior_values(variant: Variant, rng: np.random.Generator, eta: float = ETA) -> dict[str, float]:
    """The option's correlations ``corr_<a>_<b>`` drawn jointly from their ``LKJ(eta)`` prior (none
    without the option; ``rng`` is then untouched)."""
    k = len(variant.person_correlation)
    if not k:
        return {}
    R = draw_lkj(rng, k, eta)
    return dict(zip(variant.correlation_names, (float(x) for x in R[np.triu_indices(k, 1)]), strict=True))


def correlation_matrix(variant: Variant, values: Mapping[str, Any]) -> np.ndarray:
    """The correlation matrix ``R`` (k, k) of the option's effects from ``corr_<a>_<b>`` in ``values``.

    Raises
    ------
    PersonCorrelationError
        When a correlation is missing or the values are not a positive-definite correlation matrix.
    """
    names = variant.person_correlation
    missing = [c for c in variant.correlation_names if c not in values]
    if missing:
        raise PersonCorrelationError(f"no value for the correlation(s) {missing} of person_correlation={names}")
    k = len(names)
    R = np.eye(k)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    for (i, j), c in zip(pairs, variant.correlation_names, strict=True):
        R[i, j] = R[j, i] = float(values[c])
    if np.linalg.eigvalsh(R)[0] <= 1e-10:
        raise PersonCorrelationError(
            f"the correlations {dict(zip(variant.correlation_names, R[np.triu_indices(k, 1)], strict=True))} "
            "do not form a positive-definite correlation matrix"
        )
    return R


def draw_lkj(rng: np.random.Generator, n: int, eta: float = ETA) -> np.ndarray:
    """One ``n x n`` correlation matrix from ``LKJ(eta)`` (the onion method of Lewandowski,
    Kurowicka and Joe 2009, as PyMC's ``LKJCorr`` draws it)."""
    beta = eta - 1.0 + n / 2.0
    L = np.zeros((n, n))
    L[0, 0] = 1.0
    r = 2.0 * rng.beta(beta, beta) - 1.0
    L[1, :2] = r, np.sqrt(1.0 - r**2)
    for m in range(2, n):
        beta -= 0.5
        y = rng.beta(m / 2.0, beta)
        u = rng.standard_normal(m)
        L[m, :m] = np.sqrt(y) * u / np.linalg.norm(u)
        L[m, m] = np.sqrt(1.0 - y)
    return L @ L.T


def correlate(raw: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Effects ``z = raw @ L.T`` (..., k) with correlation ``R = L L^T`` from independent standard normals."""
    return raw @ np.linalg.cholesky(R).T


def decorrelate(z: np.ndarray, R: np.ndarray) -> np.ndarray:
    """The inverse of :func:`correlate`: ``raw`` (..., k) with ``raw @ L.T = z``."""
    L = np.linalg.cholesky(R)
    flat = z.reshape(-1, z.shape[-1])
    return np.linalg.solve(L, flat.T).T.reshape(z.shape)


def model_effects(variant: Variant, signs: Mapping[str, Any], eta: float = ETA) -> dict[str, Any]:
    """Inside a PyMC model context: the sampler's correlated effects ``w`` (dyad, person) of the
    option's parameters, by name, and the deterministics ``corr_<a>_<b>``.

    ``signs`` holds ``sign(y)`` of each parameter whose spread is folded (its effect is then
    ``z = sign(y) * w``); the reported correlations are those of ``z``. The model needs the coords
    of :func:`model_coords`.
    """
    import pymc as pm

    names = variant.person_correlation
    chol = pm.LKJCorr(CHOL, n=len(names), eta=eta, dims=(D.PERSON_PARAM, D.PERSON_PARAM_BIS))
    raw = pm.Normal(RAW, 0.0, 1.0, dims=(*D.PERSON_DIMS, D.PERSON_PARAM))
    w = raw @ chol.T
    sign = [signs.get(n, 1.0) for n in names]
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    for (i, j), c in zip(pairs, variant.correlation_names, strict=True):
        pm.Deterministic(c, sign[i] * sign[j] * (chol[i] * chol[j]).sum())
    return {n: w[..., j] for j, n in enumerate(names)}


def sampler_values(variant: Variant, z: Mapping[str, np.ndarray], values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The sampler's coordinates of the option at standardised effects ``z`` (name: (dyad, person))
    and correlations ``values["corr_<a>_<b>"]``: the Cholesky factor ``L`` and ``raw``.

    Taken where every folded spread's ``y`` is positive (``w = z``), as
    :func:`asem_bayes.model.point_from_params` does.
    """
    R = correlation_matrix(variant, values)
    stacked = np.stack([np.asarray(z[n], dtype=float) for n in variant.person_correlation], axis=-1)
    return {CHOL: np.linalg.cholesky(R), RAW: decorrelate(stacked, R)}
