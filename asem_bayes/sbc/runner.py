"""Run many independent fits: per-task seeds, a crash-safe store on disk, a process pool or Dask.

Shared by simulation-based calibration (:mod:`asem_bayes.sbc`) and model recovery
(:mod:`asem_bayes.recovery`). Workers never touch the store: each task returns its result
(serialised as netCDF bytes) or its traceback to the calling process, which writes one file per
finished fit as the results arrive (to a temporary name, then renamed with :func:`os.replace`,
which is atomic). So a run killed at any moment leaves only whole files behind and a restart
skips them, and a Dask cluster of machines without a shared file system works like the local
process pool. A task that raises has its traceback recorded and the run goes on.

Each fit's SHA-256 is written next to it (``fits/<key>.sha256``) before the fit file appears. A
file damaged later (truncated by a full disk or a crash of the machine, overwritten) no longer
matches: resuming moves it to ``damaged/`` with a :class:`DamagedFitWarning` naming it, and the
fit is computed again; reading a store's results skips it with the same warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import traceback
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "task_seeds",
    "Store",
    "execute",
    "guarded",
    "netcdf_bytes",
    "worker_cached",
    "RunCounts",
    "StoreMismatchError",
    "WorkerSetupError",
    "DamagedFitError",
    "DamagedFitWarning",
    "warn_damaged",
]


class WorkerSetupError(RuntimeError, ValueError):
    """A Dask worker cannot run the tasks (the package is missing or cannot be imported there)."""


class StoreMismatchError(ValueError):
    """A store on disk was made with settings that differ from the ones given now."""


class DamagedFitError(ValueError):
    """A fit file of a store is damaged: unreadable, or not the file that was written."""


class DamagedFitWarning(UserWarning):
    """A damaged fit file was set aside (resuming: and will be refitted) or skipped (reading)."""


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
    """A directory of finished fits (``fits/<key>.nc``, each with its SHA-256 in
    ``fits/<key>.sha256``) and failures (``errors/<key>.txt``).

    Parameters
    ----------
    root : path
        The run's directory; created if absent.
    config : mapping or None
        The settings that determine the results (JSON-able). The first run writes them to
        ``run.json``; a later run on the same directory must give the same settings, else
        :class:`StoreMismatchError` names the first setting that differs; it then checks every
        fit file and moves the damaged ones to ``damaged/`` (:meth:`set_aside_damaged`), so they
        are refitted. ``None`` opens an existing store for reading.
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
        self.set_aside_damaged()

    def _remove_partial(self) -> None:
        # Leftovers of a process killed while writing; the finished files are never touched.
        for d in (self.fits, self.errors):
            for p in d.glob(".*.tmp*"):
                p.unlink(missing_ok=True)

    def fit_path(self, key: str) -> Path:
        return self.fits / f"{key}.nc"

    def checksum_path(self, key: str) -> Path:
        return self.fits / f"{key}.sha256"

    def check_fit(self, key: str) -> str | None:
        """Why the fit file of ``key`` is damaged, or ``None`` when it is whole.

        A file with a recorded checksum must match it; a file from before checksums were kept
        must load (it then gets its checksum).
        """
        path = self.fit_path(key)
        recorded = self.checksum_path(key)
        if recorded.exists():
            want = recorded.read_text().split()[0] if recorded.read_text().strip() else ""
            got = _sha256(path)
            return None if got == want else f"its SHA-256 {got[:12]}... is not the {want[:12]}... recorded when written"
        try:
            with xr.open_datatree(path) as tree:
                tree.load()
        except Exception as err:  # noqa: BLE001 - any failure to read means the file is damaged
            return f"it cannot be read ({type(err).__name__}: {str(err)[:120]})"
        _atomic_write_text(recorded, f"{_sha256(path)}  {path.name}\n")
        return None

    def set_aside_damaged(self) -> list[Path]:
        """Move every damaged fit file (see :meth:`check_fit`) to ``damaged/``, warning for each.

        Returns
        -------
        list of Path
            Where the damaged files now are; their keys count as not fitted, so a resumed run
            fits them again.
        """
        moved = []
        for key in self.keys():
            why = self.check_fit(key)
            if why is None:
                continue
            dest_dir = self.root / "damaged"
            dest_dir.mkdir(exist_ok=True)
            dest = dest_dir / self.fit_path(key).name
            if dest.exists():
                dest = dest.with_name(f"{dest.stem}.{os.getpid()}-{len(list(dest_dir.iterdir()))}{dest.suffix}")
            os.replace(self.fit_path(key), dest)
            self.checksum_path(key).unlink(missing_ok=True)
            warnings.warn(
                f"damaged checkpoint {self.fit_path(key)}: {why}; moved to {dest}, the fit will be computed again",
                DamagedFitWarning,
                stacklevel=3,
            )
            moved.append(dest)
        return moved

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

    def write_fit(self, key: str, tree: xr.DataTree | bytes) -> Path:
        """Write one finished task atomically; clears an earlier error record of the key.

        Parameters
        ----------
        key : str
            The task's key (file ``fits/<key>.nc``).
        tree : DataTree or bytes
            The result, or its netCDF file as bytes (what a worker returns, see :func:`guarded`).
        """
        final = self.fit_path(key)
        tmp = final.with_name(f".{final.name}.tmp{os.getpid()}-{threading.get_ident()}")
        if isinstance(tree, bytes | bytearray | memoryview):
            data = bytes(tree)
            if not data.startswith(_NETCDF_MAGIC):
                raise ValueError(f"the result of {key} is not a netCDF file ({len(data)} bytes)")
            tmp.write_bytes(data)
        else:
            tree.to_netcdf(tmp)
        _fsync(tmp)
        # The checksum first: a crash between the two leaves a checksum without a fit (refitted).
        _atomic_write_text(self.checksum_path(key), f"{_sha256(tmp)}  {final.name}\n")
        os.replace(tmp, final)
        self.error_path(key).unlink(missing_ok=True)
        return final

    def write_error(self, key: str, text: str) -> Path:
        path = self.error_path(key)
        _atomic_write_text(path, text)
        return path

    def read_fit(self, key: str) -> xr.DataTree:
        """Load one finished task fully into memory (the file is closed afterwards).

        Raises
        ------
        DamagedFitError
            Naming the file, when it does not match its recorded checksum or cannot be read.
        """
        path = self.fit_path(key)
        recorded = self.checksum_path(key)
        if recorded.exists() and recorded.read_text().split()[:1] != [_sha256(path)]:
            raise DamagedFitError(f"damaged checkpoint {path}: it is not the file that was written (SHA-256 differs)")
        try:
            with xr.open_datatree(path) as tree:
                return tree.load()
        except Exception as err:  # noqa: BLE001 - xarray's message names neither file nor remedy
            raise DamagedFitError(
                f"damaged checkpoint {path}: it cannot be read ({type(err).__name__}: {str(err)[:120]})"
            ) from err

    def read_fits(
        self, keys: Iterable[str], on_damaged: Callable[[DamagedFitError], Any] | None = None
    ) -> Iterator[tuple[str, xr.DataTree]]:
        """``(key, fit)`` for each readable fit of ``keys``; a damaged one is skipped and passed
        to ``on_damaged`` (default :func:`warn_damaged`: a warning naming its file)."""
        for key in keys:
            try:
                yield key, self.read_fit(key)
            except DamagedFitError as err:
                (on_damaged or warn_damaged)(err)


def warn_damaged(err: DamagedFitError) -> None:
    """A :class:`DamagedFitWarning` naming the damaged fit file (resuming the run refits it)."""
    warnings.warn(f"{err}; skipped (resume the run to fit it again)", DamagedFitWarning, stacklevel=3)


# netCDF-4 files are HDF5 files; classic netCDF starts with "CDF"
_NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def guarded(key: str, fn: Callable[[], xr.DataTree]) -> dict[str, Any]:
    """Run one task where it is scheduled and return its outcome; never raises on task errors.

    Runs on the worker; the store is written by the calling process from what this returns
    (:func:`execute`), so a worker needs neither the store's path nor a shared file system.

    Parameters
    ----------
    key : str
        The task's key in the store.
    fn : callable
        Computes the task's result.

    Returns
    -------
    dict
        ``key``, ``ok``, ``seconds``, and either ``netcdf`` (the result as the bytes of a netCDF
        file) or ``error`` (its last line) and ``traceback`` (the text to record).
    """
    import time

    t0 = time.perf_counter()
    try:
        data = netcdf_bytes(fn())
        return {"key": key, "ok": True, "seconds": time.perf_counter() - t0, "netcdf": data}
    except Exception as err:  # noqa: BLE001 - one failing simulation must not stop the run
        return _failure(key, err, traceback.format_exc(), time.perf_counter() - t0)


def netcdf_bytes(tree: xr.DataTree) -> bytes:
    """The netCDF file of ``tree`` as bytes.

    Written to a file in this machine's temporary directory and read back: on a Dask worker,
    xarray takes a cluster-wide lock named after the target of every write, which an in-memory
    target (``to_netcdf()`` without a path) cannot name.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="asem-fit-") as tmp:
        path = Path(tmp) / "fit.nc"
        tree.to_netcdf(path)
        return path.read_bytes()


def _failure(key: str, err: BaseException, tb: str, seconds: float = float("nan")) -> dict[str, Any]:
    return {
        "key": key,
        "ok": False,
        "seconds": seconds,
        "error": f"{type(err).__name__}: {err}",
        "traceback": f"{key}: {type(err).__name__}: {err}\n\n{tb}",
    }


@dataclass
class RunCounts:
    """What one run did: fits finished now, fits that failed now, and tasks it skipped.

    Attributes
    ----------
    fitted : int
        Fits that finished in this run (now in the store).
    failed : int
        Fits that failed in this run (their tracebacks are in the store's ``errors``).
    skipped : int
        Fits not run because the store already had them: finished ones, and earlier failures
        when they are not retried.
    skipped_failed : int
        Of ``skipped``, the earlier failures (retried with ``retry_failed=True`` or ``--retry-failed``).
    """

    fitted: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_failed: int = 0

    @classmethod
    def of(cls, statuses: Iterable[Mapping[str, Any]], skipped: int = 0, skipped_failed: int = 0) -> RunCounts:
        """Count the statuses :func:`execute` returned."""
        ok = [bool(r.get("ok", True)) for r in statuses]
        return cls(sum(ok), len(ok) - sum(ok), skipped, skipped_failed)

    def describe(self) -> str:
        """One line, e.g. ``This run: 14 fitted, 2 failed, 4 skipped (already in the store)``."""
        text = f"This run: {self.fitted} fitted, {self.failed} failed, {self.skipped} skipped (already in the store"
        if self.skipped_failed:
            text += f"; {self.skipped_failed} of them failed before and were not retried"
        return text + ")"


def execute(
    fn: Callable[[Any], dict[str, Any] | list[dict[str, Any]]],
    tasks: Iterable[Any],
    *,
    store: Store | None = None,
    keys: Sequence[Sequence[str]] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    desc: str = "fits",
    total: int | None = None,
) -> list[dict[str, Any]]:
    """Run ``fn(task)`` for every task: inline, on a local process pool, or on Dask.

    Every engine returns each task's outcome (:func:`guarded`) to this process, which writes the
    finished fits and the failures into ``store`` as they arrive, so results come home from a
    cluster without a shared file system, and what finished is kept if the run is cut short.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers) returning the outcome of
        :func:`guarded`, or a list of them when a task is a batch of fits.
    tasks : iterable
        Picklable task descriptions.
    store : Store or None
        Where the outcomes are written (``None``: returned only).
    keys : sequence of sequences of str, or None
        The store keys each task computes. With Dask, a task lost on the cluster (e.g. a
        ``KilledWorker`` after its workers died repeatedly) is recorded as a failure of these
        keys and the run goes on; without them, it stops the run.
    workers : int
        Local worker processes; ``0`` runs every task in this process (debugging, and tests that
        reuse a model compiled in this process).
    scheduler : str or None
        Address of a Dask distributed scheduler (``tcp://host:8786``); the run goes there. Each
        worker needs ``asem_bayes`` installed (checked at the start), not the store.
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
        The status of each fit (``key``, ``ok``, ``seconds``, ``error`` when it failed), in
        completion order, without the results themselves (they are in the store).
    """
    from tqdm.auto import tqdm

    tasks = list(tasks)
    if keys is not None and len(keys) != len(tasks):
        raise ValueError(f"{len(keys)} key lists for {len(tasks)} tasks")
    results: list[dict[str, Any]] = []
    bar = tqdm(total=total or len(tasks), desc=desc, disable=not progress or not tasks, unit="fit")

    def done(res: dict[str, Any] | list[dict[str, Any]]) -> None:
        for r in res if isinstance(res, list) else [res]:
            r = dict(r)
            payload = r.pop("netcdf", None)
            tb = r.pop("traceback", None)
            if store is not None:
                if payload is not None:
                    try:
                        store.write_fit(r["key"], payload)
                    except ValueError as err:  # a corrupt result is a failure of that fit
                        r.update(_failure(r["key"], err, ""))
                        store.write_error(r["key"], r.pop("traceback"))
                elif not r.get("ok", True):
                    store.write_error(r["key"], tb or f"{r['key']}: {r.get('error', 'unknown error')}")
            results.append(r)
            bar.update(1)
            if not r.get("ok", True):
                bar.write(f"{r['key']} failed: {r.get('error', '')}")

    try:
        if not tasks:
            return results
        if client is not None or scheduler is not None:
            _execute_dask(fn, tasks, keys, client, scheduler, done)
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
                _terminate_workers(pool)
                raise
            pool.shutdown(wait=True)
    finally:
        bar.close()
    return results


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the fits still running in the pool's processes. Without this the interpreter waits at
    exit for them to finish (minutes each), and a killed run keeps the cores busy; their results
    would be thrown away anyway. (Python 3.14 has ``terminate_workers``; 3.12 exposes only the
    process table.)"""
    stop = getattr(pool, "terminate_workers", None)
    if stop is not None:
        stop()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())  # gone after shutdown: read first
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()


def _worker_check() -> dict[str, str]:
    """Runs on each Dask worker at the start: unpickling this function imports the package."""
    import asem_bayes

    return {"asem_bayes": asem_bayes.__version__}


def check_workers(client: Any) -> dict[str, dict[str, str]]:
    """Check that every connected Dask worker can import ``asem_bayes`` (same version as here).

    Raises
    ------
    WorkerSetupError
        Naming each worker that cannot, and why.
    """
    import warnings

    import asem_bayes

    res = client.run(_worker_check, on_error="return")
    bad = {w: r for w, r in res.items() if isinstance(r, BaseException)}
    if bad:
        lines = "; ".join(f"{w}: {type(e).__name__}: {e}" for w, e in sorted(bad.items()))
        raise WorkerSetupError(
            f"{len(bad)} of {len(res)} Dask workers cannot run asem_bayes tasks ({lines}). Every worker needs "
            "asem_bayes and its dependencies installed in the Python it runs (pip install asem-bayes, or the "
            "same checkout with pip install -e .); the store is written here and needs no shared disk."
        )
    other = {w: r["asem_bayes"] for w, r in res.items() if r["asem_bayes"] != asem_bayes.__version__}
    if other:
        warnings.warn(
            f"Dask workers run other asem_bayes versions than this process ({asem_bayes.__version__}): {other}",
            stacklevel=3,
        )
    return res


def _execute_dask(fn, tasks, keys, client, scheduler, done) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    own = client is None
    if own:
        # not set as the default: a client made here must leave the dask config as it found it
        client = Client(scheduler, set_as_default=False)
    pending: dict[str, tuple[Any, int]] = {}
    try:
        check_workers(client)
        futures = client.map(fn, tasks, pure=False)
        pending = {f.key: (f, i) for i, f in enumerate(futures)}
        completed = dask_completed(futures, loop=client.loop)
        del futures  # a result leaves the cluster's memory once it is written here
        for fut in completed:
            _, i = pending.pop(fut.key)
            try:
                res = fut.result()
            except Exception as err:  # noqa: BLE001 - lost on the cluster, not failed in the task
                if keys is None:
                    raise
                tb = traceback.format_exc()
                res = [_failure(k, err, f"lost on the Dask cluster, not raised by the fit:\n{tb}") for k in keys[i]]
            del fut
            done(res)
    except BaseException:
        client.cancel([f for f, _ in pending.values()])
        raise
    finally:
        if own:
            client.close()
