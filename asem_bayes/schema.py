"""Parameter schemas: each variant declares its parameters once, here-shaped.

The simulator draws and validates parameters from the schema and the PyMC model builds its
priors from the same schema, so a parameter has one name, one prior and one meaning everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asem_bayes.dims import COVARIATE, PERSON_DIMS

__all__ = ["Prior", "Param", "PersonParam", "Variant", "SchemaError", "correlation_name"]


class SchemaError(ValueError):
    """A parameter value or name does not fit the variant's schema."""


_PRIOR_ARGS = {
    "Normal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "LogNormal": ("mu", "sigma"),
    "Beta": ("alpha", "beta"),
    "ScaledBeta": ("alpha", "beta"),
}


@dataclass(frozen=True)
class Prior:
    """A prior distribution named as in PyMC, with its keyword arguments.

    Parameters
    ----------
    dist : str
        One of ``Normal``, ``HalfNormal``, ``LogNormal``, ``Beta`` (PyMC class names) or
        ``ScaledBeta``: ``2 * Beta(alpha, beta) - 1`` on (-1, 1) (a correlation; with
        ``alpha = beta = eta`` the marginal of a 2 x 2 LKJ(eta) correlation).
    kwargs : dict
        The distribution's parameters, e.g. ``{"mu": 0.0, "sigma": 1.0}``.
    """

    dist: str
    kwargs: Mapping[str, float]

    def __post_init__(self) -> None:
        if self.dist not in _PRIOR_ARGS:
            raise SchemaError(f"unknown prior distribution {self.dist!r}; use one of {sorted(_PRIOR_ARGS)}")
        if set(self.kwargs) != set(_PRIOR_ARGS[self.dist]):
            raise SchemaError(f"prior {self.dist} needs arguments {_PRIOR_ARGS[self.dist]}, got {sorted(self.kwargs)}")

    def draw(self, rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draw from the prior with numpy (same parameterisation as PyMC)."""
        k = self.kwargs
        if self.dist == "Normal":
            return rng.normal(k["mu"], k["sigma"], size)
        if self.dist == "HalfNormal":
            return np.abs(rng.normal(0.0, k["sigma"], size))
        if self.dist == "LogNormal":
            return rng.lognormal(k["mu"], k["sigma"], size)
        if self.dist == "ScaledBeta":
            return 2.0 * rng.beta(k["alpha"], k["beta"], size) - 1.0
        return rng.beta(k["alpha"], k["beta"], size)

    def pymc(self, name: str, **kw: Any):
        """Create the PyMC random variable for this prior inside a model context."""
        import pymc as pm

        if self.dist == "ScaledBeta":
            return _scaled_beta(name, self.kwargs["alpha"], self.kwargs["beta"], **kw)
        return getattr(pm, self.dist)(name, **self.kwargs, **kw)

    def __str__(self) -> str:
        args = ", ".join(f"{v:g}" for v in self.kwargs.values())
        return f"{self.dist}({args})"


def _scaled_beta(name: str, alpha: float, beta: float, **kw: Any):
    """``2 * Beta(alpha, beta) - 1`` as a PyMC variable on (-1, 1), sampled through an interval
    transform (PyMC derives its density from the Beta's)."""
    import pymc as pm
    from pymc.distributions.transforms import Interval

    def dist(a: Any, b: Any, size: Any) -> Any:
        return 2.0 * pm.Beta.dist(a, b, size=size) - 1.0

    return pm.CustomDist(name, alpha, beta, dist=dist, transform=Interval(-1.0, 1.0), **kw)


def correlation_name(a: str, b: str) -> str:
    """Name of the correlation between the standardised effects of person parameters ``a`` and
    ``b`` (docs/model.md section 18): ``corr_<a>_<b>``."""
    return f"corr_{a}_{b}"


def N(mu: float, sigma: float) -> Prior:  # noqa: N802 - reads like the maths
    return Prior("Normal", {"mu": mu, "sigma": sigma})


def HN(sigma: float) -> Prior:  # noqa: N802
    return Prior("HalfNormal", {"sigma": sigma})


def LN(mu: float, sigma: float) -> Prior:  # noqa: N802
    return Prior("LogNormal", {"mu": mu, "sigma": sigma})


def B(alpha: float, beta: float) -> Prior:  # noqa: N802
    return Prior("Beta", {"alpha": alpha, "beta": beta})


def SB(alpha: float, beta: float) -> Prior:  # noqa: N802
    """``2 * Beta(alpha, beta) - 1`` on (-1, 1)."""
    return Prior("ScaledBeta", {"alpha": alpha, "beta": beta})


@dataclass(frozen=True)
class Param:
    """A population-level parameter.

    Parameters
    ----------
    name : str
        Name used in the simulator, the model and the posterior.
    prior : Prior
        Default prior of the PyMC model, also used for prior draws (SBC).
    bounds : tuple of float
        Range within which the variant's maths is guaranteed well defined (states stay in
        (-1, 1), probabilities in (0, 1)); the property tests draw from it and the simulator
        rejects values outside it.
    default : float
        Reference value used when simulating without explicit parameters.
    meaning : str
        One line in the theory's words.
    group : str
        ``initial``, ``dynamics``, ``observation`` or ``events``.
    """

    name: str
    prior: Prior
    bounds: tuple[float, float]
    default: float
    meaning: str
    group: str
    dims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lo, hi = self.bounds
        if not lo < self.default < hi:
            raise SchemaError(f"{self.name}: default {self.default} outside bounds {self.bounds}")


@dataclass(frozen=True)
class PersonParam:
    """A person-level parameter, hierarchical and non-centred.

    ``value[dyad, person] = link(mu + X[dyad, person] @ beta + sd * z[dyad, person])`` with
    ``z ~ Normal(0, 1)``; ``mu`` and ``sd`` name population parameters of the same variant. The
    covariate term ``X @ beta`` exists only when a fit or a simulation names covariates for this
    parameter (docs/model.md, "Covariate effects on person-level parameters"); its coefficients
    are called :attr:`effect_name`, have dims ``(effect_dim,)`` and the prior
    ``Normal(0, effect_sd)`` per unit of the covariate, on the linear predictor's scale.
    """

    name: str
    mu: str
    sd: str
    meaning: str
    group: str
    link: str = "identity"  # or "tanh" (initial states live in (-1, 1))
    dims: tuple[str, ...] = PERSON_DIMS
    effect_sd: float = 0.5

    def __post_init__(self) -> None:
        if not self.effect_sd > 0:
            raise SchemaError(f"{self.name}: effect_sd must be positive, got {self.effect_sd}")

    @property
    def effect_name(self) -> str:
        """Name of the covariate coefficients of this parameter (``beta_<name>``)."""
        return f"beta_{self.name}"

    @property
    def effect_dim(self) -> str:
        """Dim of the covariate coefficients (``covariate_<name>``), labelled by covariate names."""
        return f"{COVARIATE}_{self.name}"

    @property
    def effect_prior(self) -> Prior:
        """Prior of each covariate coefficient: ``Normal(0, effect_sd)``."""
        return N(0.0, self.effect_sd)

    def apply_link(self, xp: Any, x: Any) -> Any:
        """Map the linear predictor to the parameter's scale with array module ``xp``."""
        return xp.tanh(x) if self.link == "tanh" else x

    def standardise(self, value: Any, params: Mapping[str, Any], shift: Any = 0.0) -> np.ndarray:
        """The standardised ``z`` of given person-level values (numpy), the inverse of the
        non-centred construction at the population values in ``params``; ``shift`` is the
        covariate term ``X @ beta`` (dyad, person) of the linear predictor, if any."""
        x = np.asarray(value, dtype=float)
        lin = np.arctanh(x) if self.link == "tanh" else x
        return (lin - float(params[self.mu]) - np.asarray(shift, dtype=float)) / float(params[self.sd])


@dataclass(frozen=True)
class Variant:
    """One competing ASEM variant: its parameter schema and its one-day dynamics.

    Parameters
    ----------
    name : str
        Registry name (``stable``, ``uniform``, ``asem``, ``buffer_enhances``, ``asem_fatigue``).
    description : str
        One line for listings.
    params : tuple of Param
        Population-level parameters.
    person_params : tuple of PersonParam
        Person-level parameters (hierarchical).
    evidence : callable or None
        ``evidence(xp, ev, p) -> (pos_s, neg_s, pos_o, neg_o)``; None for variants whose working
        models never change.
    log_rates : callable or None
        ``log_rates(xp, s, o, p) -> (lpos_s, lneg_s, lpos_o, lneg_o)``, the log learning rates
        (the assimilation biases live here).
    fatigue : bool
        Whether partner fatigue lowers buffering in the event model.
    residuals : tuple of str
        Extensions of the daily ratings' residuals this schema includes (``"ar1"``,
        ``"partner"``; docs/model.md section 17), with their parameters among ``params``. Empty
        for the registered variants; :func:`asem_bayes.residuals.with_residuals` adds them.
    person_correlation : tuple of str
        Person-level parameters whose standardised effects are correlated across persons (an LKJ
        prior on their correlation matrix; docs/model.md section 18), in the order of
        ``person_params``; empty (independent effects) for the registered variants.
        :func:`asem_bayes.person_correlation.with_person_correlation` sets it.
    """

    name: str
    description: str
    params: tuple[Param, ...]
    person_params: tuple[PersonParam, ...]
    evidence: Callable[..., tuple[Any, Any, Any, Any]] | None
    log_rates: Callable[..., tuple[Any, Any, Any, Any]] | None
    fatigue: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    residuals: tuple[str, ...] = ()
    person_correlation: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [p.name for p in self.params] + [p.name for p in self.person_params]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SchemaError(f"variant {self.name!r} declares parameters twice: {sorted(dup)}")
        pop = {p.name for p in self.params}
        for pp in self.person_params:
            for ref in (pp.mu, pp.sd):
                if ref not in pop:
                    raise SchemaError(f"{self.name}: person parameter {pp.name} refers to unknown {ref!r}")

    @property
    def changes(self) -> bool:
        """Whether working models move at all (False for ``stable``)."""
        return self.evidence is not None

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def person_param_names(self) -> list[str]:
        return [p.name for p in self.person_params]

    @property
    def correlation_names(self) -> list[str]:
        """Names of the correlations among the ``person_correlation`` effects, one per pair in the
        order of ``person_correlation`` (``corr_<a>_<b>``, ``a`` before ``b``)."""
        names = self.person_correlation
        return [correlation_name(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise SchemaError(f"variant {self.name!r} has no population parameter {name!r}")

    def defaults(self) -> dict[str, float]:
        """Reference population values."""
        return {p.name: p.default for p in self.params}

    def draw_prior(self, rng: np.random.Generator) -> dict[str, float]:
        """One joint draw of the population parameters from their priors."""
        return {p.name: float(p.prior.draw(rng)) for p in self.params}

    def check(self, values: Mapping[str, Any]) -> None:
        """Raise :class:`SchemaError` for unknown names or population values out of bounds
        (a correlation of ``person_correlation`` must lie in (-1, 1))."""
        known = set(self.param_names) | set(self.person_param_names) | set(self.correlation_names)
        unknown = sorted(set(values) - known)
        if unknown:
            raise SchemaError(f"variant {self.name!r} has no parameter(s) {unknown}; known: {sorted(known)}")
        for p in self.params:
            if p.name in values:
                v = np.asarray(values[p.name], dtype=float)
                lo, hi = p.bounds
                if not np.all(np.isfinite(v)) or np.any(v <= lo) or np.any(v >= hi):
                    raise SchemaError(f"parameter {p.name}={values[p.name]!r} outside its bounds {p.bounds}")
        for name in self.correlation_names:
            if name in values and not -1.0 < float(values[name]) < 1.0:
                raise SchemaError(f"correlation {name}={values[name]!r} outside (-1, 1)")
