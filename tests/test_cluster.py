"""SBC and model recovery on a real Dask cluster: scheduler and workers as separate processes.

:class:`~asem_bayes.sbc.loopback.LoopbackCluster` starts ``dask scheduler`` and ``dask worker``
processes on 127.0.0.1. The workers start fresh (no variant imported, nothing compiled) in
their own working directories, and the run's store is a path relative to the test's working
directory, so a worker that wrote the store itself would write somewhere else: the results
must come home to the calling process, as on machines without a shared file system.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import dask
import pytest
import xarray as xr

distributed = pytest.importorskip("distributed")

from asem_bayes.recovery import run_model_recovery  # noqa: E402
from asem_bayes.sbc import AsemGenerator, MockBackend, NormalGenerator, NutpieBackend, run_sbc  # noqa: E402
from asem_bayes.sbc.loopback import LoopbackCluster  # noqa: E402
from asem_bayes.sbc.runner import Store, WorkerSetupError, execute, worker_cached  # noqa: E402

N_DYADS, N_DAYS = 4, 8
N_SIMS = 8
DEADLINE_S = 900  # the whole test; the cluster is torn down (and the test fails) past it


def _whole(root: Path, keys: list[str]) -> None:
    """The store holds exactly these fits, every file opens, no failure and no partial file."""
    store = Store(root)
    assert store.keys() == sorted(keys)
    assert store.failed() == {}
    assert not list(root.rglob(".*tmp*"))
    for k in keys:
        xr.open_datatree(store.fit_path(k)).close()


class _KillOnFirstResult(threading.Thread):
    """Waits until the first fit lands in the client's store, then SIGKILLs the worker with the
    most tasks in flight; tears the cluster down if the test runs past its deadline."""

    def __init__(self, cluster: LoopbackCluster, fits: Path, n: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.cluster, self.fits, self.n, self.deadline = cluster, fits, n, deadline
        self.done = threading.Event()
        self.killed: tuple[str, int] | None = None
        self.landed_at_kill = -1

    def run(self) -> None:
        with distributed.Client(self.cluster.address, timeout=60, set_as_default=False) as client:
            while not self.done.is_set():
                landed = len(list(self.fits.glob("*.nc"))) if self.fits.exists() else 0
                if landed >= 1:
                    busy = client.processing()
                    victim = max(busy, key=lambda w: len(busy[w]))
                    self.landed_at_kill = landed
                    self.killed = (victim, self.cluster.kill(victim))
                    return
                if time.monotonic() > self.deadline:
                    self.cluster.close()
                    return
                time.sleep(0.05)


@pytest.mark.slow  # about 3.5 minutes on 2 busy cores: compiling dominates
@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # R-hat of one chain is NaN
def test_sbc_and_recovery_on_loopback_cluster_survive_a_killed_worker(tmp_path, monkeypatch):
    deadline = time.monotonic() + DEADLINE_S
    scheduler_before = dask.config.get("scheduler", None)
    gen = AsemGenerator("stable", N_DYADS, N_DAYS)
    sbc_kw = dict(seed=5, progress=False)
    rec_kw = dict(variants=("stable",), candidates=("stable", "uniform"), reps=1, n_dyads=N_DYADS, n_days=N_DAYS,
                  draws=100, tune=100, chains=1, seed=5, progress=False)

    # Uninterrupted reference runs in this process; 'stable' is compiled once for both.
    from asem_bayes.model import CompiledModel

    _, example = gen.generate(0)
    cm = CompiledModel(example, "stable", mode="conditional", trajectories=False)
    worker_cached(("recovery", "stable", "conditional", N_DYADS, N_DAYS), lambda: cm)
    ref_backend = NutpieBackend("stable", draws=100, tune=100, chains=1, thin=5, compiled=cm)
    ref = run_sbc(gen, ref_backend, N_SIMS, tmp_path / "ref_sbc", workers=0, **sbc_kw)
    ref_rec = run_model_recovery(tmp_path / "ref_rec", workers=0, **rec_kw)
    assert not ref.failed and not ref_rec.failed

    client_dir = tmp_path / "client"
    client_dir.mkdir()
    monkeypatch.chdir(client_dir)  # the stores below are relative paths: "here" only for the client
    backend = NutpieBackend("stable", draws=100, tune=100, chains=1, thin=5)
    with LoopbackCluster(n_workers=2, threads=2, workdir=tmp_path / "cluster", timeout=180) as cluster:
        killer = _KillOnFirstResult(cluster, client_dir / "sbc" / "fits", N_SIMS, deadline)
        killer.start()
        try:
            res = run_sbc(gen, backend, N_SIMS, "sbc", scheduler=cluster.address, **sbc_kw)
        finally:
            killer.done.set()
            killer.join(timeout=60)
        assert killer.killed is not None, "no worker was killed"
        assert 1 <= killer.landed_at_kill < N_SIMS  # killed mid-run
        assert len(cluster.alive()) == 1
        # a fresh worker replaces the killed one; recovery runs on it and the survivor
        cluster.add_worker()
        with distributed.Client(cluster.address, timeout=60) as client:
            rec = run_model_recovery("rec", client=client, **rec_kw)
        logs = cluster.logs()

    assert not res.failed, (res.failed, logs)
    assert (res.run.fitted, res.run.failed, res.run.skipped) == (N_SIMS, 0, 0)
    _whole(client_dir / "sbc", [f"sim_{i:05d}" for i in range(N_SIMS)])
    xr.testing.assert_identical(res.table, ref.table)  # the same ranks as the uninterrupted run

    assert not rec.failed, (rec.failed, logs)
    assert (rec.run.fitted, rec.run.failed, rec.run.skipped) == (2, 0, 0)
    _whole(client_dir / "rec", [f"stable__rep000__{c}" for c in ("stable", "uniform")])
    cols = ["true", "rep", "candidate", "elpd", "se", "weight"]
    assert rec.loo[cols].sort_values(cols[:3]).reset_index(drop=True).equals(
        ref_rec.loo[cols].sort_values(cols[:3]).reset_index(drop=True)
    )
    # results came home: nothing was written into the workers' working directories
    assert not [p for p in (tmp_path / "cluster").rglob("*.nc")]
    assert dask.config.get("scheduler", None) == scheduler_before  # later inline runs still write


def test_worker_without_the_package_is_refused_with_a_clear_error(tmp_path):
    """A worker whose Python cannot import asem_bayes: the run stops at the start, naming it."""
    shadow = tmp_path / "shadow" / "asem_bayes"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('asem_bayes is not installed here')\n")
    env = {"PYTHONPATH": str(shadow.parent)}
    scheduler_before = dask.config.get("scheduler", None)
    with LoopbackCluster(n_workers=1, threads=1, workdir=tmp_path / "cluster", env=env, timeout=120) as cluster:
        with pytest.raises(WorkerSetupError, match="1 of 1 Dask workers cannot run asem_bayes") as info:
            run_sbc(NormalGenerator(), MockBackend(), 2, tmp_path / "out", scheduler=cluster.address, progress=False)
    assert "not installed here" in str(info.value) and "pip install" in str(info.value)
    assert not list((tmp_path / "out" / "fits").glob("*"))
    # the run's own client left the dask config as it was (a later inline run writes files with
    # xarray, which reads the scheduler from it)
    assert dask.config.get("scheduler", None) == scheduler_before


def _not_guarded(x: int) -> dict:
    raise OSError(f"task {x} lost")


def test_a_task_lost_on_the_cluster_is_recorded_for_its_fits_and_the_run_goes_on(tmp_path):
    store = Store(tmp_path / "s", {"kind": "test"})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            out = execute(_not_guarded, [1, 2], store=store, keys=[["a", "b"], ["c"]], client=client, progress=False)
    assert sorted(r["key"] for r in out) == ["a", "b", "c"] and not any(r["ok"] for r in out)
    assert set(store.failed()) == {"a", "b", "c"}
    assert "lost on the Dask cluster" in store.error_path("a").read_text()
    assert "OSError: task 1 lost" in store.failed()["a"]


def test_loopback_cluster_cleans_up(tmp_path):
    with LoopbackCluster(n_workers=1, threads=1, workdir=tmp_path / "c") as cluster:
        procs = [cluster.scheduler, *cluster.workers]
        assert cluster.address.startswith("tcp://127.0.0.1:")
        pid = cluster.kill(0)
        assert pid == procs[1].pid and not cluster.alive()
    assert all(p.poll() is not None for p in procs)
    with pytest.raises(ProcessLookupError):
        os.kill(procs[0].pid, 0)
