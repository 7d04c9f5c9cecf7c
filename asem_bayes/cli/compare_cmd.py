"""``asem compare``: compare stored fits by PSIS-LOO, or by exact K-fold cross-validation."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare fits (netCDF files from `asem fit`) by PSIS-LOO or exact K-fold",
        description=(
            "Compare fits of the same data by PSIS-LOO with ArviZ, or by exact K-fold cross-validation "
            "(--kfold K: each fit is refitted K times with one fold of its leave-out units held out; use it where "
            "PSIS-LOO reports high Pareto k). Fits must share the data, the mode and the leave-out unit of their "
            "log-likelihood; Pareto-k problems are stated in words."
        ),
    )
    p.add_argument("fits", nargs="+", type=Path, help="fit files (netCDF DataTrees with a log_likelihood group)")
    p.add_argument("--names", nargs="+", default=None, help="names of the fits (default: file names)")
    p.add_argument("--method", default="stacking", choices=("stacking", "bb-pseudo-bma", "pseudo-bma"))
    p.add_argument("--var-name", default="log_lik", help="log-likelihood variable")
    p.add_argument(
        "--kfold",
        type=int,
        default=0,
        metavar="K",
        help="compare by exact K-fold cross-validation with K folds (0: PSIS-LOO); needs files saved by `asem fit` "
        "in the conditional mode, and refits each fit K times with its own sampler settings",
    )
    p.add_argument("--fold-seed", type=int, default=0, help="seed of the fold split, shared by every fit")
    p.add_argument("--seed", type=int, default=0, help="sampler seed of the K-fold refits (fold j uses seed + j)")
    p.add_argument("--csv", type=Path, default=None, help="also write the table here")
    p.set_defaults(func=run)


def _names(args: argparse.Namespace) -> list[str]:
    names = args.names or [f.stem for f in args.fits]
    if len(names) != len(args.fits):
        raise ValueError(f"{len(args.fits)} fits but {len(names)} names")
    if len(set(names)) != len(names):
        names = [str(f) for f in args.fits]
    for f in args.fits:
        if not f.exists():
            raise FileNotFoundError(f"no fit file {f}")
    return names


def _read_fits(names: list[str], files: list[Path]) -> dict[str, Any]:
    """Each file as a fit DataTree (a file saved by ``asem fit`` through the model object)."""
    import xarray as xr

    from asem_bayes.asem_model import FORMAT, ASEMModel

    fits = {}
    for name, f in zip(names, files, strict=True):
        with xr.open_datatree(f) as tree:
            saved_by_model = tree.attrs.get("asem_format") == FORMAT
            fits[name] = None if saved_by_model else tree.load()
        if saved_by_model:  # the file leaves the log-likelihood out; loading recomputes it
            fits[name] = ASEMModel.load(f).idata
    return fits


def _kfold_results(names: list[str], files: list[Path], k: int, fold_seed: int, seed: int) -> dict[str, Any]:
    """Exact K-fold of each saved fit, on one fold split (same ``fold_seed``)."""
    import xarray as xr

    from asem_bayes.asem_model import FORMAT, ASEMModel

    if k < 2:
        raise ValueError(f"--kfold needs at least 2 folds, got {k}")
    out = {}
    for name, f in zip(names, files, strict=True):
        with xr.open_datatree(f) as tree:
            if tree.attrs.get("asem_format") != FORMAT:
                raise ValueError(f"{f} was not saved by `asem fit` (ASEMModel.save): K-fold needs the fitted model")
        model = ASEMModel.load(f)
        unit = model.idata.attrs.get("loo_unit") or "person-week"
        print(f"K-fold of {name!r}: {k} refits ({unit} units held out)...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        out[name] = model.kfold(k, seed=seed, fold_seed=fold_seed, unit=unit)
        print(f"K-fold of {name!r}: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def run(args: argparse.Namespace) -> int:
    import warnings

    from asem_bayes.compare import compare, describe, format_table, legend

    names = _names(args)
    if args.kfold:
        fits = _kfold_results(names, list(args.fits), args.kfold, args.fold_seed, args.seed)
    else:
        fits = _read_fits(names, list(args.fits))
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
