"""A real Dask cluster on this machine: ``dask scheduler`` and ``dask worker`` as separate processes.

For trying the cluster path of :func:`asem_bayes.sbc.run_sbc` and
:func:`asem_bayes.recovery.run_model_recovery` before a real cluster (and for the tests and the
throughput benchmark): unlike ``distributed.LocalCluster``, nothing is shared with the calling
process, each worker starts fresh (no variant imported, no model compiled), listens on the
loopback address only, and can be killed with ``SIGKILL`` like a machine that fails.

Example
-------
>>> from asem_bayes.sbc.loopback import LoopbackCluster
>>> with LoopbackCluster(n_workers=2, threads=2) as cluster:  # doctest: +SKIP
...     res = run_sbc(gen, backend, 16, "out", scheduler=cluster.address)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["LoopbackCluster"]

HOST = "127.0.0.1"


class LoopbackCluster:
    """Start a Dask scheduler and ``n_workers`` worker processes on ``127.0.0.1``.

    Each worker runs without a nanny (``--no-nanny``), so its process id is the worker itself:
    :meth:`kill` ends it at once, as a crashed machine would, and nothing restarts it.

    Parameters
    ----------
    n_workers : int
        Worker processes to start.
    threads : int
        Threads per worker (``--nthreads``).
    workdir : path or None
        Directory for the scheduler file and each worker's working directory (``worker-<i>``,
        also its ``--local-directory``); a temporary directory when omitted. The workers do
        not share the caller's working directory, so a relative path means another place there.
    timeout : float
        Seconds to wait for the scheduler and the workers to come up.
    env : mapping or None
        Extra environment variables of the worker processes.

    Attributes
    ----------
    address : str
        The scheduler's address (``tcp://127.0.0.1:<port>``), once started.
    """

    def __init__(
        self,
        n_workers: int = 2,
        threads: int = 2,
        workdir: str | os.PathLike | None = None,
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> None:
        if n_workers < 0 or threads < 1:
            raise ValueError(f"need n_workers >= 0 and threads >= 1, got {n_workers}, {threads}")
        self.n_workers = n_workers
        self.threads = threads
        self.timeout = timeout
        self.env = dict(env or {})
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.workdir = Path(workdir) if workdir is not None else None
        self.address = ""
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> LoopbackCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LoopbackCluster:
        """Start the scheduler, then the workers; return once every worker has joined."""
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="asem-loopback-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        sched_file = self.workdir / "scheduler.json"
        sched_file.unlink(missing_ok=True)
        self.scheduler = self._spawn(
            [
                "distributed.cli.dask_scheduler",
                "--host", HOST, "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file),
            ],
            self.workdir,
            self.workdir / "scheduler.log",
        )
        deadline = time.monotonic() + self.timeout
        while True:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited with {self.scheduler.returncode}; see {self.workdir}")
            try:
                self.address = json.loads(sched_file.read_text())["address"]
                break
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the dask scheduler did not start within {self.timeout} s")
            time.sleep(0.1)
        for _ in range(self.n_workers):
            self.add_worker(wait=False)
        self.wait_for_workers(self.n_workers, deadline - time.monotonic())
        return self

    def add_worker(self, wait: bool = True) -> subprocess.Popen:
        """Start one more worker process (fresh: nothing imported, nothing compiled)."""
        i = len(self.workers)
        wdir = self.workdir / f"worker-{i}"
        wdir.mkdir(exist_ok=True)
        proc = self._spawn(
            [
                "distributed.cli.dask_worker", self.address,
                "--host", HOST, "--nthreads", str(self.threads), "--nworkers", "1", "--no-nanny",
                "--no-dashboard", "--name", f"worker-{i}", "--local-directory", str(wdir),
                "--death-timeout", "60",
            ],
            wdir,
            self.workdir / f"worker-{i}.log",
            env=self.env,
        )
        self.workers.append(proc)
        if wait:
            self.wait_for_workers(len(self.alive()), self.timeout)
        return proc

    def _spawn(
        self, args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        full_env = {**os.environ, **(env or {})}
        with open(log, "ab") as fh:
            return subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=cwd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,  # its own process group: close() ends it and its children
            )

    def wait_for_workers(self, n: int, timeout: float) -> None:
        """Block until ``n`` workers are connected to the scheduler."""
        from distributed import Client

        with Client(self.address, timeout=max(timeout, 1.0), set_as_default=False) as client:
            client.wait_for_workers(n, timeout=max(timeout, 1.0))

    def alive(self) -> list[subprocess.Popen]:
        """The worker processes still running."""
        return [p for p in self.workers if p.poll() is None]

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> process id, as the scheduler sees them."""
        from distributed import Client

        with Client(self.address, timeout=self.timeout, set_as_default=False) as client:
            return client.run(os.getpid)

    def kill(self, worker: int | str) -> int:
        """Kill one worker with ``SIGKILL`` (by index in :attr:`workers` or by address); return its pid."""
        if isinstance(worker, str):
            pid = self.worker_pids()[worker]
            proc = next(p for p in self.workers if p.pid == pid)
        else:
            proc = self.workers[worker]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return proc.pid

    def close(self) -> None:
        """End every process this cluster started (workers first), then remove a temporary workdir."""
        for proc in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=15)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def logs(self) -> dict[str, str]:
        """The scheduler's and workers' output so far (for error messages)."""
        out: dict[str, Any] = {}
        if self.workdir is not None:
            for p in sorted(self.workdir.glob("*.log")):
                out[p.stem] = p.read_text(errors="replace")
        return out
