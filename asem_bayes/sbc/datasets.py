"""SBC datasets: draw true values from the prior and simulate a study from them.

A generator is a small, picklable, frozen dataclass with ``generate(seed) -> (truth, data)``
and ``spec() -> dict`` (the settings that determine its output, stored with the run so a
resumed run can check it is the same run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the project's convention
from asem_bayes.registry import get_variant
from asem_bayes.schema import Variant

__all__ = ["Generator", "AsemGenerator", "NormalGenerator", "DEFAULT_EXOGENOUS_EVENTS"]

# Fixed daily event rates for SBC of the conditional mode (docs/model.md section 9): close to the
# rates the event model gives at the reference parameters, but independent of the inferred
# parameters, so conditioning on the events loses nothing.
DEFAULT_EXOGENOUS_EVENTS: dict[str, float] = {
    "threat": 0.25,
    "safe": 0.55,
    "soft": 0.5,
    "confidence": 0.25,
    "dependence": 0.27,
}


class Generator(Protocol):
    """What :func:`asem_bayes.sbc.run_sbc` needs from a dataset generator."""

    def generate(self, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
        """``(truth, data)``: true parameter values and the simulated data."""
        ...

    def spec(self) -> dict[str, Any]:
        """Settings that determine the output, JSON-able, with the key ``class``."""
        ...

    def prior_var(self) -> dict[str, float]:
        """Prior variance of each parameter (for posterior contraction)."""
        ...


@dataclass(frozen=True)
class AsemGenerator:
    """Prior draw -> :func:`asem_bayes.simulate` for one ASEM variant and study design.

    Parameters
    ----------
    variant : str
        Registered variant name.
    n_dyads, n_days : int
        Study size.
    mode : {"conditional", "joint"} or None
        Which model mode the data are meant to calibrate. ``conditional`` simulates events at
        fixed exogenous rates (``exogenous_events``, default :data:`DEFAULT_EXOGENOUS_EVENTS`) so
        that they carry no information about the inferred parameters; ``joint`` uses the full
        simulator, whose events depend on the working models. Default: the variant's default
        mode (:func:`asem_bayes.model.default_mode`).
    exogenous_events : mapping or None
        Event rates for the conditional mode.
    likert : int or None
        Rating scale (None: continuous).
    wave_days : tuple of int or None
        Trait-questionnaire days (None: first and last day).
    missing_items : float
        Probability that a daily rating is missing (missing at random, so calibration holds).
    residuals : tuple of {"ar1", "partner"}
        Residual option of the variant (docs/model.md section 17; default none).
    person_correlation : tuple of str
        Person-level parameters with correlated effects (docs/model.md section 18; default none);
        their correlations are drawn from the LKJ prior with the other parameters.
    """

    variant: str = "asem"
    n_dyads: int = 50
    n_days: int = 28
    mode: str | None = None
    exogenous_events: Mapping[str, float] | None = field(default=None)
    likert: int | None = None
    wave_days: tuple[int, ...] | None = None
    missing_items: float = 0.0
    residuals: tuple[str, ...] = ()
    person_correlation: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from asem_bayes.model import MODES, default_mode

        v = get_variant(self.variant)
        mode = self.mode or default_mode(v)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        object.__setattr__(self, "mode", mode)
        full = self.resolved()  # validates the options
        object.__setattr__(self, "residuals", tuple(full.residuals))
        object.__setattr__(self, "person_correlation", tuple(full.person_correlation))
        if mode == "joint" and self.exogenous_events is not None:
            raise ValueError(
                "the joint mode scores events with the event model, so its SBC must simulate events "
                "from that model: leave exogenous_events unset"
            )
        if mode == "conditional":
            rates = dict(DEFAULT_EXOGENOUS_EVENTS if self.exogenous_events is None else self.exogenous_events)
            object.__setattr__(self, "exogenous_events", rates)
        if self.wave_days is not None:
            object.__setattr__(self, "wave_days", tuple(int(d) for d in self.wave_days))

    def design(self):
        """The :class:`asem_bayes.Design` the simulations use."""
        from asem_bayes.simulate import Design

        return Design(
            wave_days=self.wave_days,
            likert=self.likert,
            missing_items=self.missing_items,
            exogenous_events=self.exogenous_events,
        )

    def resolved(self) -> Variant:
        """The variant with this generator's options."""
        from asem_bayes.sbc.backends import with_options

        return with_options(self.variant, self.residuals, self.person_correlation)

    def generate(self, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
        from asem_bayes.simulate import simulate

        ds = simulate(self.resolved(), self.n_dyads, self.n_days, params="prior", design=self.design(), seed=seed)
        is_param = [n for n, v in ds.data_vars.items() if v.attrs.get("role") == D.ROLE_PARAMETER]
        truth = ds[is_param]
        data = ds.drop_vars(is_param)
        return truth, data

    def prior_var(self) -> dict[str, float]:
        """Prior variance of each population parameter (Monte Carlo, fixed seed), for contraction."""
        from asem_bayes.person_correlation import prior_values

        rng = np.random.default_rng(0)
        v = self.resolved()
        out = {p.name: float(np.var(p.prior.draw(rng, 100_000))) for p in v.params}
        if v.correlation_names:  # the LKJ prior's marginals
            draws = [prior_values(v, rng) for _ in range(4000)]
            out |= {n: float(np.var([d[n] for d in draws])) for n in v.correlation_names}
        return out

    def spec(self) -> dict[str, Any]:
        from asem_bayes.sbc.backends import options_spec

        d = asdict(self)
        d["wave_days"] = None if self.wave_days is None else list(self.wave_days)
        for k in ("residuals", "person_correlation"):
            del d[k]
        return {"class": type(self).__name__, **d, **options_spec(self.residuals, self.person_correlation)}


@dataclass(frozen=True)
class NormalGenerator:
    """Toy conjugate problem for testing the SBC machinery.

    Each parameter ``p`` in ``params`` is drawn from Normal(0, 1) and observed ``n_obs`` times
    with Normal(p, 1) noise (data variable ``y_<p>``). :class:`~asem_bayes.sbc.MockBackend`
    samples its exact posterior.
    """

    n_obs: int = 10
    params: tuple[str, ...] = ("mu", "nu")

    def generate(self, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
        rng = np.random.default_rng(seed)
        truth = xr.Dataset({p: ((), rng.standard_normal()) for p in self.params})
        data = xr.Dataset(
            {f"y_{p}": (("obs",), float(truth[p]) + rng.standard_normal(self.n_obs)) for p in self.params}
        )
        return truth, data

    def prior_var(self) -> dict[str, float]:
        return {p: 1.0 for p in self.params}

    def spec(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "n_obs": self.n_obs, "params": list(self.params)}
