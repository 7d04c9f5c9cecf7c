"""Parameter recovery and model recovery.

- :func:`parameter_recovery`: truth against the posterior of one fit (mean, interval, coverage,
  contraction, z-score).
- :func:`run_model_recovery`: simulate from each variant, fit every candidate variant to each
  dataset, compare the candidates by PSIS-LOO with a leave-out unit suited to time series
  (the person, or the person-week), and tabulate how often each true variant is picked
  (confusion matrix) and the mean stacking weights. Every fit is checkpointed to its own file,
  so a killed run resumes where it stopped; it runs on a local process pool or on Dask.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes.registry import get_variant
from asem_bayes.sbc.backends import informed_params, with_options
from asem_bayes.sbc.runner import RunCounts, Store, execute, guarded, task_seeds, worker_cached

__all__ = [
    "parameter_recovery",
    "prior_variances",
    "run_model_recovery",
    "load_recovery",
    "RecoveryResult",
    "DEFAULT_VARIANTS",
    "loo_dataset",
    "loo_result",
    "compact_store",
    "compare_stored",
    "recovery_dataset",
    "recovery_fit_seed",
]

DEFAULT_VARIANTS: tuple[str, ...] = ("stable", "uniform", "asem", "buffer_enhances")


def prior_variances(variant: Any) -> dict[str, float]:
    """Prior variance of each population parameter of a variant (Monte Carlo, fixed seed)."""
    rng = np.random.default_rng(0)
    return {p.name: float(np.var(p.prior.draw(rng, 100_000))) for p in get_variant(variant).params}


def parameter_recovery(
    fit: xr.DataTree | xr.Dataset,
    truth: Mapping[str, Any] | xr.Dataset,
    *,
    prob: float = 0.9,
    variant: Any = None,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Compare the posterior of the population parameters with their true values.

    Parameters
    ----------
    fit : xarray.DataTree or Dataset
        A fit (its ``posterior`` group) or a posterior Dataset with dims ``chain``, ``draw``.
    truth : mapping or Dataset
        True values, e.g. :func:`asem_bayes.true_params` of a simulated study.
    prob : float
        Central interval probability for coverage.
    variant : str, Variant or None
        Variant whose priors give the prior variance for contraction (default: the fit's
        ``asem_variant`` attribute).
    names : sequence of str or None
        Parameters to report (default: every scalar parameter present in both).

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``truth``, ``mean``, ``sd``, ``lower``, ``upper``, ``covered``,
        ``z`` (= (mean - truth) / sd) and ``contraction`` (1 - posterior / prior variance).
    """
    post = fit.posterior.to_dataset() if isinstance(fit, xr.DataTree) else fit
    if isinstance(truth, xr.Dataset):
        truth = {k: truth[k].values for k in truth.data_vars}
    if variant is None and isinstance(fit, xr.DataTree):
        variant = fit.attrs.get("asem_variant")
    prior_var = prior_variances(variant) if variant else {}
    if names is None:
        names = [n for n in post.data_vars if n in truth and np.ndim(truth[n]) == 0 and post[n].ndim == 2]
    a = (1 - prob) / 2
    rows = {}
    for n in names:
        x = post[n].values.reshape(-1)
        t = float(np.asarray(truth[n]))
        lo, hi = np.quantile(x, [a, 1 - a])
        sd = float(np.std(x, ddof=1))
        pv = prior_var.get(n, np.nan)
        rows[n] = {
            "truth": t,
            "mean": float(x.mean()),
            "sd": sd,
            "lower": float(lo),
            "upper": float(hi),
            "covered": bool(lo <= t <= hi),
            "z": (float(x.mean()) - t) / sd if sd > 0 else np.nan,
            "contraction": 1.0 - sd**2 / pv if pv and np.isfinite(pv) else np.nan,
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "parameter"
    df.attrs["prob"] = prob
    return df


# --------------------------------------------------------------------------------------------
# model recovery


@dataclass(frozen=True)
class _Settings:
    variants: tuple[str, ...]
    candidates: tuple[str, ...]
    n_dyads: int
    n_days: int
    params: str
    mode: str
    loo_unit: str
    draws: int
    tune: int
    chains: int
    target_accept: float
    cores: int | None
    seed: int
    backend: str = "nutpie"
    batch_size: int = 50
    x64: bool = True
    kfold: int = 0
    # K-fold splits: one per dataset, shared by the candidates, stratified by person (stores made
    # before that used one random split per fit and must not be resumed with this code)
    kfold_split: str = "shared-stratified"
    residuals: tuple[str, ...] = ()
    person_correlation: tuple[str, ...] = ()

    def variant(self, name: str) -> Any:
        """Variant ``name`` with the run's observation-model options."""
        return with_options(name, self.residuals, self.person_correlation)

    def config(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["variants"], d["candidates"] = list(self.variants), list(self.candidates)
        if self.backend == "nutpie":  # stores made before the JAX backend existed stay resumable
            for k in ("backend", "batch_size", "x64"):
                d.pop(k)
        if not self.kfold:  # likewise for stores made before K-fold existed
            d.pop("kfold")
            d.pop("kfold_split")
        for k in ("residuals", "person_correlation"):  # and before the options existed
            d[k] = list(d[k])
            if not d[k]:
                d.pop(k)
        return {"kind": "model_recovery", **d}


@dataclass(frozen=True)
class _RecJob:
    settings: _Settings
    true: str
    rep: int
    candidate: str


def fit_key(true: str, rep: int, candidate: str) -> str:
    return f"{true}__rep{rep:03d}__{candidate}"


def _dataset(s: _Settings, true: str, rep: int) -> xr.Dataset:
    return _run_dataset(s.config(), true, rep)


def recovery_dataset(out: str | Path, true: str, rep: int) -> xr.Dataset:
    """Dataset ``rep`` of true variant ``true`` of the model-recovery run stored in ``out``.

    The same simulation the run fitted (its seed derives from the run's seed and the indices), to
    inspect or refit one dataset, e.g. with other sampler settings.
    """
    store = Store(out)
    if true not in store.config["variants"]:
        raise ValueError(f"true variant {true!r} is not in the run at {out}: {store.config['variants']}")
    if rep < 0:
        raise ValueError(f"rep must be 0 or more, got {rep}")
    return _run_dataset(store.config, true, rep)


def recovery_fit_seed(out: str | Path, true: str, rep: int, candidate: str) -> int:
    """The sampler seed the model-recovery run in ``out`` used to fit ``candidate`` to dataset
    ``rep`` of ``true`` (to refit that fit, e.g. with other settings)."""
    cfg = Store(out).config
    if candidate not in cfg["candidates"]:
        raise ValueError(f"candidate {candidate!r} is not in the run at {out}: {cfg['candidates']}")
    return _fit_seed(cfg, true, rep, candidate)


def _fit_seed(cfg: Mapping[str, Any], true: str, rep: int, candidate: str) -> int:
    index = (list(cfg["variants"]).index(true), rep, 1000 + list(cfg["candidates"]).index(candidate))
    (seed,) = task_seeds(int(cfg["seed"]), index, 1)
    return seed


def _run_dataset(cfg: Mapping[str, Any], true: str, rep: int) -> xr.Dataset:
    """Dataset ``rep`` of true variant ``true`` in the run whose settings are ``cfg``."""
    from asem_bayes.simulate import simulate

    (seed,) = task_seeds(int(cfg["seed"]), (list(cfg["variants"]).index(true), rep), 1)
    params = None if cfg["params"] == "reference" else "prior"
    return simulate(true, int(cfg["n_dyads"]), int(cfg["n_days"]), params=params, seed=seed,
                    residuals=tuple(cfg.get("residuals", ())),
                    person_correlation=tuple(cfg.get("person_correlation", ())))


def _recovery_task(job: _RecJob) -> dict[str, Any]:
    def work() -> xr.DataTree:
        from asem_bayes.model import CompiledModel
        from asem_bayes.simulate import true_params

        s = job.settings
        data = _dataset(s, job.true, job.rep)
        fit_seed = _fit_seed(s.config(), job.true, job.rep, job.candidate)
        key = ("recovery", job.candidate, s.mode, s.n_dyads, s.n_days, *s.residuals, *s.person_correlation)
        cm = worker_cached(key, lambda: CompiledModel(data, job.candidate, mode=s.mode, trajectories=False,
                                                      residuals=s.residuals, person_correlation=s.person_correlation))
        tree = cm.fit(
            data,
            draws=s.draws,
            tune=s.tune,
            chains=s.chains,
            cores=s.cores,
            seed=fit_seed,
            loo_unit=s.loo_unit,
            target_accept=s.target_accept,
        )
        v = s.variant(job.candidate)
        names = [*v.param_names, *v.correlation_names]
        post = tree.posterior.to_dataset()[[n for n in names if n in tree.posterior]]
        truth = true_params(data)
        truth_ds = xr.Dataset({k: ((), float(x)) for k, x in truth.items() if np.ndim(x) == 0})
        attrs = {
            "true_variant": job.true,
            "fit_variant": job.candidate,
            "rep": job.rep,
            "asem_variant": job.candidate,
            "asem_mode": tree.attrs["asem_mode"],
            "loo_unit": s.loo_unit,
            "seed": fit_seed,
            "sample_seconds": float(tree.attrs.get("sample_seconds", np.nan)),
            "compile_seconds": float(cm.compile_seconds),
        }
        groups = {
            "/": xr.Dataset(attrs=attrs),
            "sample_stats": tree.sample_stats.to_dataset()[["diverging"]],
            "loo": loo_dataset(tree, data),
            "truth": truth_ds,
            **_stored_posterior(post, job.true, job.candidate),
        }
        if s.kfold:
            from asem_bayes.kfold import kfold

            # one split per dataset, shared by every candidate: elpd differences are paired by unit
            (fold_seed,) = task_seeds(s.seed, (s.variants.index(job.true), job.rep, 2000), 1)
            res = kfold(
                tree, data, compiled=cm, k=s.kfold, fold_seed=fold_seed, seed=fit_seed, draws=s.draws, tune=s.tune,
                chains=s.chains, cores=s.cores, target_accept=s.target_accept,
            )
            groups["kfold"] = kfold_dataset(res)
        return xr.DataTree.from_dict(groups)

    return guarded(fit_key(job.true, job.rep, job.candidate), work)


def kfold_dataset(res: Any) -> xr.Dataset:
    """A K-fold result (:func:`asem_bayes.kfold.kfold`) as a Dataset, to store with a fit."""
    divergences = [int(d["divergences"]) for d in getattr(res, "refit_diagnostics", {}).values()]
    return xr.Dataset(
        {
            "elpd_i": res.elpd_i.rename("elpd_i"),
            "p_kfold_i": res.p_kfold_i.rename("p_kfold_i"),
            "fold": (res.elpd_i.dims, np.asarray(res.asem_folds)),
        },
        attrs={
            "elpd": float(res.elpd), "se": float(res.se), "p": float(res.p), "n_samples": int(res.n_samples),
            "n_folds": int(res.n_folds), "asem_unit": res.asem_unit, "asem_mode": res.asem_mode,
            "asem_data": res.asem_data, "refit_divergences": sum(divergences),
        },
    )


def kfold_result(ds: xr.Dataset) -> Any:
    """The stored K-fold Dataset back as an ``ELPDDataLOOKFold`` that :func:`asem_bayes.compare` takes."""
    from arviz_stats.utils import ELPDDataLOOKFold

    a = ds.attrs
    res = ELPDDataLOOKFold(
        elpd=float(a["elpd"]), se=float(a["se"]), p=float(a["p"]), n_samples=int(a["n_samples"]),
        n_data_points=int(ds["elpd_i"].size), scale="log", warning=False, good_k=None, elpd_i=ds["elpd_i"],
        n_folds=int(a["n_folds"]), p_kfold_i=ds["p_kfold_i"],
    )
    res.asem_unit, res.asem_mode, res.asem_data = a["asem_unit"], a["asem_mode"], a["asem_data"]
    # stores made before the split was shared across candidates have no fold record
    res.asem_folds = ds["fold"].values if "fold" in ds else None
    return res


def _is_compact(tree: xr.DataTree) -> bool:
    if "log_likelihood" in tree.children or "loo" not in tree.children:
        return False
    own = tree.attrs["true_variant"] == tree.attrs["fit_variant"]
    if ("posterior" in tree.children) != own:
        return False
    post_ok = not own or all(v.dtype == np.float32 for v in tree["posterior"].to_dataset().data_vars.values())
    return tree["loo"]["elpd_i"].dtype == np.float32 and tree["loo"]["pareto_k"].dtype == np.float16 and post_ok


def _stored_posterior(post: xr.Dataset, true: str, candidate: str) -> dict[str, xr.Dataset]:
    """The posterior a recovery fit keeps: the population parameters in float32 where the
    candidate is the true variant (parameter recovery reads them); nothing otherwise, since the
    choice between candidates reads only the pointwise LOO."""
    return {"posterior": post.astype("float32")} if candidate == true else {}


def loo_dataset(tree: xr.DataTree, data: xr.Dataset | None = None, var_name: str = "log_lik") -> xr.Dataset:
    """A fit's pointwise PSIS-LOO as a small Dataset, to store in place of its log-likelihood.

    A recovery fit at the person-day keeps chains x draws x units log-likelihood values (about
    50 MB at 100 x 56); comparing candidates needs only the pointwise elpd and Pareto k (about
    100 kB). :func:`loo_result` turns the Dataset back into what :func:`asem_bayes.compare` takes.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with a ``log_likelihood`` group and the ``asem_mode`` and ``loo_unit`` attributes.
    data : xarray.Dataset, optional
        The fitted study; its fingerprint is stored so that results of different data are never
        compared.
    var_name : str
        The log-likelihood variable.
    """
    from arviz_stats import loo

    from asem_bayes.kfold import data_fingerprint

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pareto k is stored and restated by compare()
        res = loo(tree, pointwise=True, var_name=var_name)
    unit = tree.attrs.get("loo_unit") or tree["log_likelihood"][var_name].attrs.get("unit") or "unknown"
    # float32: its rounding moves an elpd sum of 10,000 units by about 0.01, far below its SE;
    # Pareto k is only compared with thresholds (0.5-1), which float16 resolves
    return _compressed(xr.Dataset(
        {"elpd_i": res.elpd_i.astype("float32"), "pareto_k": res.pareto_k.astype("float16")},
        attrs={
            "elpd": float(res.elpd), "se": float(res.se), "p": float(res.p), "n_samples": int(res.n_samples),
            "good_k": float(res.good_k), "asem_unit": str(unit), "asem_mode": str(tree.attrs.get("asem_mode")),
            "asem_data": data_fingerprint(data) if data is not None else "unknown",
        },
    ))


def _compressed(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every variable written zlib-compressed (netCDF keeps the setting in ``encoding``)."""
    for var in ds.data_vars.values():
        var.encoding.update(zlib=True, complevel=4, shuffle=True)
    return ds


def loo_result(ds: xr.Dataset) -> Any:
    """A stored PSIS-LOO Dataset (:func:`loo_dataset`) back as the ``ELPDData`` that
    :func:`asem_bayes.compare` takes."""
    from arviz_stats.utils import ELPDData

    a = ds.attrs
    res = ELPDData(
        elpd=float(a["elpd"]), se=float(a["se"]), p=float(a["p"]), n_samples=int(a["n_samples"]),
        n_data_points=int(ds["elpd_i"].size), scale="log", warning=bool((ds["pareto_k"] > a["good_k"]).any()),
        good_k=float(a["good_k"]), elpd_i=ds["elpd_i"].astype("float64"), pareto_k=ds["pareto_k"].astype("float64"),
    )
    res.asem_unit, res.asem_mode, res.asem_data = a["asem_unit"], a["asem_mode"], a["asem_data"]
    res.asem_criterion = "psis-loo"
    return res


def compare_stored(trees: Mapping[str, xr.DataTree], kfold: bool = False) -> pd.DataFrame:
    """:func:`asem_bayes.compare` of stored fits: by their K-fold group (``kfold=True``), their
    pointwise LOO, or, in stores written before fits kept only that, their log-likelihood."""
    from asem_bayes.compare import compare

    if kfold:
        return compare({c: kfold_result(t["kfold"].to_dataset()) for c, t in trees.items()})
    if all("loo" in t.children for t in trees.values()):
        return compare({c: loo_result(t["loo"].to_dataset()) for c, t in trees.items()})
    return compare(trees)


def compact_store(out: str | Path) -> int:
    """Replace the ``log_likelihood`` group of every stored fit of a recovery run by its PSIS-LOO.

    For stores written before fits kept only their pointwise LOO (and their posterior only
    where the candidate is the true variant): the comparison gives the same table, and the run
    directory shrinks several hundredfold. Each file is rewritten atomically
    with a new checksum, so an interrupted call leaves every fit whole.

    Returns
    -------
    int
        The number of fits rewritten.
    """
    store = Store(out)
    done = 0
    for key in store.keys():
        tree = store.read_fit(key)
        if _is_compact(tree):
            continue
        keep = ("sample_stats", "truth", "kfold")
        groups = {name: node.to_dataset() for name, node in tree.children.items() if name in keep}
        groups["/"] = tree.to_dataset()
        if "log_likelihood" in tree.children:
            data = _run_dataset(store.config, tree.attrs["true_variant"], int(tree.attrs["rep"]))
            groups["loo"] = loo_dataset(tree, data)
        else:
            loo = tree["loo"].to_dataset()
            groups["loo"] = _compressed(loo.assign(elpd_i=loo["elpd_i"].astype("float32"),
                                                   pareto_k=loo["pareto_k"].astype("float16")))
        if "posterior" in tree.children:
            groups |= _stored_posterior(tree["posterior"].to_dataset(), tree.attrs["true_variant"],
                                        tree.attrs["fit_variant"])
        store.write_fit(key, xr.DataTree.from_dict(groups))
        done += 1
    return done


def _recovery_batch(jobs: list[_RecJob]) -> list[dict[str, Any]]:
    """Fits of one candidate, one after the other: the worker compiles that candidate once."""
    return [_recovery_task(j) for j in jobs]


def _recovery_jax_batch(jobs: list[_RecJob]) -> list[dict[str, Any]]:
    """Fits of one candidate, all at once with the JAX sampler (``backend="jax-vmap"``); each
    fit's outcome is returned (and stored by the caller) after the batch."""
    from asem_bayes import jax_model
    from asem_bayes.model import log_likelihood
    from asem_bayes.sbc.jax_backend import JaxVmapBackend
    from asem_bayes.simulate import true_params

    s = jobs[0].settings
    cand = jobs[0].candidate
    v = s.variant(cand)
    made: dict[int, tuple] = {}
    errors: dict[int, BaseException] = {}
    for n, job in enumerate(jobs):
        try:
            data = _dataset(s, job.true, job.rep)
            made[n] = (data, _fit_seed(s.config(), job.true, job.rep, cand))
        except Exception as err:  # noqa: BLE001 - recorded for this fit below
            errors[n] = err
    fitted: dict[int, tuple] = {}
    if made:
        order = list(made)
        try:
            backend = JaxVmapBackend(
                cand, mode=s.mode, draws=s.draws, tune=s.tune, chains=s.chains, thin=1,
                target_accept=s.target_accept, batch_size=s.batch_size, x64=s.x64,
                residuals=s.residuals, person_correlation=s.person_correlation,
            )
            key = ("recovery-jax", backend.cache_key(), s.n_dyads, s.n_days)
            fitter = worker_cached(key, lambda: backend.prepare(made[order[0]][0]))
            inps = [fitter._inputs(made[n][0]) for n in order]
            for start in range(0, len(order), s.batch_size):
                part = order[start : start + s.batch_size]
                arrays = [fitter.model.data(inps[order.index(n)]) for n in part]
                pad = s.batch_size - len(part)
                seeds = [made[n][1] for n in part]
                out = jax_model.sample_many(
                    fitter.model, jax_model.stack_data(arrays + [arrays[-1]] * pad), seeds + [seeds[-1]] * pad,
                    backend.settings(),
                )
                fitter.compile_seconds += out["compile_seconds"]
                posts = jax_model.posterior_datasets(fitter.model, out, len(part))
                for i, n in enumerate(part):
                    fitted[n] = (posts[i], out["diverging"][i], inps[order.index(n)], out["sample_seconds"] / len(part))
        except Exception as err:  # noqa: BLE001 - the whole batch failed: record it for each fit
            from asem_bayes.sbc.jax_backend import without_jax_note

            errors.update({n: without_jax_note(err) for n in order if n not in fitted})

    def work(n: int, job: _RecJob) -> xr.DataTree:
        if n in errors:
            raise errors[n]
        data, fit_seed = made[n]
        post, diverging, inp, seconds = fitted[n]
        truth = true_params(data)
        attrs = {
            "true_variant": job.true,
            "fit_variant": cand,
            "rep": job.rep,
            "asem_variant": cand,
            "asem_mode": s.mode,
            "loo_unit": s.loo_unit,
            "seed": fit_seed,
            "sample_seconds": float(seconds),
            "compile_seconds": float(fitter.compile_seconds),
            "sampler": "jax-vmap",
        }
        draws = xr.DataArray(diverging, dims=("chain", "draw"), coords={"chain": post["chain"], "draw": post["draw"]})
        return xr.DataTree.from_dict(
            {
                "/": xr.Dataset(attrs=attrs),
                **_stored_posterior(post[[p for p in (*v.param_names, *v.correlation_names) if p in post]],
                                    job.true, cand),
                "sample_stats": xr.Dataset({"diverging": draws}),
                "loo": loo_dataset(
                    xr.DataTree.from_dict(
                        {"/": xr.Dataset(attrs=attrs), "posterior": post,  # PSIS's relative ESS needs it
                         "log_likelihood": log_likelihood(post, inp, v, s.mode, s.loo_unit)}
                    ),
                    data,
                ),
                "truth": xr.Dataset({k: ((), float(x)) for k, x in truth.items() if np.ndim(x) == 0}),
            }
        )

    return [
        guarded(fit_key(job.true, job.rep, cand), lambda n=n, job=job: work(n, job))
        for n, job in enumerate(jobs)
    ]


def _jax_batches(jobs: list[_RecJob], batch_size: int) -> list[list[_RecJob]]:
    """Fits grouped by candidate, ``batch_size`` per task (one vmapped call each)."""
    by_cand: dict[str, list[_RecJob]] = {}
    for j in jobs:
        by_cand.setdefault(j.candidate, []).append(j)
    return [g[i : i + batch_size] for g in by_cand.values() for i in range(0, len(g), batch_size)]


def _batches(jobs: list[_RecJob], workers: int) -> list[list[_RecJob]]:
    """One fit per task, the fits of each candidate in a row.

    A task's fits are stored when the task returns, so a task of one fit checkpoints every fit
    as it finishes (a task of 50 fits lost them all when a run was cut short). Workers take the
    tasks in order, so they pass through the candidates together and each compiles a candidate
    once (:func:`~asem_bayes.sbc.runner.worker_cached`): at most candidates x workers compiles.
    """
    del workers  # every worker takes the next fit in line
    order = {c: i for i, c in enumerate(dict.fromkeys(j.candidate for j in jobs))}
    return [[j] for j in sorted(jobs, key=lambda j: order[j.candidate])]


def run_model_recovery(
    out: str | Path,
    *,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    candidates: Sequence[str] | None = None,
    reps: int = 10,
    n_dyads: int = 100,
    n_days: int = 56,
    params: str = "reference",
    mode: str = "conditional",
    loo_unit: str = "person",
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    target_accept: float = 0.8,
    cores: int | None = None,
    seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    retry_failed: bool = False,
    backend: str = "nutpie",
    batch_size: int = 50,
    x64: bool = True,
    kfold: int = 0,
    residuals: Sequence[str] = (),
    person_correlation: Sequence[str] = (),
) -> RecoveryResult:
    """Model recovery: simulate from each variant, fit every candidate, pick by PSIS-LOO (or K-fold).

    Parameters
    ----------
    out : path
        The run's directory (one file per fit; running again resumes).
    variants : sequence of str
        True variants to simulate from.
    candidates : sequence of str or None
        Variants fitted to every dataset (default: ``variants``).
    reps : int
        Datasets per true variant.
    n_dyads, n_days : int
        Study size.
    params : {"reference", "prior"}
        True parameters: the variants' reference values (person-level values drawn from the
        population) or a fresh prior draw per dataset.
    mode : {"conditional", "joint"}
        Model mode of every fit (the same for all, so the log-likelihoods are comparable).
    loo_unit : {"person", "person-week", "dyad", "person-day"}
        Leave-out unit of PSIS-LOO; for diary time series leave out whole persons or
        person-weeks, not single days.
    draws, tune, chains, target_accept, cores
        Sampler settings per fit.
    seed : int
        Run seed (datasets and fits derive their seeds from it and their indices).
    workers, scheduler, client, progress
        As in :func:`asem_bayes.sbc.run_sbc` (on Dask, the workers return the fits and this
        process writes them into ``out``; no shared file system needed).
    retry_failed : bool
        Refit fits whose earlier attempt failed.
    backend : {"nutpie", "jax-vmap"}
        ``nutpie``: one compiled fit after another per worker, each stored as it finishes;
        ``jax-vmap``: ``batch_size`` fits
        of a candidate at once with the JAX sampler (:mod:`asem_bayes.jax_model`; blackjax NUTS
        with window adaptation, ``vmap`` over datasets and chains), for an accelerator. Every
        fit is still stored in its own file, written when its batch finishes.
    batch_size : int
        ``jax-vmap`` only: fits per batch.
    x64 : bool
        ``jax-vmap`` only: compute in float64 (else float32).
    kfold : int
        If > 0 (``nutpie`` backend, conditional mode), also run exact ``kfold``-fold
        cross-validation at ``loo_unit`` for every fit (:func:`asem_bayes.kfold.kfold`; K more
        fits each, through the same compiled model) and select by its elpd instead of PSIS-LOO.
        Use ``loo_unit="person-week"`` with it. Each dataset gets one fold split
        (:func:`asem_bayes.kfold.kfold_split`), shared by all candidates, so that their elpd
        differences are paired unit by unit.
    residuals, person_correlation : sequence of str
        Observation-model options (docs/model.md sections 17 and 18) of every variant, in the
        simulated data and in every fit; each variant must accept them.

    Returns
    -------
    RecoveryResult
    """
    from asem_bayes.model import LOO_UNITS

    variants = tuple(get_variant(v).name for v in variants)
    candidates = variants if candidates is None else tuple(get_variant(v).name for v in candidates)
    if params not in ("reference", "prior"):
        raise ValueError(f"params must be 'reference' or 'prior', got {params!r}")
    if loo_unit not in LOO_UNITS:
        raise ValueError(f"loo_unit must be one of {LOO_UNITS}, got {loo_unit!r}")
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    if backend not in ("nutpie", "jax-vmap"):
        raise ValueError(f"backend must be 'nutpie' or 'jax-vmap', got {backend!r}")
    if kfold < 0 or kfold == 1:
        raise ValueError(f"kfold must be 0 (PSIS-LOO) or at least 2 folds, got {kfold}")
    if kfold and (backend != "nutpie" or mode != "conditional"):
        raise ValueError("kfold needs backend='nutpie' and mode='conditional'")
    s = _Settings(variants, candidates, int(n_dyads), int(n_days), params, mode, loo_unit, int(draws), int(tune),
                  int(chains), float(target_accept), cores, int(seed), backend, int(batch_size), bool(x64),
                  int(kfold), residuals=tuple(residuals), person_correlation=tuple(person_correlation))
    for name in dict.fromkeys((*variants, *candidates)):
        s.variant(name)  # a variant that cannot take the options fails here, naming it
    store = Store(out, s.config())
    jobs = []
    skipped = skipped_failed = 0
    # Ordered by candidate: a worker compiles a candidate's model the first time it meets it.
    for cand in candidates:
        for true in variants:
            for rep in range(reps):
                k = fit_key(true, rep, cand)
                if store.has_fit(k) or (store.has_error(k) and not retry_failed):
                    skipped += 1
                    skipped_failed += not store.has_fit(k)
                    continue
                jobs.append(_RecJob(s, true, rep, cand))
    t0 = time.perf_counter()
    n_slots = workers if scheduler is None and client is None else 2 * len(candidates)
    fn, tasks = (
        (_recovery_jax_batch, _jax_batches(jobs, s.batch_size))
        if backend == "jax-vmap"
        else (_recovery_batch, _batches(jobs, n_slots))
    )
    keys = [[fit_key(j.true, j.rep, j.candidate) for j in task] for task in tasks]
    statuses = execute(fn, tasks, store=store, keys=keys, workers=workers, scheduler=scheduler, client=client,
                       progress=progress, desc="recovery fits", total=len(jobs))
    res = load_recovery(out, reps=reps)
    res.run_seconds = time.perf_counter() - t0
    res.run = RunCounts.of(statuses, skipped=skipped, skipped_failed=skipped_failed)
    return res


def load_recovery(out: str | Path, reps: int | None = None) -> RecoveryResult:
    """Summarise the stored fits of a model-recovery run (no refitting)."""
    from asem_bayes.compare import parsimonious_choice

    store = Store(out)
    cfg = store.config
    if cfg.get("kind") != "model_recovery":
        raise ValueError(f"{out} is not a model-recovery run (kind {cfg.get('kind')!r})")
    variants, candidates = tuple(cfg["variants"]), tuple(cfg["candidates"])

    def with_cfg(name: str) -> Any:  # the variant with the run's observation-model options
        return with_options(name, tuple(cfg.get("residuals", ())), tuple(cfg.get("person_correlation", ())))
    reps = int(reps) if reps is not None else 1 + max(
        (int(k.split("__")[1][3:]) for k in store.keys()), default=-1
    )
    loo_rows, choice_rows, param_frames = [], [], []
    for true in variants:
        for rep in range(reps):
            keys = {fit_key(true, rep, c): c for c in candidates if store.has_fit(fit_key(true, rep, c))}
            # a damaged file is skipped with a warning naming it (resuming the run refits it)
            trees = {keys[k]: tree for k, tree in store.read_fits(keys)}
            for cand, tree in trees.items():
                if cand == true:
                    # conditional fits: event-model parameters meet no likelihood (posterior = prior)
                    names = [n for n in informed_params(with_cfg(cand), cfg["mode"]) if n in tree.posterior]
                    pr = parameter_recovery(tree, tree["truth"].to_dataset(), variant=with_cfg(cand), names=names)
                    param_frames.append(pr.assign(variant=true, rep=rep).reset_index())
            if len(trees) < 2:
                continue
            use_kfold = bool(cfg.get("kfold")) and all("kfold" in t.children for t in trees.values())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = compare_stored(trees, kfold=use_kfold)
            for cand in trees:
                loo_rows.append(
                    {
                        "true": true,
                        "rep": rep,
                        "candidate": cand,
                        "elpd": float(table.loc[cand, "elpd"]),
                        "se": float(table.loc[cand, "se"]),
                        "elpd_diff": float(table.loc[cand, "elpd_diff"]),
                        "dse": float(table.loc[cand, "dse"]),
                        "weight": float(table.loc[cand, "weight"]),
                        "k_bad": int(table.loc[cand, "k_bad"]),
                        "criterion": "kfold" if use_kfold else "psis-loo",
                        "n_units": int(table.loc[cand, "n_units"]),
                        "divergences": int(trees[cand].sample_stats["diverging"].sum()),
                        "sample_seconds": float(trees[cand].attrs.get("sample_seconds", np.nan)),
                    }
                )
            # complexity: population parameters the likelihood informs in this mode
            complexity = {c: len(informed_params(with_cfg(c), cfg["mode"])) for c in trees}
            choice_rows.append(
                {"true": true, "rep": rep, "selected": str(table.index[0]),
                 "selected_parsimony": parsimonious_choice(table, complexity),
                 "complete": len(trees) == len(candidates),
                 **{f"w_{c}": float(table.loc[c, "weight"]) if c in table.index else np.nan for c in candidates}}
            )
    failed = store.failed()
    return RecoveryResult(
        loo=pd.DataFrame(loo_rows),
        choices=pd.DataFrame(choice_rows),
        parameters=pd.concat(param_frames, ignore_index=True) if param_frames else pd.DataFrame(),
        variants=variants,
        candidates=candidates,
        failed=failed,
        config=dict(cfg),
    )


def _recovered_line(variant: str, by_elpd: float, by_parsimony: float) -> str:
    """One summary line: how often data simulated from ``variant`` selected ``variant`` again."""
    return (
        f"data simulated from {variant!r}: {variant!r} itself was selected in {by_elpd:.0%} of datasets by the highest "
        f"elpd, and in {by_parsimony:.0%} by the rule 'simplest candidate about as good as the best'"
    )


@dataclass
class RecoveryResult:
    """Results of :func:`run_model_recovery`.

    Attributes
    ----------
    loo : DataFrame
        One row per fit: ``true``, ``rep``, ``candidate``, ``elpd``, ``se``, ``elpd_diff``,
        ``dse``, stacking ``weight``, ``k_bad`` (units with high Pareto k), ``divergences``.
    choices : DataFrame
        One row per dataset: the ``selected`` candidate (highest elpd), the
        ``selected_parsimony`` candidate (the variant with the fewest informed population
        parameters among those about as good as the best, see
        :func:`asem_bayes.compare.parsimonious_choice`) and the stacking weights ``w_<candidate>``.
    parameters : DataFrame
        Parameter recovery of the true variant's own fit (see :func:`parameter_recovery`).
    failed : dict
        Fit key -> last line of its error (every recorded failure in the store).
    run : RunCounts or None
        What the run that made this result did (fitted, failed and skipped fits); ``None`` for
        a result loaded from disk.
    """

    loo: pd.DataFrame
    choices: pd.DataFrame
    parameters: pd.DataFrame
    variants: tuple[str, ...]
    candidates: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    run_seconds: float = float("nan")
    run: RunCounts | None = None

    @property
    def fitted_now(self) -> int:
        """Fits that finished in the run that made this result (0 for a result loaded from disk)."""
        return self.run.fitted if self.run is not None else 0

    def confusion(self, normalize: bool = True, rule: str = "max") -> pd.DataFrame:
        """Rows: true variant; columns: selected variant (share of datasets, or counts).

        ``rule="max"`` selects the highest elpd; ``rule="parsimony"`` the simplest variant about as
        good as the best (:func:`asem_bayes.compare.parsimonious_choice`).
        """
        if rule not in ("max", "parsimony"):
            raise ValueError(f"rule must be 'max' or 'parsimony', got {rule!r}")
        col = "selected" if rule == "max" else "selected_parsimony"
        ch = self.choices[self.choices["complete"]] if len(self.choices) else self.choices
        counts = pd.crosstab(
            pd.Categorical(ch["true"] if len(ch) else [], categories=self.variants),
            pd.Categorical(ch[col] if len(ch) else [], categories=self.candidates),
            dropna=False,
        )
        counts.index.name, counts.columns.name = "true", "selected"
        if not normalize:
            return counts
        return counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)

    def mean_weights(self) -> pd.DataFrame:
        """Rows: true variant; columns: mean stacking weight of each candidate."""
        ch = self.choices[self.choices["complete"]]
        w = ch.groupby("true")[[f"w_{c}" for c in self.candidates]].mean()
        w.columns = list(self.candidates)
        return w.reindex(list(self.variants))

    def coverage(self) -> pd.DataFrame:
        """Per variant and parameter: share of intervals covering the truth, mean contraction, mean ``|z|``."""
        if self.parameters.empty:
            return pd.DataFrame()
        g = self.parameters.groupby(["variant", "parameter"])
        return pd.DataFrame(
            {"coverage": g["covered"].mean(), "contraction": g["contraction"].mean(), "mean_abs_z": g["z"].apply(
                lambda z: float(np.mean(np.abs(z))))}
        )

    def summary(self) -> str:
        conf = self.confusion()
        pars = self.confusion(rule="parsimony")
        how = "PSIS-LOO"
        if len(self.loo) and "criterion" in self.loo and (self.loo["criterion"] == "kfold").all():
            how = f"exact {self.config.get('kfold')}-fold cross-validation"
        lines = [
            f"Model recovery: {len(self.choices)} datasets, {len(self.loo)} fits compared by {how} "
            f"(leave-out unit {self.config.get('loo_unit')}), {len(self.failed)} fits failed."
        ]
        for v in self.variants:
            if v in conf.index and conf.loc[v].notna().all():
                if v not in conf.columns:
                    lines.append(f"data from {v!r}: not among the candidates")
                    continue
                lines.append(_recovered_line(v, conf.loc[v, v], pars.loc[v, v]))
        if len(self.loo) and self.loo["k_bad"].sum():
            n = int((self.loo["k_bad"] > 0).sum())
            lines.append(
                f"{n} of {len(self.loo)} fits had leave-out units with high Pareto k (PSIS-LOO unreliable there)."
            )
        for k, msg in sorted(self.failed.items()):
            lines.append(f"{k} failed: {msg}")
        if self.run is not None:
            lines.append(self.run.describe() + ".")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(
            {
                "confusion": self.confusion().round(3).to_dict(),
                "confusion_parsimony": self.confusion(rule="parsimony").round(3).to_dict(),
                "mean_weights": self.mean_weights().round(3).to_dict(),
                "failed": self.failed,
            },
            indent=2,
        )

    def plot_confusion(self, path: str | Path | None = None):
        """Two confusion matrices (share of datasets; one per selection rule) next to the mean
        stacking weights, with a note under each panel saying how to read it."""
        import matplotlib.pyplot as plt

        kf = len(self.loo) and "criterion" in self.loo and (self.loo["criterion"] == "kfold").all()
        how = "K-fold" if kf else "PSIS-LOO"
        fig, axes = plt.subplots(1, 3, figsize=(15, 5.0), constrained_layout=True)
        notes = (
            f"selected: the candidate with the highest {how} elpd",
            "selected: the simplest candidate (fewest informed\nparameters) whose elpd is within 4, or 2 SE,\n"
            "of the best; richer variants must clearly win",
            "average stacking weight: the best predictive mixture,\nnot the probability that a variant is true",
        )
        for ax, df, title, note in (
            (axes[0], self.confusion(), f"highest {how} elpd\n(share of datasets)", notes[0]),
            (axes[1], self.confusion(rule="parsimony"), "simplest about as good as the best\n(share of datasets)",
             notes[1]),
            (axes[2], self.mean_weights(), "mean stacking weight", notes[2]),
        ):
            vals = df.to_numpy(dtype=float)
            ax.imshow(np.nan_to_num(vals), vmin=0, vmax=1, cmap="Blues")
            ax.set_xticks(range(df.shape[1]), df.columns, rotation=30, ha="right")
            ax.set_yticks(range(df.shape[0]), df.index)
            for i in range(df.shape[0]):
                for j in range(df.shape[1]):
                    if np.isfinite(vals[i, j]):
                        ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center",
                                color="white" if vals[i, j] > 0.6 else "black", fontsize=9)
            ax.set_xlabel(f"candidate\n\n{note}", fontsize=9)
            ax.set_ylabel("true variant")
            ax.set_title(title, fontsize=10)
        n_per = self.choices.groupby("true").size().to_dict() if len(self.choices) else {}
        fig.suptitle(
            f"Model recovery ({self.config.get('n_dyads')} dyads x {self.config.get('n_days')} days, "
            f"{max(n_per.values(), default=0)} datasets per variant, leave-out unit {self.config.get('loo_unit')})\n"
            "rows: the variant that simulated the data; the diagonal: how often that variant was selected again"
        )
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig
