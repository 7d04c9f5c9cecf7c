"""Extensions of the daily ratings' residuals: carry-over (AR(1)) and the partners' same-day correlation.

Each is an option of every variant (docs/model.md section 17). :func:`with_residuals` adds an
option's parameters to a variant's schema, so the simulator, the PyMC model and the numpy
log-likelihood read the same parameters; the maths they share (the conditional density of one
residual given the one it is linked to, and one day's residuals of the generative process) is
here, generic over the array module (numpy or PyTensor).

A daily rating's **residual** is ``e = y - mu``, with ``mu`` its mean of docs/model.md section 4.

- ``"ar1"``: each person's residuals of each daily rating follow a stationary AR(1) with marginal
  SD ``sigma`` (``sigma_A``, ``sigma_V``) and coefficient ``phi_A``, ``phi_V``. Given the
  person's last observed residual ``k`` days earlier, ``e_t ~ Normal(phi^k e_{t-k},
  sigma^2 (1 - phi^(2k)))``; the first observation is ``Normal(0, sigma^2)``.
- ``"partner"``: the two partners' residuals of the same rating on the same day are bivariate
  normal with SDs ``sigma`` and correlation ``corr_A``, ``corr_V``. Person 1's residual given
  person 0's same-day one: ``Normal(corr e_0, sigma^2 (1 - corr^2))``; where one partner alone
  rated, the univariate ``Normal(0, sigma^2)``.

Both at once are refused: with missing days their exact likelihood needs a filter over each
couple's days (the state of both partners' residuals), which this module does not implement.
Likert (ordinal) daily ratings are refused too: the latent residual is not observed, so the
conditional densities above do not apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from asem_bayes import dims as D
from asem_bayes.options import RESIDUALS, Residual
from asem_bayes.schema import SB, Param, Variant

__all__ = [
    "RESIDUAL_PARAMS",
    "RATING_PARAMS",
    "ResidualError",
    "check_residuals",
    "with_residuals",
    "refuse_likert",
    "coefficient",
    "conditional",
    "innovate",
    "option_values",
]


class ResidualError(ValueError):
    """A residual option that is unknown, or not supported for the data or in combination."""


# A symmetric ScaledBeta(2, 2) on (-1, 1): mean 0, SD 0.45, density 0 at +-1. Its mode 0 is the
# model without the option, it does not presume the sign of carry-over or of the partners'
# correlation, and it keeps the sampler away from +-1, where the conditional variance vanishes.
# For a correlation it is the marginal of a 2 x 2 LKJ(2).
_PRIOR = SB(2.0, 2.0)

RESIDUAL_PARAMS: dict[Residual, tuple[Param, ...]] = {
    "ar1": (
        Param(
            "phi_A",
            _PRIOR,
            (-1.0, 1.0),
            0.3,
            "carry-over: lag-1 autocorrelation of a person's daily state-anxiety residuals",
            "observation",
        ),
        Param(
            "phi_V",
            _PRIOR,
            (-1.0, 1.0),
            0.3,
            "carry-over: lag-1 autocorrelation of a person's daily state-avoidance residuals",
            "observation",
        ),
    ),
    "partner": (
        Param(
            "corr_A",
            _PRIOR,
            (-1.0, 1.0),
            0.3,
            "partners' same-day correlation of their daily state-anxiety residuals",
            "observation",
        ),
        Param(
            "corr_V",
            _PRIOR,
            (-1.0, 1.0),
            0.3,
            "partners' same-day correlation of their daily state-avoidance residuals",
            "observation",
        ),
    ),
}
"""The parameters each option adds to a variant's schema."""

RATING_PARAMS: dict[str, dict[str, str]] = {
    "state_anxiety": {"sigma": "sigma_A", "ar1": "phi_A", "partner": "corr_A"},
    "state_avoidance": {"sigma": "sigma_V", "ar1": "phi_V", "partner": "corr_V"},
}
"""Each daily rating's residual SD and option parameters, by role."""


def check_residuals(residuals: Iterable[str] | str | None) -> tuple[Residual, ...]:
    """The residual options validated, without repeats, in the order of :data:`RESIDUALS`.

    Raises
    ------
    ResidualError
        For an unknown name, or for ``"ar1"`` with ``"partner"`` (not supported).
    """
    if residuals is None:
        return ()
    names = {residuals} if isinstance(residuals, str) else set(residuals)
    unknown = sorted(names - set(RESIDUALS))
    if unknown:
        raise ResidualError(f"unknown residual option(s) {unknown}; choose from {RESIDUALS}")
    if len(names) > 1:
        raise ResidualError(
            "residuals 'ar1' and 'partner' together are not supported: with missing days their exact "
            "likelihood needs a filter over each couple's days, which is not implemented; choose one "
            "(docs/model.md section 17)"
        )
    return tuple(r for r in RESIDUALS if r in names)


def with_residuals(variant: Variant, residuals: Iterable[str] | str | None) -> Variant:
    """The variant with the residual options ``residuals`` (and no others) in its schema.

    ``residuals`` empty gives the variant without options, the registered one's schema.
    """
    chosen = check_residuals(residuals)
    added = {p.name for group in RESIDUAL_PARAMS.values() for p in group}
    params = tuple(p for p in variant.params if p.name not in added)
    params += tuple(p for r in chosen for p in RESIDUAL_PARAMS[r])
    return dataclasses.replace(variant, params=params, residuals=chosen)


def refuse_likert(residuals: Iterable[str], likert: int | None, ratings: Iterable[str] = D.DAILY_RATINGS) -> None:
    """Raise :class:`ResidualError` when residual options meet Likert daily ratings.

    Parameters
    ----------
    residuals : iterable of str
        The options chosen.
    likert : int or None
        The daily ratings' Likert scale (0 or None: continuous).
    ratings : iterable of str
        The daily ratings present, named in the message.
    """
    chosen = tuple(residuals)
    if chosen and likert:
        names = ", ".join(repr(r) for r in ratings)
        raise ResidualError(
            f"residuals={chosen} are not supported for Likert (ordinal 1..{likert}) daily ratings "
            f"{names}: the exact likelihood needs the continuous residual (docs/model.md section 17)"
        )


def coefficient(kind: Residual, value: Any, gap: Any) -> Any:
    """The link coefficient of each observation: ``phi ** gap`` (``"ar1"``, ``gap`` days after the
    person's last observed rating) or ``corr`` (``"partner"``; ``gap`` unused)."""
    return value**gap if kind == "ar1" else value + 0.0 * gap


def conditional(xp: Any, resid: Any, prev: Any, coef: Any) -> tuple[Any, Any]:
    """Conditional mean shift and SD factor of each residual given the one it is linked to.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``pytensor.tensor``.
    resid : array
        Residuals ``y - mu`` of one rating's observations, ``(..., n_obs)``.
    prev : int array
        Position (in the last axis) of the linked observation, -1 where there is none.
    coef : array
        Link coefficients (:func:`coefficient`), broadcasting against ``resid``.

    Returns
    -------
    shift, factor
        ``e | e_prev ~ Normal(shift, (sigma * factor)^2)`` with ``shift = c e_prev`` and
        ``factor = sqrt(1 - c^2)``, ``c`` the coefficient where linked and 0 elsewhere.
    """
    c = xp.where(prev >= 0, coef, 0.0)
    return c * resid[..., prev], xp.sqrt(1.0 - c**2)


def innovate(
    z: np.ndarray,
    sigma: Any,
    *,
    phi: Any = None,
    corr: Any = None,
    prev: np.ndarray | None = None,
) -> np.ndarray:
    """One day's residuals ``(..., person)`` of the generative process from standard normals ``z``.

    ``corr`` correlates the two partners (last axis) on the day; ``phi`` carries ``prev``, the
    previous day's residuals, over (``prev=None``: the first day, from the stationary marginal
    ``Normal(0, sigma^2)``). Without options this is ``sigma * z``.
    """
    if corr is not None:
        first, second = z[..., :1], z[..., 1:]  # person 0, person 1 (keeping the axis)
        z = np.concatenate([first, corr * first + np.sqrt(1.0 - corr**2) * second], axis=-1)
    if phi is None or prev is None:
        return sigma * z
    return phi * prev + sigma * np.sqrt(1.0 - phi**2) * z


def option_values(residuals: Iterable[str], p: Mapping[str, Any], rating: str) -> dict[str, Any]:
    """Keyword arguments of :func:`innovate` for ``rating`` from parameter values ``p``."""
    roles = RATING_PARAMS[rating]
    chosen = tuple(residuals)
    return {
        "phi": p[roles["ar1"]] if "ar1" in chosen else None,
        "corr": p[roles["partner"]] if "partner" in chosen else None,
    }
