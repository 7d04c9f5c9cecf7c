"""Model or sampler? Refit an SBC run's most extreme simulations for one quantity, longer.

For the simulations whose truth sits furthest in the tail of the stored posterior (highest or
lowest PIT), this refits the same data with longer chains and a higher target acceptance, and
prints, next to the stored posterior, the long run's posterior and the score check's t statistic
at the truth (:func:`asem_bayes.checks.score_check`). If the long run reproduces the stored
posterior, the stored fit was not a mixing failure; if the score at the truth points the same
way (t of the same sign, about -2 or beyond for a posterior below the truth), the data
themselves pull away from the truth, as they do by chance in a few simulations of 200.

    .venv/bin/python benchmarks/sbc_refit_extremes.py --out sbc_runs/sbc_asem_full --quantity b_soft
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import xarray as xr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("sbc_runs/sbc_asem_full"))
    ap.add_argument("--quantity", default="b_soft")
    ap.add_argument("--also", nargs="*", default=["tau_V"], help="further parameters to print")
    ap.add_argument("--n", type=int, default=3, help="how many extreme simulations")
    ap.add_argument("--side", choices=["high", "low"], default="high", help="high PIT: posterior below the truth")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--tune", type=int, default=2000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--target-accept", type=float, default=0.95)
    args = ap.parse_args(argv)

    from asem_bayes.checks import score_check
    from asem_bayes.model import CompiledModel
    from asem_bayes.sbc import load_sbc

    res = load_sbc(args.out)
    pit = res.table["pit"].sel(quantity=args.quantity).to_series().sort_values()
    sims = list(pit.index[-args.n :] if args.side == "high" else pit.index[: args.n])
    names = [args.quantity, *[a for a in args.also if a != args.quantity]]
    print(f"{args.quantity}: {args.n} simulations with the {args.side}est PIT: {sims}")
    cm = None
    for s in sims:
        with xr.open_datatree(args.out / "fits" / f"sim_{s:05d}.nc") as dt:
            data = dt["data"].to_dataset().load()
            truth = dt["truth"].to_dataset().load()
            stored = dt["posterior"].to_dataset()[names].load()
        cm = cm or CompiledModel(data, res.config["backend"]["variant"])
        t0 = time.perf_counter()
        fit = cm.fit(
            data,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            seed=1000 + int(s),
            loo_unit=None,
            target_accept=args.target_accept,
        )
        secs = time.perf_counter() - t0
        score = score_check(xr.merge([data, truth]), res.config["backend"]["variant"])["t"]
        div = int(fit.sample_stats["diverging"].sum())
        print(f"sim {s} (long run: {args.chains} x {args.draws} after {args.tune}, {div} divergences, {secs:.0f} s)")
        for p in names:
            tv = float(truth[p])
            old = stored[p].values.ravel()
            new = fit.posterior[p].values.ravel()
            print(
                f"  {p:12s} truth {tv:+.3f} | stored {old.mean():+.3f} sd {old.std():.3f} PIT {np.mean(old < tv):.2f}"
                f" | long {new.mean():+.3f} sd {new.std():.3f} PIT {np.mean(new < tv):.2f}"
                f" | score t at truth {score[p]:+.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
