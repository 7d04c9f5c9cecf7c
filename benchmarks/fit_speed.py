"""Fit speed and recovery on one dataset.

One ``asem`` study of 100 dyads x 56 days (seed 1). nutpie fits it with 4 chains and the
package's default lengths (1600 draws after 400 warm-up; ``--draws 1000 --tune 1000`` gives the
earlier 1000 after 1000) and its wall time includes compilation; the other samplers run shorter chains
(``--other-draws``) because only their *rate* (ESS per second after compilation) is compared.
Prints a table and the recovery of the population parameters by the nutpie fit.

Usage::

    python benchmarks/fit_speed.py [--samplers nutpie pymc numpyro] [--dyads 100] [--days 56]
        [--seed 1] [--schema-coordinates]
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import numpy as np

import asem_bayes as ab
from asem_bayes.diagnostics import diagnose, summary_table
from asem_bayes.model import CompiledModel


def _min_ess(fit, names: list[str]) -> float:
    ess = az.ess(fit.posterior.to_dataset()[names], method="bulk")
    return float(min(float(v.min()) for v in ess.data_vars.values()))


def _slowest(fit, n: int = 5) -> list[tuple[str, float, float]]:
    """The ``n`` posterior variables with the smallest bulk ESS (any element), with their max R-hat."""
    post = fit.posterior.to_dataset()
    ess, rhat = az.ess(post, method="bulk"), az.rhat(post)
    rows = [(k, float(ess[k].min()), float(rhat[k].max())) for k in ess.data_vars]
    return sorted(rows, key=lambda r: r[1])[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samplers", nargs="+", default=["nutpie", "pymc", "numpyro"])
    ap.add_argument("--dyads", type=int, default=100)
    ap.add_argument("--days", type=int, default=56)
    ap.add_argument("--draws", type=int, default=None, help="nutpie draws per chain (default: the package's)")
    ap.add_argument("--tune", type=int, default=None, help="nutpie warm-up draws per chain (default: the package's)")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--target-accept", type=float, default=0.8)
    ap.add_argument("--adaptation", choices=["diag", "low_rank"], default="diag", help="nutpie mass matrix")
    ap.add_argument("--other-draws", type=int, default=300, help="draws (and tuning) for the non-nutpie samplers")
    ap.add_argument("--other-chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1, help="sampler seed (the study is always seed 1)")
    ap.add_argument(
        "--schema-coordinates",
        action="store_true",
        help="sample in the schema's coordinates instead of the sheared ones (docs/model.md section 4)",
    )
    args = ap.parse_args()

    study = ab.simulate("asem", args.dyads, args.days, seed=1)
    truth = ab.true_params(study)
    v = ab.get_variant("asem")
    # Event-model parameters are not informed in the conditional mode (posterior = prior), so
    # recovery is judged on the others.
    informed = [p.name for p in v.params if p.group != "events"]
    rows = []
    nutpie_fit = None
    for sampler in args.samplers:
        t0 = time.perf_counter()
        cm = CompiledModel(study, "asem", sampler=sampler, trajectories=False, reparam=not args.schema_coordinates)
        draws, tune, chains = (
            (*ab.default_lengths("nutpie", args.draws, args.tune), args.chains)
            if sampler == "nutpie"
            else (args.other_draws, args.other_draws, args.other_chains)
        )
        fit = cm.fit(
            study,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=args.seed,
            cores=2,
            loo_unit=None,
            target_accept=args.target_accept,
            **({"adaptation": args.adaptation} if sampler == "nutpie" else {}),
        )
        total_s = time.perf_counter() - t0
        # PyMC's own sampler compiles its functions inside pm.sample: its posterior's
        # ``sampling_time`` is the sampling loop alone, which the rate ("after compilation") uses
        sample_s = float(fit.posterior.attrs.get("sampling_time", fit.attrs["sample_seconds"]))
        compile_s = total_s - sample_s
        d = diagnose(fit)  # population and person parameters
        d_pop = diagnose(fit, var_names=informed)
        ess = _min_ess(fit, informed)
        steps = float(fit.sample_stats["n_steps"].mean()) if "n_steps" in fit.sample_stats else float("nan")
        rows.append((sampler, compile_s, sample_s, total_s, chains * draws, ess, ess / sample_s, d, d_pop, steps))
        slow = _slowest(fit)
        if sampler == "nutpie":
            nutpie_fit = fit
        print(
            f"{sampler}: done ({total_s:.0f} s); slowest (bulk ESS, R-hat over all elements): "
            + ", ".join(f"{n} {e:.0f} {r:.3f}" for n, e, r in slow),
            flush=True,
        )

    coords = "schema" if args.schema_coordinates else "sheared"
    print(
        f"\nasem, {args.dyads} dyads x {args.days} days (study seed 1, sampler seed {args.seed}), {coords} coordinates"
    )
    print(
        f"{'sampler':10s} {'compile s':>9s} {'sample s':>9s} {'total s':>8s} {'draws':>6s} "
        f"{'min ESS':>8s} {'ESS/s':>7s} {'div':>4s} {'Rhat pop':>8s} {'Rhat all':>8s} {'steps':>6s}"
    )
    for sampler, c, s, t, n, ess, rate, d, d_pop, steps in rows:
        print(
            f"{sampler:10s} {c:9.1f} {s:9.1f} {t:8.1f} {n:6d} {ess:8.0f} {rate:7.2f} "
            f"{d.divergences:4d} {d_pop.max_rhat:8.3f} {d.max_rhat:8.3f} {steps:6.1f}"
        )
    print("min ESS and ESS/s: bulk ESS of the informed population parameters; Rhat pop: their max R-hat;")
    print("Rhat all: max over population and person parameters; steps: mean leapfrog steps per draw;")
    print("sample s: the sampling loop alone; compile s: the rest of total s (compiling, PyMC's inside pm.sample)")
    base = {r[0]: r[6] for r in rows}
    if "nutpie" in base:
        for other in base:
            if other != "nutpie":
                print(f"ESS/s ratio nutpie / {other}: {base['nutpie'] / base[other]:.1f}")
    if nutpie_fit is not None:
        tab = summary_table(nutpie_fit, truth=truth, ci_prob=0.9).loc[informed]
        covered = int(tab["covered"].sum())
        lo, hi = [c for c in tab.columns if c.startswith("eti")][:2]
        width = (tab[hi] - tab[lo]).to_numpy()
        print(
            f"\nrecovery (nutpie): {covered} of {len(tab)} population parameters inside their 90% interval "
            f"({covered / len(tab):.0%}); median interval width {np.median(width):.2f}"
        )
        missed = tab.index[~tab["covered"]].tolist()
        if missed:
            print(
                "  not covered:",
                ", ".join(
                    f"{m} (truth {tab.loc[m, 'truth']:.2f}, [{tab.loc[m, lo]:.2f}, {tab.loc[m, hi]:.2f}])"
                    for m in missed
                ),
            )


if __name__ == "__main__":
    main()
