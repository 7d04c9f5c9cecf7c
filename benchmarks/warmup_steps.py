"""Where a nutpie fit spends its gradient evaluations: warm-up against sampling.

Fits the 100 x 56 ``asem`` benchmark study (seed 1) with nutpie, keeping the warm-up statistics,
and prints the leapfrog steps (one gradient evaluation each) spent in warm-up and in sampling,
the mean steps per draw in blocks of 50 warm-up draws with the step size, and the fit's
diagnostics. docs/performance.md ("Warm-up") quotes it.

Usage::

    python benchmarks/warmup_steps.py [--tune 1000] [--draws 1000] [--seed 1] [--dyads 100] [--days 56]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import asem_bayes as ab
from asem_bayes.diagnostics import diagnose
from asem_bayes.model import CompiledModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1, help="sampler seed (the study is always seed 1)")
    ap.add_argument("--dyads", type=int, default=100)
    ap.add_argument("--days", type=int, default=56)
    ap.add_argument("--target-accept", type=float, default=0.8)
    ap.add_argument("--block", type=int, default=50, help="warm-up draws per printed block")
    args = ap.parse_args()

    import nutpie

    study = ab.simulate("asem", args.dyads, args.days, seed=1)
    cm = CompiledModel(study, "asem", trajectories=False)
    t0 = time.perf_counter()
    # the compiled model as CompiledModel.fit samples it, with the warm-up statistics kept
    dt = nutpie.sample(cm._compiled, draws=args.draws, tune=args.tune, chains=args.chains, cores=2, seed=args.seed,
                       progress_bar=False, save_warmup=True, target_accept=args.target_accept)
    wall = time.perf_counter() - t0
    warm, samp = dt["warmup_sample_stats"], dt["sample_stats"]
    w, s = warm["n_steps"].values, samp["n_steps"].values
    informed = [p.name for p in ab.get_variant("asem").params if p.group != "events"]
    d = diagnose(dt, var_names=informed)
    print(f"asem {args.dyads} x {args.days}, nutpie {args.chains} chains x {args.draws} draws after {args.tune} "
          f"warm-up, seed {args.seed}: sampling {wall:.1f} s")
    print(f"gradient evaluations: warm-up {int(w.sum())} ({w.sum() / (w.sum() + s.sum()):.0%}), "
          f"sampling {int(s.sum())}; steps per draw: warm-up {w.mean():.1f}, sampling {s.mean():.1f}")
    print(f"population parameters: min bulk ESS {d.min_ess_bulk:.0f}, max R-hat {d.max_rhat:.4f}, "
          f"divergences {d.divergences}")
    n = w.shape[1] // args.block
    if n:
        blocks = w[:, : n * args.block].reshape(w.shape[0], n, args.block).mean(axis=(0, 2))
        eps = warm["step_size"].values[:, : n * args.block].reshape(w.shape[0], n, args.block).mean(axis=(0, 2))
        print(f"warm-up, per block of {args.block} draws (mean over chains):")
        print("  steps per draw:", " ".join(f"{b:.0f}" for b in blocks))
        print("  step size:     ", " ".join(f"{e:.3f}" for e in eps))
        print(f"  sampling: steps per draw {s.mean():.1f}, step size {float(np.mean(samp['step_size'].values)):.3f}")


if __name__ == "__main__":
    main()
