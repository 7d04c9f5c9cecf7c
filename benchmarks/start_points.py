"""Where the chains start: the package's start against jittering every variable (nutpie's default).

Refits datasets of a stored model-recovery run with one candidate, once from each start (and
with one BLAS thread or the library's choice) with the run's seed, and prints per chain the
leapfrog steps per draw, the step size and the mean log density, with the sampling seconds,
divergences and max R-hat. A chain stuck in a minor mode shows as 1023 steps per draw (tree
depth 10) and a log density far below the other chain's.

Usage::

    python benchmarks/start_points.py --run sbc_runs/model_recovery_joint \\
        --candidate asem_fatigue --datasets stable:3 stable:0 [--starts package everything]
        [--blas-threads 1 library]
"""

from __future__ import annotations

import argparse
import time

import arviz as az
from pymc.initial_point import make_initial_point_fn

from asem_bayes.compile_cache import with_start
from asem_bayes.model import CompiledModel
from asem_bayes.recovery import recovery_dataset, recovery_fit_seed
from asem_bayes.sbc.runner import Store


def _jitter_everything(model):
    """nutpie's default start: Uniform(-1, 1) on every free variable, unconstrained."""
    return make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="directory of a model-recovery run (its run.json)")
    ap.add_argument("--candidate", default="asem_fatigue")
    ap.add_argument("--datasets", nargs="+", default=["stable:3"], help="TRUE:REP of the run")
    ap.add_argument("--starts", nargs="+", default=["package", "everything"], choices=["package", "everything"])
    ap.add_argument("--blas-threads", nargs="+", default=["1"], choices=["1", "library"],
                    help="BLAS threads while sampling: one (the package's default) or the library's choice")
    args = ap.parse_args()
    cfg = Store(args.run).config
    cm = None
    own = None
    print("dataset | start, BLAS threads | seconds | steps/draw per chain | step size | mean logp | divergences"
          " | max R-hat")
    for spec in args.datasets:
        true, rep = spec.split(":")
        data = recovery_dataset(args.run, true, int(rep))
        seed = recovery_fit_seed(args.run, true, int(rep), args.candidate)
        if cm is None:
            cm = CompiledModel(data, args.candidate, mode=cfg["mode"], trajectories=False)
            own = cm._compiled
        for start, blas in [(a, b) for a in args.starts for b in args.blas_threads]:
            cm._compiled = own if start == "package" else with_start(own, cm.model, _jitter_everything(cm.model))
            t0 = time.perf_counter()
            fit = cm.fit(data, draws=int(cfg["draws"]), tune=int(cfg["tune"]), chains=int(cfg["chains"]), seed=seed,
                         loo_unit=None, target_accept=float(cfg["target_accept"]),
                         blas_threads=None if blas == "library" else 1)
            secs = time.perf_counter() - t0
            ss = fit.sample_stats
            rhat = az.rhat(fit.posterior.to_dataset())
            print(
                f"{spec} | {start}, BLAS threads {blas} | {secs:.0f} | {ss['n_steps'].mean('draw').values.round(0)} | "
                f"{ss['step_size'].mean('draw').values.round(3)} | {ss['logp'].mean('draw').values.round(0)} | "
                f"{int(ss['diverging'].sum())} | {max(float(rhat[k].max()) for k in rhat.data_vars):.3f}",
                flush=True,
            )
    cm._compiled = own


if __name__ == "__main__":
    main()
