"""Simulation-based calibration (SBC) of the ASEM models.

Split as in the R package SBC:

- **datasets** (:mod:`~asem_bayes.sbc.datasets`): a prior draw and a study simulated from it;
  :class:`AsemGenerator` for the ASEM variants (exogenous events for the conditional mode, the
  full simulator for the joint mode, docs/model.md section 9), :class:`NormalGenerator` for a toy
  conjugate problem;
- **backend** (:mod:`~asem_bayes.sbc.backends`): sampler settings; :class:`NutpieBackend`
  compiles a variant once per worker process and refits every dataset,
  :class:`JaxVmapBackend` (:mod:`~asem_bayes.sbc.jax_backend`) fits a batch of datasets at once
  with JAX (``vmap`` over datasets and chains; for an accelerator), :class:`MockBackend`
  draws the toy problem's exact (or a deliberately wrong) posterior;
- **compute** (:mod:`~asem_bayes.sbc.compute`): :func:`run_sbc` runs the fits on a process pool or
  a Dask cluster (:mod:`~asem_bayes.sbc.runner`: the workers return each fit and this process
  writes it), one checkpoint file per simulation (resumable after a crash), and ranks the
  truth among thinned draws for every parameter and test quantity
  (:mod:`~asem_bayes.sbc.quantities`: log-likelihood of the data, working-model change);
  :func:`load_sbc` re-ranks stored fits with new quantities without refitting.

Uniformity is judged with the gamma statistic and simultaneous ECDF bands
(:mod:`~asem_bayes.sbc.stats`); :mod:`~asem_bayes.sbc.plots` draws ECDF differences, rank
histograms and z-score versus contraction.
"""

from asem_bayes.sbc.backends import MockBackend, NutpieBackend, informed_params
from asem_bayes.sbc.compute import SBCResult, load_sbc, rank_fit, run_sbc
from asem_bayes.sbc.datasets import DEFAULT_EXOGENOUS_EVENTS, AsemGenerator, NormalGenerator
from asem_bayes.sbc.jax_backend import JaxVmapBackend
from asem_bayes.sbc.quantities import AsemLogLik, NormalLogLik, Parameters, TrajectoryChange
from asem_bayes.sbc.runner import (
    DamagedFitWarning,
    RunCounts,
    Store,
    StoreMismatchError,
    WorkerSetupError,
    task_seeds,
)
from asem_bayes.sbc.stats import familywise_prob, uniformity_test

__all__ = [
    "AsemGenerator",
    "AsemLogLik",
    "DEFAULT_EXOGENOUS_EVENTS",
    "DamagedFitWarning",
    "JaxVmapBackend",
    "MockBackend",
    "NormalGenerator",
    "NormalLogLik",
    "NutpieBackend",
    "Parameters",
    "RunCounts",
    "SBCResult",
    "Store",
    "StoreMismatchError",
    "TrajectoryChange",
    "WorkerSetupError",
    "informed_params",
    "load_sbc",
    "rank_fit",
    "run_sbc",
    "task_seeds",
    "familywise_prob",
    "uniformity_test",
]
