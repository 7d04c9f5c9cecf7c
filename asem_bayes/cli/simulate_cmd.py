"""``asem simulate``: simulate a dyadic diary study and write it to disk.

``.csv`` and ``.parquet`` get the long person-day table (docs/model.md section 12: the observed data
only); ``.nc`` gets the full Dataset (observed data, latent trajectories, true events and true
parameters) as netCDF via h5netcdf.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from asem_bayes.cli.fit_cmd import correlated_params
from asem_bayes.options import RESIDUALS
from asem_bayes.simulate import Design, simulate
from asem_bayes.study import to_long

FORMATS = {".csv": "long table (CSV)", ".parquet": "long table (Parquet)", ".nc": "full Dataset (netCDF)"}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"a rate must lie in [0, 1), got {value}")
    return value


def _assignment(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"value of {name.strip()!r} is not a number: {value!r}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``asem simulate``."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate a dyadic daily-diary study",
        description="Simulate a dyadic daily-diary study from an ASEM variant. "
        + "Output by suffix: "
        + "; ".join(f"{k} = {v}" for k, v in FORMATS.items())
        + ".",
    )
    p.add_argument("--variant", default="asem", help="variant to simulate from (see `asem variants`; default asem)")
    p.add_argument("--dyads", type=_positive_int, default=100, help="number of couples (default 100)")
    p.add_argument("--days", type=_positive_int, default=56, help="number of diary days (default 56)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    p.add_argument("--out", type=Path, required=True, help="output file: .csv, .parquet or .nc")
    p.add_argument("--likert", type=int, default=None, metavar="K", help="1..K Likert ratings (default continuous)")
    p.add_argument("--missing-days", type=_rate, default=0.0, metavar="RATE", help="share of person-days not reported")
    p.add_argument("--missing-items", type=_rate, default=0.0, metavar="RATE", help="share of single ratings missing")
    p.add_argument("--waves", type=int, nargs="+", default=None, metavar="DAY",
                   help="0-based days of the trait questionnaires (default: first and last day)")
    p.add_argument("--prior", action="store_true", help="draw the population parameters from their priors")
    p.add_argument("--set", type=_assignment, action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                   help="set a parameter (repeatable), e.g. --set rho=0.1 --set x0=0.5")
    p.add_argument("--exogenous", type=_assignment, action="append", default=None, metavar="EVENT=RATE",
                   help="fixed daily event rates replacing the event model (repeatable), e.g. --exogenous threat=0.2")
    p.add_argument("--residuals", choices=RESIDUALS, default=None,
                   help="simulate the daily ratings with this residual extension: 'ar1' (carry-over) or 'partner' "
                   "(the partners' same-day correlation); continuous ratings only (docs/model.md section 17)")
    p.add_argument("--person-correlation", type=correlated_params, default=(), metavar="NAMES",
                   help="draw these person-level parameters' effects correlated (LKJ(2)), e.g. 's0,o0' "
                   "(docs/model.md section 18)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate and write the study; errors surface as ValueError/KeyError (exit status 2)."""
    out: Path = args.out
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--out {str(out)!r}: unknown file type {suffix or '(none)'!r}; use one of {sorted(FORMATS)}")
    if args.prior and args.overrides:
        raise ValueError("use either --prior or --set, not both")
    params: dict[str, float] | str | None = "prior" if args.prior else (dict(args.overrides) or None)
    design = Design(
        wave_days=tuple(args.waves) if args.waves else None,
        likert=args.likert,
        missing_days=args.missing_days,
        missing_items=args.missing_items,
        exogenous_events=dict(args.exogenous) if args.exogenous else None,
    )
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
    ds = simulate(args.variant, args.dyads, args.days, params=params, design=design, seed=seed,
                  residuals=(args.residuals,) if args.residuals else (), person_correlation=args.person_correlation)

    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".nc":
        ds.to_netcdf(out, engine="h5netcdf")
    elif suffix == ".csv":
        to_long(ds).to_csv(out, index=False)
    else:
        to_long(ds).to_parquet(out, index=False)

    if not args.quiet:
        threat = float(np.nanmean(ds["threat"].values))
        ta, tv = ds["trait_anxiety"].values, ds["trait_avoidance"].values
        print(
            f"wrote {out} ({FORMATS[suffix]}): variant {ds.attrs['variant']}, {args.dyads} dyads x {args.days} days, "
            f"seed {seed}\n"
            f"  threats on {threat:.0%} of reported dyad-days; "
            f"trait anxiety {np.nanmean(ta[..., 0]):.2f} -> {np.nanmean(ta[..., -1]):.2f}, "
            f"trait avoidance {np.nanmean(tv[..., 0]):.2f} -> {np.nanmean(tv[..., -1]):.2f} (first -> last wave)"
        )
    return 0
