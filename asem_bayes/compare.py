"""Compare fitted variants by PSIS-LOO (ArviZ), refusing comparisons that are not like for like.

Two fits can be compared only if their log-likelihoods score the same observations summed
within the same leave-out units: same data, same mode (the joint mode also scores the events),
same ``loo_unit``. :func:`compare` checks that, runs :func:`arviz_stats.compare`, and says in
words where Pareto-smoothed importance sampling cannot be trusted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes.options import LooUnit, MissingEvents, PartnerConditioning

__all__ = [
    "compare",
    "ComparisonError",
    "loo_problems",
    "format_table",
    "COLUMNS",
    "fair_comparison",
    "FairComparison",
]


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
    fits : mapping of str to xarray.DataTree, or of str to precomputed results
        Fits from :func:`asem_bayes.model.fit` (or :meth:`CompiledModel.fit`) with a
        ``log_likelihood`` group, all of the same data, mode and leave-out unit (compared by
        PSIS-LOO); or results of :func:`asem_bayes.kfold.kfold` of the same data, mode and unit
        (compared by their exact K-fold elpd; no Pareto k applies); or PSIS-LOO results a
        model-recovery run stored (:func:`asem_bayes.recovery.loo_result`).
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
        for name, res in loos.items():
            problems += loo_problems(name, res, unit)
    table = az_compare(loos, method=method, round_to="none")  # raw numbers; rounding is for display
    table["n_units"] = [int(loos[n].n_data_points) for n in table.index]
    table["k_bad"] = [
        0 if loos[n].pareto_k is None else int(np.sum(np.asarray(loos[n].pareto_k) > loos[n].good_k))
        for n in table.index
    ]
    # precomputed results: exact K-fold, or PSIS-LOO stored by a recovery run (asem_criterion)
    criteria = {getattr(r, "asem_criterion", "kfold") for r in loos.values()}
    if len(criteria) > 1:
        raise ComparisonError(f"results of different criteria ({sorted(criteria)}); compare like with like")
    table.attrs["method"] = "psis-loo" if trees else criteria.pop()
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


# ---------------------------------------------------------------------------------------------
# A fair comparison of ASEM fits with the APIM baselines (docs/model.md section 11)

KFoldWhen = Literal["unreliable", "always"]


@dataclass
class FairComparison:
    """ASEM fits and APIM baselines ranked on the same ratings (:func:`fair_comparison`).

    Attributes
    ----------
    psis : pandas.DataFrame
        The PSIS-LOO table of :func:`compare` (``k_bad``: units with high Pareto k).
    kfold : pandas.DataFrame or None
        The exact K-fold table (every model refitted on the same folds), where it was run.
    outcome, unit, partner_conditioning : str
        What was scored, the leave-out unit and the conditioning on the partner's same-day rating.
    cells : numpy.ndarray
        Boolean ``(dyad, person, day)``: the ratings every model scored.
    units : numpy.ndarray
        Flat indices (C order of the unit dims) of the units compared (those holding a scored cell).
    cells_per_unit : dict of str to numpy.ndarray
        Per model, the number of ratings it scored in each compared unit (the same for every model).
    notes : list of str
        What was dropped or restricted, and why K-fold ran.
    trees : dict of str to xarray.DataTree
        Per model, the posterior and the log-likelihood compared (dim ``unit``).
    kfold_results : dict or None
        Per model, the :func:`arviz_stats.loo_kfold` result.
    """

    psis: pd.DataFrame
    kfold: pd.DataFrame | None
    outcome: str
    unit: str
    partner_conditioning: str
    cells: np.ndarray
    units: np.ndarray
    cells_per_unit: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    trees: dict[str, xr.DataTree] = field(default_factory=dict)
    kfold_results: dict[str, Any] | None = None

    @property
    def table(self) -> pd.DataFrame:
        """The table to read: exact K-fold where it was run, else PSIS-LOO."""
        return self.kfold if self.kfold is not None else self.psis

    def report(self) -> str:
        """The tables and the comparison in words: PSIS-LOO first where exact K-fold also ran
        (the K-fold table is then the one to read), the legend, :meth:`describe`."""
        parts = []
        if self.kfold is not None:
            parts += ["PSIS-LOO (k_bad: units whose Pareto k is too high to trust it):",
                      format_table(self.psis).to_string(), "", "exact K-fold cross-validation (the table to read):"]
        shown = format_table(self.table)
        parts += [shown.to_string(), legend(shown), "", self.describe()]
        return "\n".join(parts)

    def describe(self) -> str:
        """The comparison in words: what was scored, the ranking and its caveats."""
        cond = {
            "none": "each rating scored without the partner's same-day rating (marginal over it)",
            "partner": "each rating scored given the partner's same-day rating where the partner rated",
        }[self.partner_conditioning]
        lines = [
            f"Fair comparison of {self.outcome!r}: {int(self.cells.sum())} ratings scored by every model, "
            f"{self.units.size} {self.unit} units; {cond}.",
            *self.notes,
            describe(self.table),
        ]
        if self.kfold is not None:
            lines.append(f"(PSIS-LOO ranking, for reference: {', '.join(self.psis.index)}.)")
        return "\n".join(lines)


def _kind(name: str, tree: Any) -> str:
    if not isinstance(tree, xr.DataTree):
        raise ComparisonError(f"fit {name!r} is a {type(tree).__name__}, not an xarray.DataTree")
    if tree.attrs.get("model") == "apim":
        return "apim"
    if tree.attrs.get("asem_variant"):
        return "asem"
    raise ComparisonError(f"fit {name!r} is neither an ASEM fit (attrs 'asem_variant') nor an APIM fit (fit_apim)")


def _person_day(data: xr.Dataset, name: str, what: str) -> np.ndarray:
    from asem_bayes import dims as D  # noqa: N812

    if name not in data:
        raise ComparisonError(f"{what} holds no {name!r}")
    return data[name].transpose(*D.PERSON_DAY_DIMS).values.astype(float)


def fair_comparison(
    fits: Mapping[str, xr.DataTree],
    data: xr.Dataset,
    outcome: str = "state_avoidance",
    *,
    unit: LooUnit = "person-week",
    partner_conditioning: PartnerConditioning = "none",
    kfold: int = 4,
    kfold_when: KFoldWhen = "unreliable",
    fold_seed: int = 0,
    seed: int = 0,
    compiled: Mapping[str, Any] | None = None,
    missing_events: MissingEvents = "error",
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    target_accept: float = 0.9,
    method: str = "stacking",
    refit_store: Any = None,
) -> FairComparison:
    """Rank ASEM fits and APIM baselines on the same ratings, unit and conditioning.

    Every model's log-likelihood is recomputed here so that all of them score

    - the **same outcome** (``outcome`` only: an ASEM fit's trait waves and other ratings are
      not scored, :func:`asem_bayes.apim.asem_log_likelihood`);
    - the **same observations**: the ratings that *every* model can score. The lagged APIM
      cannot score a person's first day, nor a day after a missing rating of either partner
      (it conditions on those as lags); those cells are dropped from every model's pointwise
      log-likelihood (``notes`` counts them), so all models are ranked on the same days. The
      dropped ratings stay in every fit (and in every K-fold training set): they are
      conditioning data, not scored;
    - the **same leave-out unit** ``unit`` (units without a scored rating are left out of all);
    - the **same conditioning** on the partner's same-day rating: ``partner_conditioning="none"``
      scores every rating marginally over it (the APIM's correlated residual is not used to
      predict a rating from the partner's; an ASEM fit with the ``"partner"`` residual option
      likewise), ``"partner"`` scores every rating given it where the partner rated (an ASEM fit
      without that option gains nothing from it: its partners are independent given its
      parameters). A dyad unit is scored by the joint density of both partners under either.

    The events are the same too: an APIM's event predictors are the columns its ASEM
    counterparts read (:func:`asem_bayes.apim.apim_design`); this is checked against each ASEM
    fit's ``constant_data``.

    PSIS-LOO with Pareto k is computed for every model (:func:`compare`). Where any model has a
    unit with Pareto k above ArviZ's threshold (``kfold_when="unreliable"``) or always
    (``"always"``), every model is also cross-validated by exact K-fold on one split
    (:func:`asem_bayes.kfold.kfold_split` with ``fold_seed``): ASEM fits refitted through their
    compiled model with the held-out units' ``outcome`` ratings set missing
    (:class:`asem_bayes.apim.AsemKFoldWrapper`, a :class:`asem_bayes.kfold.KFoldWrapper`), APIMs
    refitted with the held-out ratings' terms out of the likelihood
    (:class:`asem_bayes.apim.ApimKFoldWrapper`; in the lagged APIM a held-out rating stays the
    next day's lag, as in PSIS-LOO), each scoring its held-out units as above. All models are
    then ranked by K-fold (not a mix of K-fold and PSIS, which estimate different quantities).

    Parameters
    ----------
    fits : mapping of str to xarray.DataTree
        ASEM fits (:func:`asem_bayes.model.fit`, :meth:`CompiledModel.fit`, any variant and
        residual option) and APIM fits (:func:`asem_bayes.apim.fit_apim`, either kind) of
        ``data``; at least two.
    data : xarray.Dataset
        The study they were fitted to.
    outcome : str
        The daily rating compared (each APIM's outcome must be it).
    unit : {"person-week", "person", "person-day", "dyad"}
        Leave-out unit.
    partner_conditioning : {"none", "partner"}
        See above.
    kfold : int
        Folds of the exact K-fold (0: PSIS-LOO only).
    kfold_when : {"unreliable", "always"}
        Run K-fold only where PSIS-LOO flags a unit of some model, or always.
    fold_seed, seed : int
        Seed of the fold split, and of the refits (fold ``j`` samples with ``seed + j``).
    compiled : mapping of str to CompiledModel, optional
        Compiled models of the ASEM fits for the K-fold refits (compiled here otherwise, with
        ``missing_events``).
    missing_events : {"error", "absent", "person_rate"}
        The policy the ASEM fits were made with (to compile them for K-fold).
    draws, tune, chains : int or None
        Sampler settings of each K-fold refit; ``None``: the fit's own draws and chains (and,
        for ASEM fits, ``tune = draws``).
    target_accept : float
        Of the ASEM refits (APIM refits use their fit's).
    method : str
        ArviZ's weighting method.
    refit_store : RefitStore, optional
        Where each K-fold refit is checkpointed (:class:`asem_bayes.kfold.StoredRefits`, e.g.
        an :class:`asem_bayes.sbc.Store` made with this comparison's data and sampler settings):
        an interrupted comparison resumes, and the other conditioning reuses the refits (they
        do not depend on it; only the scoring does).

    Returns
    -------
    FairComparison
        Its ``table`` is the K-fold table where K-fold ran, else the PSIS-LOO one;
        ``describe()`` words it.

    Raises
    ------
    ComparisonError
        When a fit is neither kind, does not score ``outcome``, was fitted to other data, or an
        APIM's event predictors differ from an ASEM fit's events.
    """
    from arviz_stats import loo_kfold

    from asem_bayes import apim
    from asem_bayes import dims as D  # noqa: N812
    from asem_bayes.diagnostics import diagnose
    from asem_bayes.kfold import StoredRefits, data_fingerprint, kfold_split
    from asem_bayes.options import LOO_UNITS, PARTNER_CONDITIONINGS

    if unit not in LOO_UNITS:
        raise ValueError(f"unit must be one of {LOO_UNITS}, got {unit!r}")
    if partner_conditioning not in PARTNER_CONDITIONINGS:
        raise ValueError(f"partner_conditioning must be one of {PARTNER_CONDITIONINGS}, got {partner_conditioning!r}")
    if kfold_when not in ("unreliable", "always"):
        raise ValueError(f"kfold_when must be 'unreliable' or 'always', got {kfold_when!r}")
    if kfold and kfold < 2:
        raise ValueError(f"kfold must be 0 (PSIS-LOO only) or at least 2 folds, got {kfold}")
    fits = dict(fits)
    if len(fits) < 2:
        raise ComparisonError(f"need at least two fits to compare, got {len(fits)}")
    kinds = {name: _kind(name, tree) for name, tree in fits.items()}
    y = _person_day(data, outcome, "the data")
    observed = ~np.isnan(y)
    n_d, _, n_t = y.shape
    designs: dict[str, Any] = {}
    for name, tree in fits.items():
        if "posterior" not in tree.children:
            raise ComparisonError(f"fit {name!r} has no posterior group")
        if kinds[name] == "apim":
            if tree.attrs.get("outcome") != outcome:
                raise ComparisonError(f"APIM {name!r} models {tree.attrs.get('outcome')!r}, not {outcome!r}")
            try:
                designs[name] = apim.apim_design_of(tree, data)
            except apim.DataError as err:
                raise ComparisonError(f"APIM {name!r}: {err}") from None
        if "observed_data" in tree.children:
            fitted = _person_day(tree["observed_data"].to_dataset(), outcome, f"fit {name!r}'s observed data")
            if (
                fitted.shape != y.shape
                or not np.array_equal(np.isnan(fitted), ~observed)
                or not np.allclose(fitted[observed], y[observed])
            ):
                raise ComparisonError(f"fit {name!r} was fitted to other {outcome!r} ratings than these data hold")
        elif kinds[name] == "asem":
            raise ComparisonError(f"ASEM fit {name!r} has no observed_data group to check its data against")
    # Same event columns: each APIM's events are those every ASEM fit ran on.
    for a, design in designs.items():
        for b in (n for n, k in kinds.items() if k == "asem"):
            cd = fits[b]["constant_data"].to_dataset()
            for ev, values in design.events.items():
                theirs = cd[ev].transpose(*D.PERSON_DAY_DIMS).values
                differ = ~np.isclose(values, theirs)
                if differ.any():
                    raise ComparisonError(
                        f"APIM {a!r} and ASEM fit {b!r} read different values of the event {ev!r} on "
                        f"{int(differ.sum())} person-day(s): fit the APIM with the ASEM fit's missing_events policy"
                    )
    # The ratings every model scores.
    cells = observed.copy()
    notes: list[str] = []
    for name, design in designs.items():
        own = design.scored & observed
        if (cells & ~own).any():
            notes.append(
                f"{name!r} ({design.kind} APIM) scores {int(own.sum())} of the {int(observed.sum())} observed "
                f"{outcome!r} ratings (not a person's first day, nor a day after a missing rating of either partner: "
                "it conditions on those as lags)"
            )
        cells &= own
    dropped = int(observed.sum() - cells.sum())
    if dropped:
        notes.append(
            f"{dropped} rating(s) dropped from every model's pointwise log-likelihood, so all score the same "
            f"{int(cells.sum())}; they stay in every fit as conditioning data"
        )
    cell_unit, udims, extra, ushape = apim._units(unit, n_d, n_t)
    n_all_units = int(np.prod(ushape))
    count = np.bincount(cell_unit[cells.reshape(-1)], minlength=n_all_units)
    units = np.flatnonzero(count > 0)
    if units.size < n_all_units:
        notes.append(f"{n_all_units - units.size} {unit} unit(s) without a scored rating left out of every model")

    def scored_units(ll: xr.DataArray) -> np.ndarray:
        vals = ll.transpose("chain", "draw", *udims).values
        return vals.reshape(vals.shape[0], vals.shape[1], -1)[:, :, units]

    def score(name: str, tree: xr.DataTree) -> xr.DataArray:
        if kinds[name] == "apim":
            ll = apim.apim_log_likelihood(
                tree.posterior.to_dataset(), designs[name], unit, partner_conditioning=partner_conditioning, cells=cells
            )["log_lik"]
        else:
            ll = apim.asem_log_likelihood(
                tree, data, [outcome], unit, partner_conditioning=partner_conditioning, cells=cells
            )["log_lik"]
        return ll

    trees: dict[str, xr.DataTree] = {}
    cells_per_unit: dict[str, np.ndarray] = {}
    for name, tree in fits.items():
        vals = scored_units(score(name, tree))
        post = tree.posterior.to_dataset()
        da = xr.DataArray(
            vals,
            dims=("chain", "draw", "unit"),
            coords={"chain": post["chain"].values, "draw": post["draw"].values, "unit": units},
            attrs={"unit": unit},
        )
        t = xr.DataTree.from_dict({"posterior": post, "log_likelihood": xr.Dataset({"log_lik": da})})
        t.attrs.update(loo_unit=unit, partner_conditioning=partner_conditioning)
        trees[name] = t
        own = designs[name].scored if name in designs else observed
        cells_per_unit[name] = np.bincount(cell_unit[(cells & own).reshape(-1)], minlength=n_all_units)[units]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kept in psis.attrs["problems"]
        psis = compare(trees, method=method)
    unreliable = [n for n in psis.index if int(psis.loc[n, "k_bad"]) > 0]
    kfold_table, results = None, None
    if kfold and (kfold_when == "always" or unreliable):
        why = (
            f"PSIS-LOO is unreliable for {', '.join(repr(n) for n in unreliable)} (Pareto k)"
            if unreliable
            else "requested"
        )
        notes.append(f"exact {kfold}-fold cross-validation of every model on one split ({why}); ranked by it")
        all_folds = kfold_split(unit, n_d, n_t, k=kfold, seed=fold_seed)
        folds = all_folds[units]
        fingerprint = f"{data_fingerprint(data)}:{outcome}"
        results = {}
        loaded = 0
        for name, tree in fits.items():
            wrapper = _fair_wrapper(
                name, tree, data, kinds[name], designs.get(name), outcome, unit, units, cells,
                partner_conditioning, compiled, missing_events, draws, tune, chains, seed, target_accept,
            )  # fmt: skip
            if refit_store is not None:
                wrapper = StoredRefits(wrapper, refit_store, name)
            res = loo_kfold(trees[name], wrapper, pointwise=True, var_name="log_lik", folds=folds, save_fits=True)
            res.asem_folds = folds
            res.asem_unit = unit
            res.asem_mode = f"fair ({partner_conditioning})"
            res.asem_data = fingerprint
            names = None if kinds[name] == "asem" else [*apim.APIM_PARAMS, "u", "v"]
            res.refit_diagnostics = {
                j: diagnose(f["fit"], names).as_dict() for j, f in sorted((res.fold_fits or {}).items())
            }
            res.fold_fits = None
            results[name] = res
            loaded += getattr(wrapper, "loaded", 0)
        if loaded:
            notes.append(f"{loaded} of the {kfold * len(fits)} refits read from the refit store, not sampled again")
        kfold_table = compare(results, method=method)
    return FairComparison(
        psis=psis,
        kfold=kfold_table,
        outcome=outcome,
        unit=unit,
        partner_conditioning=partner_conditioning,
        cells=cells,
        units=units,
        cells_per_unit=cells_per_unit,
        notes=notes,
        trees=trees,
        kfold_results=results,
    )


def _fair_wrapper(
    name: str,
    tree: xr.DataTree,
    data: xr.Dataset,
    kind: str,
    design: Any,
    outcome: str,
    unit: str,
    units: np.ndarray,
    cells: np.ndarray,
    partner_conditioning: str,
    compiled: Mapping[str, Any] | None,
    missing_events: str,
    draws: int | None,
    tune: int | None,
    chains: int | None,
    seed: int,
    target_accept: float,
) -> Any:
    """The K-fold wrapper of one fit of :func:`fair_comparison`."""
    from asem_bayes import apim

    post = tree.posterior
    n_draws = int(draws or post.sizes["draw"])
    n_chains = int(chains or post.sizes["chain"])
    if kind == "apim":
        kw = {
            "draws": n_draws,
            "tune": int(tune or tree.attrs.get("tune", n_draws)),
            "chains": n_chains,
            "seed": seed,
            "cores": None,
            "target_accept": float(tree.attrs.get("target_accept", 0.8)),
        }
        return apim.ApimKFoldWrapper(tree, design, unit, units, cells, partner_conditioning, kw)
    from asem_bayes.covariates import PersonCovariates
    from asem_bayes.model import CompiledModel
    from asem_bayes.person_correlation import parse_names

    variant = tree.attrs["asem_variant"]
    residuals = tuple(r for r in str(tree.attrs.get("residuals", "") or "").split(",") if r)
    cm = (compiled or {}).get(name)
    if cm is None:
        covariates = PersonCovariates.from_json(tree.attrs.get("person_covariates"), variant)
        cm = CompiledModel(
            data,
            variant,
            mode=tree.attrs.get("asem_mode", "conditional"),
            missing_events=missing_events,
            trajectories=False,
            person_covariates=covariates,
            residuals=residuals,
            person_correlation=parse_names(tree.attrs.get("person_correlation")),
        )
    if cm.mode != "conditional":
        raise ComparisonError(
            f"K-fold of ASEM fit {name!r} needs the conditional mode (held-out events cannot be left out of the "
            "joint mode's conditioning set)"
        )
    events = cm.prepare(data).events
    cd = tree["constant_data"].to_dataset()
    for ev, x in events.items():
        if not np.allclose(x, cd[ev].transpose("day", "dyad", "person").values):
            raise ComparisonError(
                f"the compiled model of {name!r} reads other {ev!r} events than the fit ran on: give the fit's "
                f"missing_events policy (got {missing_events!r}) or its compiled model"
            )
    kw = {
        "draws": n_draws,
        "tune": int(tune or n_draws),
        "chains": n_chains,
        "cores": None,
        "seed": seed,
        "target_accept": target_accept,
    }
    return apim.AsemKFoldWrapper(tree, data, cm, kw, outcome, unit, units, cells, partner_conditioning)
