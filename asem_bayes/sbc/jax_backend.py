"""SBC backend ``jax-vmap``: many fits at once on an accelerator (or the CPU), one batch at a time.

:class:`JaxVmapBackend` follows the backend protocol of :mod:`asem_bayes.sbc.backends`
(``spec()``, ``cache_key()``, ``prepare(example)`` returning a fitter with ``fit(data, seed)``,
``quantities()``, ``n_ranks``) and adds ``batch_size`` and the fitter's
``fit_batch(datasets, seeds)``: :func:`asem_bayes.sbc.run_sbc` then hands it ``batch_size``
simulations at a time and checkpoints each simulation's file after its batch, so a killed run
resumes from the last finished batch. The fits are blackjax NUTS with window adaptation on the
JAX log density of :mod:`asem_bayes.jax_model`, ``vmap``-ed over datasets and chains and jitted
once per design (the last, shorter batch is padded to the same shape, so nothing recompiles).

JAX is imported only when a fitter is prepared.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes.registry import get_variant
from asem_bayes.sbc.backends import options_spec, with_options
from asem_bayes.schema import Variant

__all__ = ["JaxVmapBackend", "JaxFitter", "without_jax_note"]


def without_jax_note(err: BaseException) -> BaseException:
    """Drop the note JAX appends to exceptions raised while tracing ("JAX has removed its internal
    frames ..."), so the last line of a stored traceback, which run summaries show, names the error."""
    notes = getattr(err, "__notes__", None)
    if notes:
        err.__notes__ = [n for n in notes if "JAX has removed its internal frames" not in n]
    return err


@dataclass(frozen=True)
class JaxVmapBackend:
    """Fit an ASEM variant with the vectorised JAX sampler (:func:`asem_bayes.jax_model.sample_many`).

    Parameters
    ----------
    variant : str
        Variant to fit.
    mode : {"conditional", "joint"} or None
        Model mode (default: the variant's default mode).
    draws, tune, chains : int
        Post-warm-up draws (rounded up to a multiple of ``thin``), window-adaptation steps and
        chains per fit.
    thin : int
        Keep every ``thin``-th draw for ranking (R-hat and ESS use every draw).
    target_accept : float
        Target acceptance rate of the step-size adaptation.
    max_tree_depth : int
        Maximum number of NUTS trajectory doublings.
    batch_size : int
        Datasets fitted at once (one ``vmap``); also the checkpoint interval.
    x64 : bool
        Compute in float64 like the PyMC model (``False``: float32, faster on most GPUs).
    missing_events : str
        Missing-event policy (see :func:`asem_bayes.inputs.prepare_inputs`).
    residuals : tuple of {"ar1", "partner"}
        Residual option of the variant (docs/model.md section 17; default none).
    person_correlation : tuple of str
        Person-level parameters with correlated effects (docs/model.md section 18; default none).
    """

    variant: str = "asem"
    mode: str | None = None
    draws: int = 500
    tune: int = 500
    chains: int = 2
    thin: int = 10
    target_accept: float = 0.8
    max_tree_depth: int = 10
    batch_size: int = 100
    x64: bool = True
    missing_events: str = "error"
    residuals: tuple[str, ...] = ()
    person_correlation: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from asem_bayes.model import check_mode

        v = get_variant(self.variant)
        object.__setattr__(self, "variant", v.name)
        object.__setattr__(self, "mode", check_mode(v, self.mode))
        full = self.resolved()  # validates the options
        object.__setattr__(self, "residuals", tuple(full.residuals))
        object.__setattr__(self, "person_correlation", tuple(full.person_correlation))
        for name in ("draws", "chains", "thin", "batch_size", "tune", "max_tree_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def n_ranks(self) -> int:
        return self.chains * math.ceil(self.draws / self.thin)

    def spec(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            **{
                k: getattr(self, k)
                for k in (
                    "variant",
                    "mode",
                    "draws",
                    "tune",
                    "chains",
                    "thin",
                    "target_accept",
                    "max_tree_depth",
                    "batch_size",
                    "x64",
                    "missing_events",
                )
            },
            **options_spec(self.residuals, self.person_correlation),
        }

    def resolved(self) -> Variant:
        """The variant with this backend's options."""
        return with_options(self.variant, self.residuals, self.person_correlation)

    def cache_key(self) -> str:
        return json.dumps(self.spec(), sort_keys=True)

    def quantities(self) -> list[Any]:
        from asem_bayes.sbc.backends import asem_quantities

        return asem_quantities(self.resolved(), self.mode, self.missing_events)

    def settings(self):
        """The sampler settings (:class:`asem_bayes.jax_model.SamplerSettings`)."""
        from asem_bayes.jax_model import SamplerSettings

        return SamplerSettings(
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            thin=self.thin,
            target_accept=self.target_accept,
            max_tree_depth=self.max_tree_depth,
        )

    def prepare(self, example: xr.Dataset) -> JaxFitter:
        return JaxFitter(self, example)


class JaxFitter:
    """A backend's JAX model for one design; fits one dataset or a batch of them."""

    def __init__(self, backend: JaxVmapBackend, example: xr.Dataset) -> None:
        from asem_bayes import jax_model

        if backend.x64:
            jax_model.enable_x64()
        self.backend = backend
        self.model = jax_model.JaxModel(self._inputs(example), backend.resolved(), backend.mode)
        self.compile_seconds = 0.0

    def _inputs(self, data: xr.Dataset):
        from asem_bayes.inputs import prepare_inputs

        b = self.backend
        return prepare_inputs(data, joint=b.mode == "joint", missing_events=b.missing_events)

    def fit(self, data: xr.Dataset, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
        """One dataset (the protocol of :mod:`asem_bayes.sbc.backends`; padded to a full batch)."""
        return self.fit_batch([data], [seed])[0]

    def fit_batch(
        self, datasets: Sequence[xr.Dataset], seeds: Sequence[int], thin: int | None = None
    ) -> list[tuple[xr.Dataset, xr.Dataset]]:
        """Fit datasets of the model's design, ``batch_size`` at a time.

        Returns one ``(posterior, diagnostics)`` per dataset: the thinned draws of every
        population and person parameter, and ``divergences``, ``max_rhat``, ``min_ess_bulk``,
        ``min_ess_tail``, ``min_bfmi`` (over the informed population parameters), ``fit_seconds``
        (the batch's sampling time divided by its datasets), ``compile_seconds`` (of the first
        batch), ``mean_tree_steps`` (gradient evaluations per draw) and ``step_size``.
        ``thin`` overrides the backend's thinning (model recovery keeps every draw).
        """
        from asem_bayes import jax_model
        from asem_bayes.sbc.backends import informed_params

        b = self.backend
        cfg = b.settings()
        if thin is not None:
            from dataclasses import replace

            cfg = replace(cfg, thin=thin)
        arrays = [self.model.data(self._inputs(d)) for d in datasets]
        informed = informed_params(b.resolved(), b.mode)
        results: list[tuple[xr.Dataset, xr.Dataset]] = []
        for start in range(0, len(arrays), b.batch_size):
            chunk = arrays[start : start + b.batch_size]
            chunk_seeds = list(seeds[start : start + b.batch_size])
            n = len(chunk)
            pad = b.batch_size - n  # same shape for every batch: jit compiles once
            stacked = jax_model.stack_data(chunk + [chunk[-1]] * pad)
            out = jax_model.sample_many(self.model, stacked, chunk_seeds + [chunk_seeds[-1]] * pad, cfg)
            self.compile_seconds += out["compile_seconds"]
            posts = jax_model.posterior_datasets(self.model, out, n)
            diag = jax_model.diagnostics_arrays(out, informed)
            per_fit = out["sample_seconds"] / n
            for i in range(n):
                d = xr.Dataset(
                    {
                        "divergences": int(diag["divergences"][i]),
                        "max_rhat": float(diag["max_rhat"][i]),
                        "min_ess_bulk": float(diag["min_ess_bulk"][i]),
                        "min_ess_tail": float(diag["min_ess_tail"][i]),
                        "min_bfmi": float(diag["min_bfmi"][i]),
                        "fit_seconds": float(per_fit),
                        "compile_seconds": float(self.compile_seconds),
                        "mean_tree_steps": float(np.mean(out["n_steps"][i])),
                        "step_size": float(np.mean(out["step_size"][i])),
                    }
                )
                results.append((posts[i], d))
        return results
