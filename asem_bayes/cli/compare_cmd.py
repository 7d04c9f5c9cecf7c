"""``asem compare``: compare stored fits by PSIS-LOO."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare fits (netCDF files from `asem fit`) by PSIS-LOO",
        description=(
            "Compare fits of the same data by PSIS-LOO with ArviZ. Fits must share the data, the mode and the "
            "leave-out unit of their log-likelihood; Pareto-k problems are stated in words."
        ),
    )
    p.add_argument("fits", nargs="+", type=Path, help="fit files (netCDF DataTrees with a log_likelihood group)")
    p.add_argument("--names", nargs="+", default=None, help="names of the fits (default: file names)")
    p.add_argument("--method", default="stacking", choices=("stacking", "bb-pseudo-bma", "pseudo-bma"))
    p.add_argument("--var-name", default="log_lik", help="log-likelihood variable (default log_lik)")
    p.add_argument("--csv", type=Path, default=None, help="also write the table here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import warnings

    import xarray as xr

    from asem_bayes.asem_model import FORMAT, ASEMModel
    from asem_bayes.compare import compare, describe, format_table, legend

    names = args.names or [f.stem for f in args.fits]
    if len(names) != len(args.fits):
        raise ValueError(f"{len(args.fits)} fits but {len(names)} names")
    if len(set(names)) != len(names):
        names = [str(f) for f in args.fits]
    for f in args.fits:
        if not f.exists():
            raise FileNotFoundError(f"no fit file {f}")
    fits = {}
    for name, f in zip(names, args.fits, strict=True):
        with xr.open_datatree(f) as tree:
            saved_by_model = tree.attrs.get("asem_format") == FORMAT
            fits[name] = None if saved_by_model else tree.load()
        if saved_by_model:  # the file leaves the log-likelihood out; loading recomputes it
            fits[name] = ASEMModel.load(f).idata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the problems are printed below
        table = compare(fits, method=args.method, var_name=args.var_name)
    shown = format_table(table)
    print(shown.to_string())
    print(legend(shown))
    print()
    print(describe(table))
    if args.csv:
        table.to_csv(args.csv)
    return 0
