"""``asem design``: plan a study (power, interval width, contraction, model recovery per design), resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from asem_bayes.options import LOO_UNITS, MODES


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> list[int]:
    return [int(t) for t in _names(text)]


def _floats(text: str) -> list[float]:
    return [float(t) for t in _names(text)]


def _likerts(text: str) -> list[int | None]:
    return [None if t.lower() in ("none", "continuous", "0") else int(t) for t in _names(text)]


def _assignments(text: str) -> dict[str, float]:
    out = {}
    for item in _names(text):
        name, sep, val = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"write NAME=VALUE, got {item!r}")
        out[name.strip()] = float(val)
    return out


def _waves(text: str) -> int | tuple[int, ...]:
    parts = _ints(text)
    return parts[0] if len(parts) == 1 else tuple(parts)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "design",
        help="plan a study: power, interval width and model recovery for a grid of designs (resumable)",
        description=(
            "Simulate REPS studies of every candidate design (--dyads x --days x --likert x --missing-days x "
            "--events) under an assumed truth, fit each with NUTS, and report per design and quantity the power "
            "(share of replicates whose central interval excludes the null value, with a 95% Wilson interval), "
            "the mean interval width and the contraction; with --pairs, how often PSIS-LOO tells each pair of "
            "variants apart; and the smallest design reaching --target. Each fit is stored under OUT/fits; the "
            "same command resumes, and adding designs fits only the new ones."
        ),
    )
    p.add_argument("--variant", default="asem", help="variant that simulates and analyses the studies")
    p.add_argument("--dyads", type=_ints, required=True, help="comma-separated numbers of couples, e.g. 40,80")
    p.add_argument("--days", type=_ints, required=True, help="comma-separated numbers of diary days, e.g. 28,56")
    p.add_argument("--waves", type=_waves, default=None,
                   help="trait waves: a count spread evenly over the days (2: first and last, the default) "
                        "or comma-separated day numbers")
    p.add_argument("--likert", type=_likerts, default=[None],
                   help="comma-separated rating scales: 'none' (continuous) or K for 1..K items")
    p.add_argument("--missing-days", type=_floats, default=[0.0], help="comma-separated missing-day rates")
    p.add_argument("--events", type=_assignments, action="append", default=None,
                   help="fixed daily event rates, e.g. threat=0.25,safe=0.55,soft=0.5,confidence=0,dependence=0 "
                        "(an event not named never happens); repeat for several sets; default: the event model")
    p.add_argument("--truth", choices=("reference", "prior"), default="reference",
                   help="values not set with --set: the reference values, or a prior draw per replicate")
    p.add_argument("--set", dest="set_", action="append", default=[], metavar="NAME=VALUE|NAME~Dist(args)",
                   help="assumed truth of one parameter: a value (psi_neg_s=-0.4) or a stated prior drawn per "
                        "replicate (psi_neg_s~Normal(-0.8,0.2)); repeatable")
    p.add_argument("--quantities", type=_names, default=None,
                   help="comma-separated population parameters (default: the variant's dynamics parameters)")
    p.add_argument("--null", type=_assignments, default={}, help="null values, e.g. e_safe=0.5 (default 0)")
    p.add_argument("--prob", type=float, default=0.9, help="central interval probability")
    p.add_argument("--target", type=_assignments, default={},
                   help="target power per quantity for the smallest-design line, e.g. psi_neg_s=0.8")
    p.add_argument("--pairs", type=_names, default=[], help="model-recovery pairs, e.g. asem:uniform,asem:stable")
    p.add_argument("--reps", type=int, default=20, help="replicates per design")
    p.add_argument("--mode", choices=MODES, default=None)
    p.add_argument("--loo-unit", choices=LOO_UNITS, default="person-week")
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--target-accept", type=float, default=0.8)
    p.add_argument("--cores", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="run directory (created; reused to resume)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (0: inline)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (tcp://host:8786): run there; results come back and are written to OUT")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asem_bayes.design import design_grid, parse_truth_items, run_design

    designs = design_grid(args.dyads, args.days, waves=args.waves, likert=args.likert,
                          missing_days=args.missing_days, exogenous_events=args.events or [None])
    pairs = []
    for item in args.pairs:
        a, sep, b = item.partition(":")
        if not sep:
            raise ValueError(f"a pair is written A:B (e.g. asem:uniform), got {item!r}")
        pairs.append((a.strip(), b.strip()))
    res = run_design(
        args.out, designs, variant=args.variant, truth=parse_truth_items(args.set_, args.truth),
        quantities=args.quantities, null=args.null, prob=args.prob, reps=args.reps, pairs=pairs, mode=args.mode,
        loo_unit=args.loo_unit, draws=args.draws, tune=args.tune, chains=args.chains,
        target_accept=args.target_accept, cores=args.cores, seed=args.seed, workers=args.workers,
        scheduler=args.scheduler, progress=not args.no_progress, retry_failed=args.retry_failed,
    )
    print(res.summary(args.target))
    res.table().to_csv(args.out / "power.csv", index=False)
    written = [args.out / "power.csv"]
    if pairs:
        res.recovery().to_csv(args.out / "recovery.csv", index=False)
        written.append(args.out / "recovery.csv")
    if not args.no_plots and len(res.fits):
        import matplotlib

        matplotlib.use("Agg")
        target = next(iter(args.target.values()), 0.8)
        res.plot_power(path=args.out / "power.png", target=target)
        res.plot_width(path=args.out / "width.png")
        written += [args.out / "power.png", args.out / "width.png"]
    print(f"wall time {res.run_seconds:.0f} s; written: {', '.join(str(w) for w in written)}")
    return 0
