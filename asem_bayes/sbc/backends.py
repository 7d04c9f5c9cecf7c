"""SBC backends: how a dataset is fitted (sampler settings), separate from how it was made.

A backend is a picklable frozen dataclass with

- ``spec()``: the settings that determine its output (stored with the run),
- ``prepare(example_data)``: the expensive, once-per-process part (compiling the model),
  returning a fitter whose ``fit(data, seed)`` gives ``(posterior, diagnostics)``: the
  *thinned* posterior draws (dims ``chain``, ``draw``, ...) of everything the test quantities
  need, and a Dataset of scalar sampler diagnostics,
- ``quantities()``: the default test quantities,
- ``n_ranks``: the number of thinned draws (ranks lie in ``0..n_ranks``).

:class:`NutpieBackend` fits ASEM variants with :class:`asem_bayes.model.CompiledModel`;
:class:`MockBackend` draws from the exact (or a deliberately wrong) posterior of the toy
problem of :class:`~asem_bayes.sbc.datasets.NormalGenerator`, so the calibration machinery
can be tested in milliseconds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes.registry import get_variant
from asem_bayes.sbc.quantities import AsemLogLik, NormalLogLik, Parameters, TrajectoryChange
from asem_bayes.schema import Variant

__all__ = ["NutpieBackend", "MockBackend", "informed_params", "with_options", "options_spec"]


def informed_params(variant: str | Variant, mode: str) -> list[str]:
    """Population parameters the data inform in a mode (with the variant's options: the
    residual parameters and the correlations of correlated person-level effects).

    In the conditional mode the event-model parameters (group ``events``) do not enter the
    likelihood, their posterior is their prior, and ranking them tests nothing.
    """
    v = get_variant(variant)
    return [p.name for p in v.params if mode == "joint" or p.group != "events"] + list(v.correlation_names)


def with_options(variant: str, residuals: Sequence[str] = (), person_correlation: Sequence[str] = ()) -> Variant:
    """The registered variant with its options (docs/model.md sections 17 and 18)."""
    from asem_bayes.model import resolve_variant

    return resolve_variant(variant, residuals, person_correlation)


def options_spec(residuals: Sequence[str], person_correlation: Sequence[str]) -> dict[str, list[str]]:
    """The options for a run's stored settings; none when unset, so runs stored before the
    options existed still resume."""
    out = {"residuals": list(residuals), "person_correlation": list(person_correlation)}
    return {k: v for k, v in out.items() if v}


def asem_quantities(variant: str | Variant, mode: str, missing_events: str = "error") -> list[Any]:
    """Default SBC test quantities of an ASEM variant: the informed population parameters, the
    log-likelihood of the data, and (for variants whose working models move) their change."""
    qs: list[Any] = [Parameters(informed_params(variant, mode)), AsemLogLik(variant, mode, missing_events)]
    if get_variant(variant).changes:
        qs.append(TrajectoryChange(variant, missing_events))
    return qs


def _thin(post: xr.Dataset, thin: int) -> xr.Dataset:
    post = post.isel(draw=slice(None, None, thin))
    return post.assign_coords(draw=np.arange(post.sizes["draw"]), chain=np.arange(post.sizes["chain"]))


@dataclass(frozen=True)
class NutpieBackend:
    """Fit an ASEM variant with :class:`asem_bayes.model.CompiledModel` (compiled once per process).

    Parameters
    ----------
    variant : str
        Variant to fit.
    mode : {"conditional", "joint"} or None
        Model mode (default: the variant's default mode).
    sampler : str
        NUTS implementation (see :data:`asem_bayes.model.SAMPLERS`).
    draws, tune, chains : int
        Sampler settings per fit.
    thin : int
        Keep every ``thin``-th draw for ranking: SBC ranks assume roughly independent draws.
    target_accept : float
        NUTS target acceptance.
    cores : int or None
        Threads per fit (default: one per chain).
    missing_events : str
        Missing-event policy of the model (see :func:`asem_bayes.inputs.prepare_inputs`).
    residuals : tuple of {"ar1", "partner"}
        Residual option of the variant (docs/model.md section 17; default none).
    person_correlation : tuple of str
        Person-level parameters with correlated effects (docs/model.md section 18; default none).
    compiled : CompiledModel or None
        A model already compiled in this process for the same design (e.g. a test fixture);
        only usable when the run executes inline (``workers=0``). Not part of :meth:`spec`.
    """

    variant: str = "asem"
    mode: str | None = None
    sampler: str = "nutpie"
    draws: int = 500
    tune: int = 500
    chains: int = 2
    thin: int = 10
    target_accept: float = 0.8
    cores: int | None = None
    missing_events: str = "error"
    residuals: tuple[str, ...] = ()
    person_correlation: tuple[str, ...] = ()
    compiled: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        from asem_bayes.model import MODES, default_mode

        v = get_variant(self.variant)
        mode = self.mode or default_mode(v)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if v.fatigue and mode != "joint":
            raise ValueError(f"variant {v.name!r} needs mode='joint' (fatigue lives in the event model)")
        object.__setattr__(self, "variant", v.name)
        object.__setattr__(self, "mode", mode)
        full = with_options(v.name, self.residuals, self.person_correlation)  # validates the options
        object.__setattr__(self, "residuals", tuple(full.residuals))
        object.__setattr__(self, "person_correlation", tuple(full.person_correlation))
        for name in ("draws", "chains", "thin"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.compiled is not None:
            c = self.compiled
            if c.variant != full or c.mode != self.mode or c.sampler != self.sampler:
                raise ValueError(
                    f"the compiled model is {c.variant.name!r}/{c.mode}/{c.sampler}, the backend asks for "
                    f"{v.name!r}/{self.mode}/{self.sampler}"
                )

    @property
    def n_ranks(self) -> int:
        return self.chains * math.ceil(self.draws / self.thin)

    def spec(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            **{k: getattr(self, k) for k in ("variant", "mode", "sampler", "draws", "tune", "chains", "thin")},
            "target_accept": self.target_accept,
            "cores": self.cores,
            "missing_events": self.missing_events,
            **options_spec(self.residuals, self.person_correlation),
        }

    def cache_key(self) -> str:
        return json.dumps(self.spec(), sort_keys=True)

    def resolved(self) -> Variant:
        """The variant with this backend's options."""
        return with_options(self.variant, self.residuals, self.person_correlation)

    def quantities(self) -> list[Any]:
        return asem_quantities(self.resolved(), self.mode, self.missing_events)

    def prepare(self, example: xr.Dataset) -> _NutpieFitter:
        from asem_bayes.model import CompiledModel

        if self.compiled is not None:
            return _NutpieFitter(self, self.compiled)
        cm = CompiledModel(
            example,
            self.variant,
            mode=self.mode,
            sampler=self.sampler,
            missing_events=self.missing_events,
            trajectories=False,  # SBC recomputes trajectories from the stored person parameters
            residuals=self.residuals,
            person_correlation=self.person_correlation,
        )
        return _NutpieFitter(self, cm)


class _NutpieFitter:
    def __init__(self, backend: NutpieBackend, cm: Any) -> None:
        self.backend = backend
        self.cm = cm

    def fit(self, data: xr.Dataset, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
        from asem_bayes.diagnostics import diagnose

        b = self.backend
        v = b.resolved()
        t0 = time.perf_counter()
        tree = self.cm.fit(
            data,
            draws=b.draws,
            tune=b.tune,
            chains=b.chains,
            cores=b.cores,
            seed=seed,
            loo_unit=None,
            target_accept=b.target_accept,
        )
        seconds = time.perf_counter() - t0
        informed = informed_params(v, b.mode)
        diag = diagnose(tree, var_names=informed)
        keep = [n for n in [*v.param_names, *v.person_param_names, *v.correlation_names] if n in tree.posterior]
        post = _thin(tree.posterior.to_dataset()[keep], b.thin)
        diagnostics = xr.Dataset(
            {
                "divergences": diag.divergences,
                "max_rhat": diag.max_rhat,
                "min_ess_bulk": diag.min_ess_bulk,
                "min_ess_tail": diag.min_ess_tail,
                "fit_seconds": seconds,
                "compile_seconds": float(self.cm.compile_seconds),
            }
        )
        return post, diagnostics


@dataclass(frozen=True)
class MockBackend:
    """Draw from the posterior of the toy problem of :class:`~asem_bayes.sbc.datasets.NormalGenerator`.

    With the defaults the draws come from the exact posterior (Normal prior N(0, 1), Normal
    likelihood with unit noise: conjugate), so SBC ranks are exactly uniform. Two deliberate
    miscalibrations go through the same code:

    - ``sd_scale < 1``: the posterior is too narrow (overconfident);
    - ``use_likelihood=False``: the likelihood is left out, the "posterior" is the prior. The
      parameters' ranks stay exactly uniform (a parameter-only SBC passes), only the
      log-likelihood test quantity exposes it.

    And one sampler artefact: ``autocorr > 0`` draws each chain as a stationary AR(1) process
    around the exact posterior (every draw is an exact posterior draw, but neighbours are
    correlated), as an MCMC sampler with a low ESS does. Ranks among correlated draws lean to
    the extremes; ranking on the ESS (``load_sbc(thin_to_ess=True)``) removes that.

    Parameters
    ----------
    params : tuple of str
        As in the generator.
    draws, chains, thin : int
        Draws per chain, chains, thinning (iid draws: thinning only changes how many are ranked).
    sd_scale : float
        Multiplies the posterior standard deviation.
    use_likelihood : bool
        Condition on the data or not.
    autocorr : float
        Lag-1 autocorrelation of the draws within a chain (0: independent draws).
    delay : float
        Seconds to sleep per fit, so a test can interrupt a run in the middle (test hook, not
        part of :meth:`spec`).
    fail_on : tuple of int
        Simulation indices whose fit raises ``RuntimeError`` (test hook, not part of :meth:`spec`).
    interrupt_on : tuple of int
        Simulation indices whose fit raises ``KeyboardInterrupt``, stopping the whole run like
        Ctrl-C would (test hook, not part of :meth:`spec`).
    """

    params: tuple[str, ...] = ("mu", "nu")
    draws: int = 99
    chains: int = 1
    thin: int = 1
    sd_scale: float = 1.0
    use_likelihood: bool = True
    autocorr: float = 0.0
    delay: float = field(default=0.0, compare=False)
    fail_on: tuple[int, ...] = field(default=(), compare=False)
    interrupt_on: tuple[int, ...] = field(default=(), compare=False)

    @property
    def n_ranks(self) -> int:
        return self.chains * math.ceil(self.draws / self.thin)

    def spec(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "params": list(self.params),
            "draws": self.draws,
            "chains": self.chains,
            "thin": self.thin,
            "sd_scale": self.sd_scale,
            "use_likelihood": self.use_likelihood,
            **({"autocorr": self.autocorr} if self.autocorr else {}),
        }

    def cache_key(self) -> str:
        # The test hooks are not part of the spec but change behaviour: keep them in the key.
        return json.dumps({**self.spec(), "hooks": [self.delay, list(self.fail_on), list(self.interrupt_on)]})

    def quantities(self) -> list[Any]:
        return [Parameters(self.params), NormalLogLik(self.params)]

    def prepare(self, example: xr.Dataset) -> MockBackend:
        return self

    def fit(self, data: xr.Dataset, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
        sim = int(data.attrs.get("asem_sim", -1))
        if self.delay:
            time.sleep(self.delay)
        if sim in self.interrupt_on:
            raise KeyboardInterrupt(f"injected interrupt at simulation {sim}")
        if sim in self.fail_on:
            raise RuntimeError(f"injected failure at simulation {sim}")
        rng = np.random.default_rng(seed)
        post = {}
        for p in self.params:
            y = data[f"y_{p}"].values
            if self.use_likelihood:
                prec = 1.0 + y.size  # prior precision 1 + n observations of unit precision
                mean, sd = y.sum() / prec, 1.0 / np.sqrt(prec)
            else:
                mean, sd = 0.0, 1.0
            eps = rng.standard_normal((self.chains, self.draws))
            if self.autocorr:
                r = self.autocorr
                for t in range(1, self.draws):  # stationary AR(1): unit variance at every step
                    eps[:, t] = r * eps[:, t - 1] + np.sqrt(1 - r * r) * eps[:, t]
            post[p] = (("chain", "draw"), mean + sd * self.sd_scale * eps)
        ds = xr.Dataset(post, coords={"chain": np.arange(self.chains), "draw": np.arange(self.draws)})
        if self.autocorr:
            import arviz as az

            ess = {m: float(min(az.ess(ds, method=m)[p].item() for p in self.params)) for m in ("bulk", "tail")}
        else:
            ess = {m: float(self.chains * self.draws) for m in ("bulk", "tail")}
        diag = xr.Dataset(
            {"divergences": 0, "max_rhat": 1.0, "min_ess_bulk": ess["bulk"], "min_ess_tail": ess["tail"]}
        )
        return _thin(ds, self.thin), diag
