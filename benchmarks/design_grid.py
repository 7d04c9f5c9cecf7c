"""The study-design planner's grid: 4 designs x 20 replicates at sizes up to 100 x 56, timed.

Answers the worked example of ``docs/design.md``: how many couples, for how many days, give an
80% chance that the 90% interval of ``psi_neg_s`` excludes zero at realistic slow learning (the
reference values of ``asem``)? Every fit is stored under ``--out``; the same command resumes a
run that was stopped or killed and adds only what is missing. Each invocation appends its wall
time and counts to ``OUT/timing.json``; the printout sums them::

    .venv/bin/python benchmarks/design_grid.py --dyads 50,100 --days 28,56 --reps 20 --workers 2 \\
        --out /work/design_runs/grid_4x20

Writes ``OUT/power.csv``, ``OUT/recovery.csv`` (with ``--pairs``), ``OUT/power.png`` and
``OUT/width.png``, and prints the table, the smallest design reaching the target and the timing
(wall time per invocation, fits per minute, median sampling seconds per fit and design, compile
seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="asem")
    ap.add_argument("--dyads", type=_ints, default=[50, 100])
    ap.add_argument("--days", type=_ints, default=[28, 56])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quantities", type=_names, default=["psi_neg_s", "psi_pos_s", "psi_neg_o", "psi_pos_o", "rho"])
    ap.add_argument("--target", default="psi_neg_s=0.8", help="QUANTITY=POWER for the smallest-design line")
    ap.add_argument("--pairs", type=_names, default=[], help="model-recovery pairs, e.g. asem:uniform")
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--target-accept", type=float, default=0.8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--seed", type=int, default=2032)
    ap.add_argument("--out", type=Path, default=Path("/work/design_runs/grid_4x20"))
    ap.add_argument("--load-only", action="store_true",
                    help="summarise the stored fits without fitting, on the replicates every design has")
    ap.add_argument("--figures", type=Path, default=None, help="also write power.png and width.png here")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from asem_bayes.design import design_grid, run_design

    designs = design_grid(args.dyads, args.days)
    pairs = [tuple(p.split(":")) for p in args.pairs]
    q, _, target = args.target.partition("=")
    if args.load_only:
        return _load_only(args, designs, q, float(target))
    t0 = time.perf_counter()
    res = run_design(
        args.out, designs, variant=args.variant, quantities=args.quantities, reps=args.reps, pairs=pairs,
        draws=args.draws, tune=args.tune, chains=args.chains, target_accept=args.target_accept,
        seed=args.seed, workers=args.workers, scheduler=args.scheduler,
    )
    wall = time.perf_counter() - t0
    timing = _log_timing(args.out, wall, res.run.fitted, res.run.failed)
    print(res.summary({q: float(target)}))
    table = res.table()
    table.to_csv(args.out / "power.csv", index=False)
    if pairs:
        res.recovery().to_csv(args.out / "recovery.csv", index=False)
    res.plot_power(path=args.out / "power.png", target=float(target))
    res.plot_width(path=args.out / "width.png")
    print("\n" + _timing_lines(res, timing))
    return 0


def _load_only(args: argparse.Namespace, designs: list, q: str, target: float) -> int:
    """Summarise a run that has not finished, on the replicates that every design has."""
    from asem_bayes.design import load_design

    full = load_design(args.out, designs=designs)
    per = full.fits.drop_duplicates(["design", "rep"]).groupby("design").size()
    common = int(per.min()) if len(per) == len(designs) else 0
    res = load_design(args.out, designs=designs, reps=common)
    print(f"Stored fits per design: {per.to_dict()}; summarised on replicates 0..{common - 1} of every design "
          f"(replicates are run 0, 1, 2, ... across the designs, so these are the same for all)")
    print(res.summary({q: target}))
    res.table().to_csv(args.out / f"power_{common}reps.csv", index=False)
    for where in filter(None, (args.out, args.figures)):
        where.mkdir(parents=True, exist_ok=True)
        res.plot_power([q, *[x for x in res.quantities if x != q]], path=where / "design_power.png", target=target)
        res.plot_width(path=where / "design_width.png")
    timing = json.loads((args.out / "timing.json").read_text()) if (args.out / "timing.json").exists() else []
    print("\n" + _timing_lines(full, timing))
    return 0


def _log_timing(out: Path, wall: float, fitted: int, failed: int) -> list[dict]:
    path = out / "timing.json"
    log = json.loads(path.read_text()) if path.exists() else []
    log.append({"wall_seconds": round(wall, 1), "fitted": fitted, "failed": failed,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    path.write_text(json.dumps(log, indent=2))
    return log


def _timing_lines(res, timing: list[dict]) -> str:
    total_wall = sum(t["wall_seconds"] for t in timing)
    total_fits = sum(t["fitted"] for t in timing)
    lines = [
        f"Timing: {len(timing)} invocation(s), {total_fits} fits in {total_wall:.0f} s wall "
        f"({60 * total_fits / max(total_wall, 1e-9):.2f} fits/min, compiling included)",
        "design              fits  median sampling s/fit  compile s (one worker)",
    ]
    for _, r in res.timing().iterrows():
        lines.append(f"{r['n_dyads']:>4} x {r['n_days']:<3} {r['fits']:>10}  {r['median_sample_seconds']:>18.1f}  "
                     f"{r['median_compile_seconds']:>10.0f}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
