"""Arm-effect recovery: simulated randomised trials with a true effect on a person-level
parameter, and null trials, fitted with that parameter regressed on the arm.

Each replicate randomises the couples 1:1 to two arms (``arm`` 0/1, a couple covariate, drawn
per replicate), simulates an ``asem`` study in which arm 1's ``--param`` (default the log
learning rate ``theta_pos_s``: how much a person's model of self takes in positive evidence) is
shifted by ``--effect`` on its linear predictor's scale, and a null trial of the same design
(effect 0, other seed). Both are fitted with ``person_covariates={param: ["arm"]}`` by one
compiled model (the arm is a data container, so each replicate's randomisation swaps in).

Printed per replicate: the posterior mean and 90% interval of ``beta_<param>[arm]`` for the
trial and the null trial, divergences and R-hat. Then: the coverage of the true effect by the
90% intervals over the trial replicates (with its binomial standard error), the share of trial
intervals that exclude zero (power), and the null trials' false-positive rate (intervals that
exclude zero; nominally 10%). ``--out`` writes every row as JSON.

Usage::

    python benchmarks/arm_recovery.py [--param theta_pos_s] [--effect 0.7] [--dyads 40] [--days 42]
        [--reps 12] [--draws 300] [--tune 300] [--chains 2] [--seed 1] [--out rows.json]

The defaults are the run reported in docs/model.md section 16 (about 26 minutes on 2 busy cores:
coverage 11/12, power 12/12, null false positives 0/12).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import xarray as xr

import asem_bayes as ab
from asem_bayes.model import CompiledModel


def trial(args: argparse.Namespace, effect: float, seed: int) -> xr.Dataset:
    """One randomised trial: couples assigned 1:1 at random (from ``seed``), arm 1 shifted by ``effect``."""
    rng = np.random.default_rng([seed, 7])
    arm = rng.permutation(np.arange(args.dyads) % 2)
    return ab.simulate(
        "asem", args.dyads, args.days, seed=seed, covariates={"arm": arm}, effects={args.param: {"arm": effect}}
    )


def interval(fit: xr.DataTree, param: str) -> dict[str, float]:
    """Posterior mean, 5% and 95% quantiles, R-hat of the arm coefficient; the fit's divergences."""
    import arviz as az

    beta = fit.posterior[f"beta_{param}"].sel({f"covariate_{param}": "arm"})
    lo, hi = np.quantile(beta.values.ravel(), [0.05, 0.95])
    rhat = float(az.rhat(fit.posterior.to_dataset()[[f"beta_{param}"]])[f"beta_{param}"].max())
    return {
        "mean": float(beta.mean()),
        "lo": float(lo),
        "hi": float(hi),
        "rhat": rhat,
        "divergences": int(fit.sample_stats["diverging"].sum()),
    }


def fit_one(cm: CompiledModel, data: xr.Dataset, args: argparse.Namespace, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    fit = cm.fit(
        data,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        seed=seed,
        loo_unit=None,
        target_accept=args.target_accept,
    )
    return {**interval(fit, args.param), "seconds": time.perf_counter() - t0}


def summarise(rows: list[dict], effect: float) -> str:
    """Coverage, power and the null trials' false-positive rate, in words."""
    trials = [r for r in rows if r["kind"] == "trial"]
    nulls = [r for r in rows if r["kind"] == "null"]

    def share(xs: list[bool]) -> str:
        p = float(np.mean(xs))
        return f"{sum(xs)}/{len(xs)} = {p:.2f} (SE {np.sqrt(p * (1 - p) / len(xs)):.2f})"

    lines = [
        f"coverage of the true effect {effect:g} by the 90% intervals: "
        + share([r["lo"] < effect < r["hi"] for r in trials]),
        "trial intervals that exclude zero (power): " + share([r["lo"] > 0 or r["hi"] < 0 for r in trials]),
        "null-trial intervals that exclude zero (false positives, nominal 0.10): "
        + share([r["lo"] > 0 or r["hi"] < 0 for r in nulls]),
        f"mean posterior mean: trials {np.mean([r['mean'] for r in trials]):.3f}, "
        f"nulls {np.mean([r['mean'] for r in nulls]):.3f}; "
        f"divergences in total {sum(r['divergences'] for r in rows)}, max R-hat {max(r['rhat'] for r in rows):.3f}",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param", default="theta_pos_s", help="person-level parameter the arm shifts")
    ap.add_argument("--effect", type=float, default=0.7, help="true arm effect (linear predictor scale)")
    ap.add_argument("--dyads", type=int, default=40)
    ap.add_argument("--days", type=int, default=42)
    ap.add_argument("--reps", type=int, default=12)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--target-accept", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the rows as JSON")
    args = ap.parse_args()

    t0 = time.perf_counter()
    cm = CompiledModel(trial(args, args.effect, args.seed), "asem", person_covariates={args.param: ["arm"]})
    print(f"compiled in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for r in range(args.reps):
        for kind, effect, seed in (("trial", args.effect, args.seed + r), ("null", 0.0, args.seed + 1000 + r)):
            row = {"rep": r, "kind": kind, "truth": effect, "seed": seed}
            row.update(fit_one(cm, trial(args, effect, seed), args, seed))
            rows.append(row)
            print(
                f"rep {r} {kind:5s} truth {effect:5.2f}  mean {row['mean']:6.3f}  90% [{row['lo']:6.3f}, "
                f"{row['hi']:6.3f}]  div {row['divergences']}  R-hat {row['rhat']:.3f}  {row['seconds']:.0f} s",
                flush=True,
            )
    print(summarise(rows, args.effect))
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
