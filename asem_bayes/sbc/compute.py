"""SBC compute: run the fits (resumable, parallel), rank the truth, collect the results.

The run writes one file per simulation (``fits/sim_00012.nc``: groups ``truth``, ``data``,
``posterior`` with the thinned draws, ``diagnostics``). Ranks are computed from these files,
so new test quantities can be ranked later without refitting (:func:`load_sbc`).
"""

from __future__ import annotations

import multiprocessing as mp
import time
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes.sbc.backends import MockBackend, NutpieBackend
from asem_bayes.sbc.datasets import AsemGenerator, NormalGenerator
from asem_bayes.sbc.jax_backend import JaxVmapBackend
from asem_bayes.sbc.quantities import SAMPLE
from asem_bayes.sbc.runner import RunCounts, Store, execute, guarded, task_seeds, warn_damaged, worker_cached
from asem_bayes.sbc.stats import familywise_prob, uniformity_test

__all__ = ["run_sbc", "load_sbc", "rank_fit", "SBCResult", "sim_key", "GENERATORS", "BACKENDS", "from_spec"]

GENERATORS: dict[str, type] = {"AsemGenerator": AsemGenerator, "NormalGenerator": NormalGenerator}
BACKENDS: dict[str, type] = {
    "NutpieBackend": NutpieBackend,
    "MockBackend": MockBackend,
    "JaxVmapBackend": JaxVmapBackend,
}


def sim_key(i: int) -> str:
    return f"sim_{int(i):05d}"


def from_spec(spec: Mapping[str, Any], registry: Mapping[str, type]) -> Any:
    """Rebuild a generator or backend from its stored :meth:`spec`."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k != "class"}
    try:
        cls = registry[spec["class"]]
    except KeyError:
        raise ValueError(f"unknown class {spec.get('class')!r} in the stored run; known: {sorted(registry)}") from None
    return cls(**kwargs)


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    generator: Any
    backend: Any


def _design_signature(data: xr.Dataset) -> tuple:
    return (tuple(sorted((str(k), v.dims, v.shape) for k, v in data.data_vars.items())), data.attrs.get("likert", 0))


def _fitter(backend: Any, data: xr.Dataset) -> Any:
    if getattr(backend, "compiled", None) is not None:
        return backend.prepare(data)
    return worker_cached((backend.cache_key(), _design_signature(data)), lambda: backend.prepare(data))


def _sim_tree(
    job: _Job, seeds: Sequence[int], truth: xr.Dataset, data: xr.Dataset, post: xr.Dataset, diag: xr.Dataset
) -> xr.DataTree:
    s_data, s_fit, s_rank = seeds
    root = xr.Dataset(
        attrs={"sim": job.index, "run_seed": int(job.seed), "seed_data": s_data, "seed_fit": s_fit, "seed_rank": s_rank}
    )
    return xr.DataTree.from_dict({"/": root, "truth": truth, "data": data, "posterior": post, "diagnostics": diag})


def _sbc_task(job: _Job) -> dict[str, Any]:
    def work() -> xr.DataTree:
        seeds = task_seeds(job.seed, (job.index,), 3)
        truth, data = job.generator.generate(seeds[0])
        data.attrs["asem_sim"] = job.index
        post, diag = _fitter(job.backend, data).fit(data, seeds[1])
        return _sim_tree(job, seeds, truth, data, post, diag)

    return guarded(sim_key(job.index), work)


def _sbc_batch_task(jobs: list[_Job]) -> list[dict[str, Any]]:
    """A batch of simulations fitted at once by a batching backend (``fit_batch``); each
    simulation's outcome is returned (and stored by the caller) after the batch."""
    made: dict[int, tuple] = {}
    errors: dict[int, BaseException] = {}
    for job in jobs:
        try:
            seeds = task_seeds(job.seed, (job.index,), 3)
            truth, data = job.generator.generate(seeds[0])
            data.attrs["asem_sim"] = job.index
            made[job.index] = (seeds, truth, data)
        except Exception as err:  # noqa: BLE001 - recorded for this simulation below
            errors[job.index] = err
    fits: dict[int, tuple[xr.Dataset, xr.Dataset]] = {}
    if made:
        order = list(made)
        try:
            fitter = _fitter(jobs[0].backend, made[order[0]][2])
            res = fitter.fit_batch([made[i][2] for i in order], [made[i][0][1] for i in order])
            fits = dict(zip(order, res, strict=True))
        except Exception as err:  # noqa: BLE001 - the whole batch failed: record it for each simulation
            from asem_bayes.sbc.jax_backend import without_jax_note

            errors.update({i: without_jax_note(err) for i in order})

    def work(job: _Job) -> xr.DataTree:
        if job.index in errors:
            raise errors[job.index]
        seeds, truth, data = made[job.index]
        return _sim_tree(job, seeds, truth, data, *fits[job.index])

    return [guarded(sim_key(job.index), lambda job=job: work(job)) for job in jobs]


def run_sbc(
    generator: Any,
    backend: Any,
    n_sims: int,
    out: str | Path,
    *,
    seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    retry_failed: bool = False,
    quantities: Sequence[Any] | None = None,
) -> SBCResult:
    """Simulation-based calibration: prior draw -> simulate -> fit -> rank, for ``n_sims`` simulations.

    Parameters
    ----------
    generator : AsemGenerator or NormalGenerator
        Makes ``(truth, data)`` from a seed.
    backend : NutpieBackend, JaxVmapBackend or MockBackend
        Fits a dataset and returns the thinned draws. A backend with a ``batch_size``
        (:class:`~asem_bayes.sbc.jax_backend.JaxVmapBackend`) gets ``batch_size`` simulations per
        task, fitted at once; each is checkpointed when its batch finishes.
    n_sims : int
        Number of simulations (a finished run can be extended by asking for more).
    out : path
        The run's directory. Finished fits are kept there; running again with the same
        settings resumes, computing only what is missing.
    seed : int
        Run seed; simulation ``i`` uses seeds derived from ``(seed, i)`` only.
    workers : int
        Local worker processes (each compiles the model once); 0 runs inline. The stored fits
        are then read and ranked in as many processes (:func:`load_sbc`).
    scheduler, client
        Run on a Dask distributed cluster instead (address or ``distributed.Client``). The
        workers return their results and this process writes them into ``out``: the workers
        need ``asem_bayes`` installed, not access to ``out``.
    progress : bool
        Progress bar.
    retry_failed : bool
        Refit simulations whose earlier attempt failed (by default their error is kept).
    quantities : sequence or None
        Test quantities to rank (default: ``backend.quantities()``).

    Returns
    -------
    SBCResult
    """
    if n_sims < 1:
        raise ValueError(f"n_sims must be at least 1, got {n_sims}")
    if getattr(backend, "compiled", None) is not None and (workers > 0 or scheduler is not None or client is not None):
        raise ValueError("a backend holding a model compiled in this process can only run inline (workers=0)")
    config = {"kind": "sbc", "generator": generator.spec(), "backend": backend.spec(), "seed": int(seed)}
    store = Store(out, config)
    pending = [
        i
        for i in range(n_sims)
        if not store.has_fit(sim_key(i)) and (retry_failed or not store.has_error(sim_key(i)))
    ]
    todo = set(pending)
    skipped_failed = sum(1 for i in range(n_sims) if i not in todo and not store.has_fit(sim_key(i)))
    jobs = [_Job(i, int(seed), generator, backend) for i in pending]
    t0 = time.perf_counter()
    batch = getattr(backend, "batch_size", None)
    common = dict(store=store, workers=workers, scheduler=scheduler, client=client, progress=progress, desc="SBC fits")
    if batch:
        batches = [jobs[k : k + batch] for k in range(0, len(jobs), batch)]
        keys = [[sim_key(j.index) for j in b] for b in batches]
        statuses = execute(_sbc_batch_task, batches, keys=keys, total=len(jobs), **common)
    else:
        statuses = execute(_sbc_task, jobs, keys=[[sim_key(j.index)] for j in jobs], **common)
    res = load_sbc(out, quantities=quantities, sims=range(n_sims), backend=backend, workers=workers)
    res.run_seconds = time.perf_counter() - t0
    res.run = RunCounts.of(statuses, skipped=n_sims - len(jobs), skipped_failed=skipped_failed)
    return res


def _stack(post: xr.Dataset) -> xr.Dataset:
    """``(chain, draw, ...)`` -> ``(sample, ...)`` with a plain integer index."""
    n = post.sizes["chain"] * post.sizes["draw"]
    out = {}
    for name, da in post.data_vars.items():
        rest = [d for d in da.dims if d not in ("chain", "draw")]
        vals = da.transpose("chain", "draw", *rest).values.reshape(n, *[da.sizes[d] for d in rest])
        out[name] = ((SAMPLE, *rest), vals)
    coords = {d: post[d].values for d in post.dims if d not in ("chain", "draw") and d in post.coords}
    return xr.Dataset(out, coords={SAMPLE: np.arange(n), **coords})


def _rank(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Rank of ``values[0]`` (the truth) among ``values[1:]`` and its randomised PIT.

    Ties are broken uniformly at random, and the PIT spreads each rank uniformly over its
    ``1/(L+1)`` interval, so under calibration the PIT is exactly Uniform(0, 1).
    """
    truth, draws = values[0], values[1:]
    if not np.isfinite(truth) or not np.all(np.isfinite(draws)):
        return np.nan, np.nan
    less = int(np.sum(draws < truth))
    ties = int(np.sum(draws == truth))
    rank = less + (int(rng.integers(0, ties + 1)) if ties else 0)
    return float(rank), (rank + rng.random()) / (draws.size + 1)


def ess_draws(tree: xr.DataTree) -> int | None:
    """How many of a stored fit's draws are about independent: the smallest bulk or tail ESS the
    backend recorded (over the ranked population parameters, for the ASEM backends).

    None when the fit stored no ESS (e.g. a mock backend with independent draws).
    """
    if "diagnostics" not in tree:
        return None
    diag = tree["diagnostics"].to_dataset()
    ess = [float(diag[k]) for k in ("min_ess_bulk", "min_ess_tail") if k in diag and np.isfinite(float(diag[k]))]
    return max(1, int(min(ess))) if ess else None


def thin_posterior(post: xr.Dataset, max_draws: int | None) -> xr.Dataset:
    """Keep every k-th draw of each chain, ``k = ceil(draws in all chains / max_draws)``.

    Each chain keeps ``ceil(draws / k)``, so the total can exceed ``max_draws`` by less than the
    number of chains.
    """
    n = post.sizes["chain"] * post.sizes["draw"]
    if max_draws is None or max_draws >= n:
        return post
    step = -(-n // max(1, max_draws))
    return post.isel(draw=slice(None, None, step))


def rank_fit(
    tree: xr.DataTree, quantities: Sequence[Any], max_draws: int | None = None
) -> dict[str, dict[str, float]]:
    """Ranks of the truth for one stored fit: ``{quantity: {rank, pit, truth, mean, sd, n_draws}}``.

    ``max_draws`` thins the stored draws further before ranking (see :func:`load_sbc`'s
    ``thin_to_ess``); ranks then lie in ``0..n_draws``.
    """
    truth = tree["truth"].to_dataset()
    data = tree["data"].to_dataset()
    draws = _stack(thin_posterior(tree["posterior"].to_dataset(), max_draws))
    names = [n for n in draws.data_vars if n in truth]
    t = truth[names].expand_dims({SAMPLE: [-1]})
    t = t.transpose(SAMPLE, *[d for d in t.dims if d != SAMPLE])
    both = xr.concat([t, draws[names]], dim=SAMPLE, coords="minimal", compat="override", join="override")
    seed = int(tree.attrs["seed_rank"])
    out: dict[str, dict[str, float]] = {}
    for q in quantities:
        vals = q(both, data)
        for name in q.names:
            v = np.asarray(vals[name], dtype=float).reshape(-1)
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            rank, pit = _rank(v, rng)
            out[name] = {
                "rank": rank,
                "pit": pit,
                "truth": v[0],
                "mean": float(np.mean(v[1:])),
                "sd": float(np.std(v[1:], ddof=1)) if v.size > 2 else np.nan,
                "n_draws": float(v.size - 1),
            }
    return out


def load_sbc(
    out: str | Path,
    quantities: Sequence[Any] | None = None,
    sims: Sequence[int] | range | None = None,
    backend: Any = None,
    thin_to_ess: bool = False,
    workers: int = 1,
) -> SBCResult:
    """Rank the stored fits of a run, without refitting anything.

    Parameters
    ----------
    out : path
        Directory of a run of :func:`run_sbc`.
    quantities : sequence or None
        Test quantities (default: those of the run's backend). Pass new ones to re-rank.
    sims : sequence of int or None
        Which simulations (default: every finished one).
    backend : optional
        The run's backend (rebuilt from the stored settings when omitted).
    thin_to_ess : bool
        Rank each fit on at most as many draws as its smallest bulk/tail ESS (Talts et al. 2018,
        section 5): SBC ranks assume independent draws, and autocorrelated ones push ranks to the
        extremes whatever the model. The number of draws is chosen from the posterior draws
        alone, never from the truth, so a calibrated sampler still gives uniform PITs; ranks
        then lie in ``0..n_draws`` per simulation (``table["n_draws"]``).
    workers : int
        Processes that read and rank the fits. Reading a stored fit costs about 0.3 s (xarray
        reads its ~150 variables one by one), so a 200-fit run takes a minute in one process;
        ``workers`` split the fits in contiguous blocks, with the same result.
    """
    store = Store(out)
    if store.config.get("kind") != "sbc":
        raise ValueError(f"{out} is not an SBC run (kind {store.config.get('kind')!r})")
    if backend is None:
        backend = from_spec(store.config["backend"], BACKENDS)
    quantities = list(quantities) if quantities is not None else backend.quantities()
    keys = store.keys() if sims is None else [sim_key(i) for i in sims if store.has_fit(sim_key(i))]
    failed = {int(k.split("_")[1]): msg for k, msg in store.failed().items()}
    if sims is not None:
        wanted = set(int(i) for i in sims)
        failed = {k: v for k, v in failed.items() if k in wanted}
    ranked = _rank_in_processes(store.root, keys, quantities, thin_to_ess, workers)
    rows, diags, idx = [r[0] for r in ranked], [r[1] for r in ranked], [r[2] for r in ranked]
    n_ranks = max((int(r[quantities[0].names[0]]["n_draws"]) for r in rows), default=None)
    names = [n for q in quantities for n in q.names]
    kinds = [getattr(q, "kind", "derived") for q in quantities for _ in q.names]
    table = xr.Dataset(
        {
            f: (("sim", "quantity"), np.array([[r[n][f] for n in names] for r in rows]).reshape(len(rows), len(names)))
            for f in ("rank", "pit", "truth", "mean", "sd", "n_draws")
        },
        coords={"sim": np.asarray(idx, dtype=int), "quantity": names, "kind": ("quantity", kinds)},
        attrs={"n_ranks": int(n_ranks or 0)},
    )
    diagnostics = xr.concat(diags, dim="sim").assign_coords(sim=np.asarray(idx, dtype=int)) if diags else xr.Dataset()
    try:
        prior_var = from_spec(store.config["generator"], GENERATORS).prior_var()
    except (AttributeError, ValueError, KeyError):
        prior_var = None
    return SBCResult(
        table=table,
        diagnostics=diagnostics,
        failed=failed,
        config=dict(store.config),
        root=str(store.root),
        prior_var=prior_var,
    )


# Fewer fits per process than this are read in the calling process: starting one costs seconds.
MIN_FITS_PER_PROCESS = 20


def _rank_stored(root: Path, keys: Sequence[str], quantities: Sequence[Any], thin_to_ess: bool):
    """``(ranks, diagnostics, sim)`` of each readable fit of ``keys``, and the errors of the
    damaged ones (skipped), for :func:`load_sbc`."""
    damaged: list = []
    rows = [
        (rank_fit(tree, quantities, ess_draws(tree) if thin_to_ess else None), tree["diagnostics"].to_dataset(),
         int(tree.attrs["sim"]))
        for _key, tree in Store(root).read_fits(keys, on_damaged=damaged.append)
    ]
    return rows, damaged


def _rank_in_processes(root: Path, keys: Sequence[str], quantities: Sequence[Any], thin_to_ess: bool, workers: int):
    """:func:`_rank_stored` over contiguous blocks of ``keys`` in up to ``workers`` processes
    (in this one when there are few fits); each damaged fit warns here, naming its file."""
    keys = list(keys)
    n = max(1, min(int(workers), len(keys) // MIN_FITS_PER_PROCESS))
    if n == 1:
        parts = [_rank_stored(root, keys, quantities, thin_to_ess)]
    else:
        size = -(-len(keys) // n)
        blocks = [keys[i : i + size] for i in range(0, len(keys), size)]
        with ProcessPoolExecutor(max_workers=len(blocks), mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(_rank_stored, [root] * len(blocks), blocks, [quantities] * len(blocks),
                                  [thin_to_ess] * len(blocks)))
    for _, damaged in parts:
        for err in damaged:  # warned here, where the caller sees it, also from a child process
            warn_damaged(err)
    return [row for rows, _ in parts for row in rows]


@dataclass
class SBCResult:
    """Ranks and summaries of an SBC run.

    Attributes
    ----------
    table : xarray.Dataset
        Dims ``sim`` x ``quantity``: ``rank`` (0..``n_ranks``), ``pit`` (randomised, in (0, 1)),
        ``truth``, posterior ``mean`` and ``sd`` of each quantity, ``n_draws`` ranked; coord
        ``kind`` (``parameter`` or ``derived``); ``attrs["n_ranks"]`` (the largest ``n_draws``).
    diagnostics : xarray.Dataset
        Per simulation sampler diagnostics (divergences, R-hat, ESS, seconds).
    failed : dict
        Simulation index -> last line of its error (every recorded failure in the store).
    run : RunCounts or None
        What the run that made this result did (fitted, failed and skipped simulations);
        ``None`` for a result loaded from disk.
    """

    table: xr.Dataset
    diagnostics: xr.Dataset
    failed: dict[int, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    root: str = ""
    prior_var: dict[str, float] | None = None
    run_seconds: float = float("nan")
    run: RunCounts | None = None

    @property
    def fitted_now(self) -> int:
        """Fits that finished in the run that made this result (0 for a result loaded from disk)."""
        return self.run.fitted if self.run is not None else 0

    @property
    def ranks(self) -> xr.DataArray:
        """Ranks, dims ``sim`` x ``quantity``."""
        return self.table["rank"]

    @property
    def n_sims(self) -> int:
        return int(self.table.sizes["sim"])

    @property
    def n_ranks(self) -> int:
        return int(self.table.attrs["n_ranks"])

    def zscores(self) -> xr.DataArray:
        """``(posterior mean - truth) / posterior sd`` of each parameter."""
        p = self.table.where(self.table["kind"] == "parameter", drop=True)
        return (p["mean"] - p["truth"]) / p["sd"]

    def contraction(self) -> xr.DataArray:
        """``1 - posterior variance / prior variance`` of each parameter.

        The prior variance comes from the generator (``prior_var``) where it has one, else it
        is the variance of the true values over the simulations (they are prior draws).
        """
        p = self.table.where(self.table["kind"] == "parameter", drop=True)
        prior_var = p["truth"].var("sim", ddof=1)
        known = self.prior_var or {}
        prior_var = xr.DataArray(
            [known.get(str(q), float(v)) for q, v in zip(p["quantity"].values, prior_var.values, strict=True)],
            dims="quantity",
            coords={"quantity": p["quantity"].values},
        )
        return 1.0 - p["sd"] ** 2 / prior_var

    def uniformity(self, prob: float = 0.95, n_simulations: int = 1000, familywise: bool = False) -> pd.DataFrame:
        """Per quantity: gamma statistic, its critical value, whether the ECDF stays inside the
        simultaneous band, and ArviZ's ``pot_c`` p-value.

        Parameters
        ----------
        prob : float
            Level of each quantity's band, or with ``familywise`` the joint level of all of them.
        n_simulations : int
            Simulations for the bands' critical values.
        familywise : bool
            Test every band at :func:`~asem_bayes.sbc.stats.familywise_prob` (Bonferroni over
            the quantities), so that a calibrated model leaves any band with probability at most
            ``1 - prob``; per-quantity bands leave that to chance (41 bands at 95%: 88%).
        """
        quantities = [str(q) for q in self.table["quantity"].values]
        level = familywise_prob(prob, len(quantities)) if familywise else prob
        rows = {}
        for q in quantities:
            rows[q] = {"kind": str(self.table["kind"].sel(quantity=q).values)}
            rows[q].update(uniformity_test(self.table["pit"].sel(quantity=q).values, level, n_simulations))
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.attrs["band_level"] = level
        return out

    def passed(self, prob: float = 0.95, familywise: bool = False) -> bool:
        """Whether every quantity's ECDF stays inside its simultaneous band (see :meth:`uniformity`)."""
        return bool(self.uniformity(prob, familywise=familywise)["uniform"].all())

    def pit_tree(self) -> xr.DataTree:
        """PIT values as a DataTree (group ``sbc``, one variable per quantity, dim ``sim``) for ArviZ."""
        pit = self.table["pit"]
        ds = xr.Dataset({str(q): pit.sel(quantity=q, drop=True) for q in pit["quantity"].values})
        return xr.DataTree.from_dict({"sbc": ds.drop_vars("kind", errors="ignore")})

    def to_datatree(self) -> xr.DataTree:
        """Everything as one DataTree (groups ``sbc``, ``diagnostics``)."""
        import json

        table = self.table.copy()
        table.attrs = {"n_ranks": self.n_ranks, "config": json.dumps(self.config), "failed": json.dumps(self.failed)}
        return xr.DataTree.from_dict({"sbc": table, "diagnostics": self.diagnostics})

    def summary(self, prob: float = 0.95) -> str:
        """A short report in words."""
        uni = self.uniformity(prob)
        bad = uni.index[~uni["uniform"]].tolist()
        n_draws = self.table["n_draws"].values if "n_draws" in self.table else np.array([self.n_ranks])
        draws = (
            f"{self.n_ranks} thinned draws each"
            if np.unique(n_draws).size <= 1
            else f"each fit ranked on its ESS ({int(np.min(n_draws))}-{int(np.max(n_draws))} draws, "
            f"median {np.median(n_draws):.0f})"
        )
        lines = [
            f"SBC: {self.n_sims} simulations ranked ({len(self.failed)} failed), {draws}, {len(uni)} quantities.",
            (
                f"All quantities inside the simultaneous {prob:.0%} ECDF bands."
                if not bad
                else f"Outside the simultaneous {prob:.0%} ECDF band: {', '.join(bad)}."
            ),
        ]
        if len(uni) > 1:
            fw = self.uniformity(prob, familywise=True)
            bad_fw = fw.index[~fw["uniform"]].tolist()
            lines.append(
                f"Family-wise (every band at {fw.attrs['band_level']:.2%}, jointly {prob:.0%}): "
                + (f"outside: {', '.join(bad_fw)}." if bad_fw else "all inside.")
            )
        if "divergences" in self.diagnostics:
            nd = int((self.diagnostics["divergences"] > 0).sum())
            if nd:
                lines.append(f"{nd} of {self.n_sims} fits had divergent transitions.")
        if "max_rhat" in self.diagnostics:
            nr = int((self.diagnostics["max_rhat"] > 1.01).sum())
            if nr:
                lines.append(f"{nr} of {self.n_sims} fits had a population R-hat above 1.01.")
        by_msg: dict[str, list[int]] = {}
        for i, msg in sorted(self.failed.items()):
            by_msg.setdefault(msg, []).append(i)
        for msg, sims in by_msg.items():
            shown = ", ".join(map(str, sims[:10])) + (", ..." if len(sims) > 10 else "")
            lines.append(f"{len(sims)} simulation(s) failed ({shown}): {msg}")
        if self.run is not None:
            lines.append(self.run.describe() + ".")
        return "\n".join(lines)

    # plots live in asem_bayes.sbc.plots; thin wrappers for convenience
    def plot_ecdf(self, path: str | Path | None = None, prob: float = 0.95, quantities: Sequence[str] | None = None):
        from asem_bayes.sbc.plots import plot_ecdf_diff

        return plot_ecdf_diff(self, path, prob=prob, quantities=quantities)

    def plot_ranks(
        self, path: str | Path | None = None, bins: int | None = None, quantities: Sequence[str] | None = None
    ):
        from asem_bayes.sbc.plots import plot_rank_hist

        return plot_rank_hist(self, path, bins=bins, quantities=quantities)

    def plot_zscores(self, path: str | Path | None = None):
        from asem_bayes.sbc.plots import plot_z_contraction

        return plot_z_contraction(self, path)
