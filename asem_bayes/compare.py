"""Compare fitted variants by PSIS-LOO (ArviZ), refusing comparisons that are not like for like.

Two fits can be compared only if their log-likelihoods score the same observations summed
within the same leave-out units: same data, same mode (the joint mode also scores the events),
same ``loo_unit``. :func:`compare` checks that, runs :func:`arviz_stats.compare`, and says in
words where Pareto-smoothed importance sampling cannot be trusted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["compare", "ComparisonError", "loo_problems", "format_table", "COLUMNS"]


class ComparisonError(ValueError):
    """The fits cannot be compared: their log-likelihoods are not of the same observations."""


def _unit(tree: xr.DataTree, var_name: str) -> str:
    unit = tree.attrs.get("loo_unit") or tree["log_likelihood"][var_name].attrs.get("unit") or "unknown"
    return str(unit)


def _check_comparable(fits: Mapping[str, xr.DataTree], var_name: str) -> None:
    if len(fits) < 2:
        raise ComparisonError(f"need at least two fits to compare, got {len(fits)}")
    for name, tree in fits.items():
        if not isinstance(tree, xr.DataTree):
            raise ComparisonError(f"fit {name!r} is a {type(tree).__name__}, not an xarray.DataTree")
        if "log_likelihood" not in tree.children or var_name not in tree["log_likelihood"]:
            raise ComparisonError(
                f"fit {name!r} has no log_likelihood/{var_name}: fit it with loo_unit set (e.g. loo_unit='person')"
            )
        if "posterior" not in tree.children:
            raise ComparisonError(f"fit {name!r} has no posterior group")
    items = list(fits.items())
    ref_name, ref = items[0]
    ref_unit, ref_mode = _unit(ref, var_name), ref.attrs.get("asem_mode")
    ref_ll = ref["log_likelihood"][var_name]
    for name, tree in items[1:]:
        unit, mode = _unit(tree, var_name), tree.attrs.get("asem_mode")
        if unit != ref_unit:
            raise ComparisonError(
                f"fits {ref_name!r} and {name!r} sum the log-likelihood over different leave-out units "
                f"({ref_unit!r} and {unit!r}); refit with the same loo_unit"
            )
        if mode != ref_mode:
            raise ComparisonError(
                f"fit {ref_name!r} is in the {ref_mode} mode and {name!r} in the {mode} mode: the joint mode's "
                "log-likelihood also scores the events, so the two score different observations; compare fits "
                "of one mode"
            )
        ll = tree["log_likelihood"][var_name]
        obs_ref = {d: ref_ll.sizes[d] for d in ref_ll.dims if d not in ("chain", "draw")}
        obs = {d: ll.sizes[d] for d in ll.dims if d not in ("chain", "draw")}
        if obs != obs_ref:
            raise ComparisonError(
                f"fits {ref_name!r} and {name!r} have log-likelihoods over different units: {obs_ref} and {obs}"
            )
        for d in obs:
            if d in ref_ll.coords and d in ll.coords and not np.array_equal(ref_ll[d].values, ll[d].values):
                raise ComparisonError(f"fits {ref_name!r} and {name!r} label the {d!r} units differently")
        for group, what in (("observed_data", "observed ratings"), ("constant_data", "events")):
            if group in ref.children and group in tree.children:
                a, b = ref[group].to_dataset(), tree[group].to_dataset()
                if set(a.data_vars) != set(b.data_vars) or not a.equals(b):
                    raise ComparisonError(
                        f"fits {ref_name!r} and {name!r} were fitted to different data ({what} in {group} differ)"
                    )


def loo_problems(name: str, elpd: Any, unit: str) -> list[str]:
    """Pareto-k problems of one PSIS-LOO result, in words."""
    if elpd.pareto_k is None:
        return []
    k = np.asarray(elpd.pareto_k.values, dtype=float).reshape(-1)
    good = float(elpd.good_k)
    bad = int(np.sum(k > good))
    if not bad:
        return []
    fail = int(np.sum(k > 1.0))
    msg = (
        f"fit {name!r}: {bad} of {k.size} leave-out units ({unit}) have Pareto k above {good:.2f} "
        f"(largest {np.nanmax(k):.2f}), so PSIS-LOO is unreliable for them"
    )
    if fail:
        msg += f" and fails outright for {fail} (k > 1)"
    smaller = {"dyad": "person", "person": "person-week", "person-week": "person-day"}.get(unit)
    msg += (
        "; their elpd is probably overestimated, which favours this fit. Check with exact "
        "refits leaving those units out (K-fold: `asem compare --kfold 4`, `ASEMModel.kfold`)"
        + (f", or use a leave-out unit that removes less data at once ({smaller} instead of {unit})." if smaller
           else ".")
    )  # fmt: skip
    return [msg]


def _check_precomputed(results: Mapping[str, Any]) -> str:
    """Checks for K-fold results (from :func:`asem_bayes.kfold.kfold`); returns their unit."""
    if len(results) < 2:
        raise ComparisonError(f"need at least two results to compare, got {len(results)}")
    items = list(results.items())
    for name, res in items:
        if getattr(res, "elpd_i", None) is None:
            raise ComparisonError(f"result {name!r} has no pointwise elpd (elpd_i)")
    ref_name, ref = items[0]
    for name, res in items[1:]:
        for attr, what in (("asem_unit", "leave-out units"), ("asem_mode", "modes"), ("asem_data", "data")):
            a, b = getattr(ref, attr, None), getattr(res, attr, None)
            if a != b:
                raise ComparisonError(f"results {ref_name!r} and {name!r} differ in their {what} ({a!r} and {b!r})")
        if int(res.n_data_points) != int(ref.n_data_points):
            raise ComparisonError(
                f"results {ref_name!r} and {name!r} score {ref.n_data_points} and {res.n_data_points} units"
            )
        fa, fb = getattr(ref, "asem_folds", None), getattr(res, "asem_folds", None)
        if fa is not None and fb is not None and not np.array_equal(fa, fb):
            # Different splits hold different neighbours out together: the elpd difference then
            # mostly measures the splits, not the models.
            raise ComparisonError(
                f"results {ref_name!r} and {name!r} were made with different fold splits; give every kfold "
                "call the same folds (or fold_seed)"
            )
    return str(getattr(ref, "asem_unit", "unknown"))


def compare(
    fits: Mapping[str, Any],
    *,
    method: str = "stacking",
    var_name: str = "log_lik",
) -> pd.DataFrame:
    """Compare named fits by PSIS-LOO on :func:`arviz_stats.compare`.

    Parameters
    ----------
    fits : mapping of str to xarray.DataTree, or of str to K-fold results
        Fits from :func:`asem_bayes.model.fit` (or :meth:`CompiledModel.fit`) with a
        ``log_likelihood`` group, all of the same data, mode and leave-out unit (compared by
        PSIS-LOO); or results of :func:`asem_bayes.kfold.kfold` of the same data, mode and unit
        (compared by their exact K-fold elpd; no Pareto k applies).
    method : {"stacking", "bb-pseudo-bma", "pseudo-bma"}
        How ArviZ computes the model weights.
    var_name : str
        The log-likelihood variable.

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison table (best first: ``rank``, ``elpd``, ``elpd_diff``, ``dse``,
        ``weight``, ...) with the columns ``n_units`` and ``k_bad`` (units with Pareto k above
        ArviZ's threshold) added; ``attrs["problems"]`` lists Pareto-k problems in words (also
        issued as one ``UserWarning``) and ``attrs["unit"]`` the leave-out unit.

    Raises
    ------
    ComparisonError
        When the fits' log-likelihoods do not score the same observations in the same units.
    """
    from arviz_stats import compare as az_compare
    from arviz_stats import loo

    fits = dict(fits)
    trees = {n: f for n, f in fits.items() if isinstance(f, xr.DataTree)}
    if trees and len(trees) != len(fits):
        raise ComparisonError(
            "mix of fits (PSIS-LOO) and precomputed K-fold results; compare fits with fits, K-fold with K-fold"
        )
    loos, problems = {}, []
    if trees:
        _check_comparable(fits, var_name)
        unit = _unit(next(iter(fits.values())), var_name)
        for name, tree in fits.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # restated below, in words, per fit
                loos[name] = loo(tree, pointwise=True, var_name=var_name)
            problems += loo_problems(name, loos[name], unit)
    else:
        unit = _check_precomputed(fits)
        loos = fits
    table = az_compare(loos, method=method, round_to="none")  # raw numbers; rounding is for display
    table["n_units"] = [int(loos[n].n_data_points) for n in table.index]
    table["k_bad"] = [
        0 if loos[n].pareto_k is None else int(np.sum(np.asarray(loos[n].pareto_k) > loos[n].good_k))
        for n in table.index
    ]
    table.attrs["method"] = "kfold" if not trees else "psis-loo"
    table.attrs["problems"] = problems
    table.attrs["unit"] = unit
    if problems:
        warnings.warn("; ".join(problems), UserWarning, stacklevel=2)
    return table


def about_as_good(diff: float, dse: float, small: float = 4.0, n_se: float = 2.0) -> bool:
    """Whether a candidate ``diff`` elpd behind the best is not clearly worse.

    Not clearly worse: the difference is small (|diff| < ``small``; Sivula et al. 2022 call
    differences below 4 small) or within ``n_se`` standard errors of the difference.
    """
    return abs(diff) < small or (dse > 0 and abs(diff) < n_se * dse)


def parsimonious_choice(
    table: pd.DataFrame, complexity: Mapping[str, float], small: float = 4.0, n_se: float = 2.0
) -> str:
    """The simplest candidate of a comparison table that predicts about as well as the best.

    Selecting the highest elpd favours the larger of two nested variants about half the time
    when the smaller one is true (the extra parameters cost little elpd). This rule keeps the
    simpler variant unless the data clearly favour a richer one.

    Parameters
    ----------
    table : DataFrame
        A table from :func:`compare` (best first).
    complexity : mapping of str to number
        Candidate name -> complexity (e.g. its number of population parameters); ties go to the
        candidate with the higher elpd.
    small, n_se : float
        The "about as good" rule of :func:`about_as_good`.

    Returns
    -------
    str
        The selected candidate.
    """
    missing = [n for n in table.index if n not in complexity]
    if missing:
        raise KeyError(f"no complexity given for {missing}")
    ok = [
        n for n in table.index
        if about_as_good(float(table.loc[n, "elpd_diff"]), float(table.loc[n, "dse"]), small, n_se)
    ]
    order = list(table.index)
    return str(min(ok, key=lambda n: (complexity[n], order.index(n))))


# What each column of the printed comparison means (format_table's columns, in order).
COLUMNS: dict[str, str] = {
    "rank": "1 = best predictive fit",
    "elpd": "expected log predictive density over the held-out units (higher is better)",
    "se": "its standard error",
    "elpd_diff": "elpd minus the best fit's (0 for the best)",
    "dse": "standard error of that difference",
    "p_worse": "probability that this fit predicts worse than the best (normal approximation)",
    "p_loo": "effective number of parameters",
    "weight": "stacking weight: the best predictive mixture of the fits, not a probability that a fit is true",
    "n_units": "held-out units",
    "k_bad": "units whose Pareto k is too high for PSIS-LOO to be trusted (K-fold: none apply)",
}


def format_table(table: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """The comparison for reading: ranks from 1, rounded numbers and the columns of :data:`COLUMNS`
    (ArviZ's diagnostic flags ``diag_diff``/``diag_elpd`` become the words of :func:`describe`)."""
    out = pd.DataFrame(index=table.index)
    out["rank"] = table["rank"].astype(int) + 1
    for col in ("elpd", "se", "elpd_diff", "dse"):
        out[col] = table[col].astype(float).round(digits)
    out["p_worse"] = table["p_worse"].astype(float).round(2) if "p_worse" in table else np.nan
    out["p_loo"] = table["p"].astype(float).round(digits) if "p" in table else np.nan
    out["weight"] = table["weight"].astype(float).round(2)
    for col in ("n_units", "k_bad"):
        if col in table:
            out[col] = table[col].astype(int)
    out.index.name = "fit"
    return out


def legend(table: pd.DataFrame) -> str:
    """One line per column of :func:`format_table`'s output."""
    return "\n".join(f"  {c:<9} {COLUMNS[c]}" for c in table.columns if c in COLUMNS)


def describe(table: pd.DataFrame) -> str:
    """The comparison in a few sentences."""
    best = table.index[0]
    how_cv = "exact K-fold" if table.attrs.get("method") == "kfold" else "PSIS-LOO"
    lines = [f"Best predictive fit by {how_cv} (leave-out unit: {table.attrs.get('unit', '?')}): {best!r}."]
    for name in table.index[1:]:
        diff, dse = float(table.loc[name, "elpd_diff"]), float(table.loc[name, "dse"])
        if abs(diff) < 4:
            how = "predicts about as well (|elpd_diff| < 4)"
        elif about_as_good(diff, dse):  # the rule parsimonious_choice selects by
            how = f"is worse by {abs(diff):.1f} elpd, less than two standard errors ({dse:.1f})"
        else:
            how = f"is worse by {abs(diff):.1f} elpd (standard error {dse:.1f})"
        lines.append(f"{name!r} {how}; stacking weight {float(table.loc[name, 'weight']):.2f}.")
    weights = table["weight"].astype(float)
    if weights.max() > 0.99 and len(table) > 1:
        lines.append(
            "Stacking puts (almost) all weight on one fit whenever it predicts best, even by a little: "
            "read the elpd differences and their standard errors, not the weights, for how decisive it is."
        )
    lines += table.attrs.get("problems", [])
    return "\n".join(lines)
