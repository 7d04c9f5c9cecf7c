"""Run many independent fits: per-task seeds, a crash-safe store on disk, a process pool or Dask.

Shared by simulation-based calibration (:mod:`asem_bayes.sbc`) and model recovery
(:mod:`asem_bayes.recovery`). Every task writes one file when it finishes (written to a temporary
name, then renamed with :func:`os.replace`, which is atomic), so a run killed at any moment leaves
only whole files behind and a restart skips them. A task that raises records its traceback and
the run goes on.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["task_seeds", "Store", "execute", "worker_cached", "StoreMismatchError"]


class StoreMismatchError(ValueError):
    """A store on disk was made with settings that differ from the ones given now."""


def task_seeds(run_seed: int, index: Sequence[int], n: int) -> list[int]:
    """``n`` independent seeds for task ``index`` of a run.

    ``SeedSequence(run_seed, spawn_key=index)`` is the same stream as the ``index``-th child of
    ``SeedSequence(run_seed).spawn(...)``: a task's seeds do not depend on how many tasks there
    are, in which order they run, or on which machine.
    """
    ss = np.random.SeedSequence(int(run_seed), spawn_key=tuple(int(i) for i in index))
    return [int(c.generate_state(1, np.uint32)[0]) for c in ss.spawn(n)]


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


class Store:
    """A directory of finished fits (``fits/<key>.nc``) and failures (``errors/<key>.txt``).

    Parameters
    ----------
    root : path
        The run's directory; created if absent.
    config : mapping or None
        The settings that determine the results (JSON-able). The first run writes them to
        ``run.json``; a later run on the same directory must give the same settings, else
        :class:`StoreMismatchError` names the first setting that differs. ``None`` opens an
        existing store for reading.
    """

    def __init__(self, root: str | os.PathLike, config: Mapping[str, Any] | None = None) -> None:
        self.root = Path(root)
        self.fits = self.root / "fits"
        self.errors = self.root / "errors"
        cfg_path = self.root / "run.json"
        if config is None:
            if not cfg_path.exists():
                raise FileNotFoundError(f"no run found at {self.root} (missing {cfg_path.name})")
            self.config = json.loads(cfg_path.read_text())
            return
        config = _jsonable(dict(config))
        if cfg_path.exists():
            old = json.loads(cfg_path.read_text())
            _check_same(old, config, str(cfg_path))
            self.config = old
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(cfg_path, json.dumps(config, indent=2, sort_keys=True))
            self.config = config
        self.fits.mkdir(exist_ok=True)
        self.errors.mkdir(exist_ok=True)
        self._remove_partial()

    def _remove_partial(self) -> None:
        # Leftovers of a process killed while writing; the finished files are never touched.
        for d in (self.fits, self.errors):
            for p in d.glob(".*.tmp*"):
                p.unlink(missing_ok=True)

    def fit_path(self, key: str) -> Path:
        return self.fits / f"{key}.nc"

    def error_path(self, key: str) -> Path:
        return self.errors / f"{key}.txt"

    def has_fit(self, key: str) -> bool:
        return self.fit_path(key).exists()

    def has_error(self, key: str) -> bool:
        return self.error_path(key).exists()

    def keys(self) -> list[str]:
        """Keys of the finished fits, sorted."""
        return sorted(p.stem for p in self.fits.glob("*.nc"))

    def failed(self) -> dict[str, str]:
        """Keys of the recorded failures (without a finished fit) and the last line of each error."""
        out = {}
        for p in sorted(self.errors.glob("*.txt")):
            if not self.has_fit(p.stem):
                lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
                out[p.stem] = lines[-1] if lines else "unknown error"
        return out

    def write_fit(self, key: str, tree: xr.DataTree) -> Path:
        """Write one finished task atomically; clears an earlier error record of the key."""
        final = self.fit_path(key)
        tmp = final.with_name(f".{final.name}.tmp{os.getpid()}-{threading.get_ident()}")
        tree.to_netcdf(tmp)
        _fsync(tmp)
        os.replace(tmp, final)
        self.error_path(key).unlink(missing_ok=True)
        return final

    def write_error(self, key: str, text: str) -> Path:
        path = self.error_path(key)
        _atomic_write_text(path, text)
        return path

    def read_fit(self, key: str) -> xr.DataTree:
        """Load one finished task fully into memory (the file is closed afterwards)."""
        with xr.open_datatree(self.fit_path(key)) as tree:
            return tree.load()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(text)
    _fsync(tmp)
    os.replace(tmp, path)


def _check_same(old: Any, new: Any, where: str, path: str = "") -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if k not in old or k not in new:
                raise StoreMismatchError(
                    f"{where} was made with different settings: {path + k!r} is "
                    f"{'absent' if k not in old else repr(old[k])} there and "
                    f"{'absent' if k not in new else repr(new[k])} now; use another output directory "
                    "or the original settings"
                )
            _check_same(old[k], new[k], where, f"{path}{k}.")
        return
    if old != new:
        raise StoreMismatchError(
            f"{where} was made with different settings: {path.rstrip('.')!r} is {old!r} there and {new!r} "
            "now; use another output directory or the original settings"
        )


# --------------------------------------------------------------------------------------------
# Per-process cache: each worker compiles a model once and reuses it for every task it runs.

_CACHE: dict[Hashable, Any] = {}
_CACHE_LOCK = threading.Lock()


def worker_cached(key: Hashable, make: Callable[[], Any]) -> Any:
    """Return the object cached under ``key`` in this process, building it once with ``make``.

    Process-pool workers and Dask workers are long-lived processes, so a compiled model built
    by the first task a worker runs serves all later tasks of that worker.
    """
    with _CACHE_LOCK:  # Dask workers may run tasks in several threads
        if key not in _CACHE:
            _CACHE[key] = make()
        return _CACHE[key]


def guarded(store_root: str, key: str, fn: Callable[[], xr.DataTree]) -> dict[str, Any]:
    """Run one task, write its result, or record its traceback; never raises on task errors."""
    import time

    store = Store(store_root)  # read-only open: the parent process checked the settings
    t0 = time.perf_counter()
    try:
        tree = fn()
        store.write_fit(key, tree)
        return {"key": key, "ok": True, "seconds": time.perf_counter() - t0}
    except Exception as err:  # noqa: BLE001 - one failing simulation must not stop the run
        store.write_error(key, f"{key}: {type(err).__name__}: {err}\n\n{traceback.format_exc()}")
        return {"key": key, "ok": False, "seconds": time.perf_counter() - t0, "error": f"{type(err).__name__}: {err}"}


def execute(
    fn: Callable[[Any], dict[str, Any]],
    tasks: Iterable[Any],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    desc: str = "fits",
    total: int | None = None,
) -> list[dict[str, Any]]:
    """Run ``fn(task)`` for every task: inline, on a local process pool, or on Dask.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers) returning a small status dict,
        or a list of them when a task is a batch of fits.
    tasks : iterable
        Picklable task descriptions.
    workers : int
        Local worker processes; ``0`` runs every task in this process (debugging, and tests that
        reuse a model compiled in this process).
    scheduler : str or None
        Address of a Dask distributed scheduler (``tcp://host:8786``); the run goes there.
    client : distributed.Client or None
        An existing Dask client; takes precedence over ``scheduler``.
    progress : bool
        Show a progress bar (tqdm).
    desc : str
        Label of the progress bar.
    total : int or None
        Number of fits, when tasks are batches (default: the number of tasks).

    Returns
    -------
    list of dict
        The status of each task, in completion order.
    """
    from tqdm.auto import tqdm

    tasks = list(tasks)
    results: list[dict[str, Any]] = []
    bar = tqdm(total=total or len(tasks), desc=desc, disable=not progress or not tasks, unit="fit")

    def done(res: dict[str, Any] | list[dict[str, Any]]) -> None:
        for r in res if isinstance(res, list) else [res]:
            results.append(r)
            bar.update(1)
            if not r.get("ok", True):
                bar.write(f"{r['key']} failed: {r.get('error', '')}")

    try:
        if not tasks:
            return results
        if client is not None or scheduler is not None:
            _execute_dask(fn, tasks, client, scheduler, done)
        elif workers <= 0:
            for t in tasks:
                done(fn(t))
        else:
            import multiprocessing as mp

            # "spawn": numba and nutpie start threads, which a forked child must not inherit.
            ctx = mp.get_context("spawn")
            pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx)
            try:
                futures = [pool.submit(fn, t) for t in tasks]
                for fut in as_completed(futures):
                    done(fut.result())
            except BaseException:
                # Interrupted (Ctrl-C, a crashed worker): drop the queued tasks instead of waiting
                # for them; what finished is on disk and the next run resumes from there.
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        bar.close()
    return results


def _execute_dask(fn, tasks, client, scheduler, done) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    own = client is None
    if own:
        client = Client(scheduler)
    futures = []
    try:
        futures = client.map(fn, tasks, pure=False)
        for fut in dask_completed(futures):
            done(fut.result())
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if own:
            client.close()
