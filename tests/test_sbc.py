"""Simulation-based calibration: the machinery on a toy conjugate problem, plus one tiny real run.

The toy problem (``NormalGenerator`` + ``MockBackend``) has an exact posterior, so its ranks are
exactly uniform; the deliberately broken backends (too narrow a posterior, the likelihood left
out) go through the same generate/fit/rank/uniformity code and must fail. Seeds are fixed, so
every result here is deterministic.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from asem_bayes.sbc import (
    AsemGenerator,
    AsemLogLik,
    MockBackend,
    NormalGenerator,
    NutpieBackend,
    Parameters,
    StoreMismatchError,
    TrajectoryChange,
    familywise_prob,
    load_sbc,
    run_sbc,
    task_seeds,
    uniformity_test,
)

N_SIMS = 100  # enough for a too-narrow (x0.5) posterior to leave the band by far (max ECDF gap ~0.2)
PROB = 0.95


def _run(tmp: Path, backend: MockBackend, n: int = N_SIMS, **kw):
    return run_sbc(NormalGenerator(), backend, n, tmp, seed=7, workers=0, progress=False, **kw)


def test_exact_posterior_passes(tmp_path):
    res = _run(tmp_path / "ok", MockBackend())
    uni = res.uniformity(PROB)
    # Exact posterior: ranks are exactly uniform, so with the fixed seed every quantity stays
    # inside its simultaneous 95% band (a 5% false-alarm chance per quantity for a new seed).
    assert uni["uniform"].all(), uni
    assert res.passed(PROB)
    assert set(res.ranks["quantity"].values) == {"mu", "nu", "loglik"}
    assert res.ranks.dims == ("sim", "quantity")
    assert int(res.ranks.min()) >= 0 and int(res.ranks.max()) <= res.n_ranks == 99
    assert "All quantities inside" in res.summary(PROB)


def test_too_narrow_posterior_fails(tmp_path):
    res = _run(tmp_path / "narrow", MockBackend(sd_scale=0.5))
    uni = res.uniformity(PROB)
    assert not uni.loc["mu", "uniform"] and not uni.loc["nu", "uniform"], uni
    assert not res.passed(PROB)
    # Overconfident posteriors put the truth in the tails: |z| is large far more often than 5%.
    assert float((np.abs(res.zscores()) > 2).mean()) > 0.2


def test_likelihood_left_out_fails_only_on_the_loglik(tmp_path):
    """A 'posterior' that ignores the data is the prior: parameter ranks stay uniform, so a
    parameter-only SBC passes; the data's log-likelihood test quantity catches it."""
    res = _run(tmp_path / "nolik", MockBackend(use_likelihood=False))
    uni = res.uniformity(PROB)
    assert uni.loc["mu", "uniform"] and uni.loc["nu", "uniform"], uni
    assert not uni.loc["loglik", "uniform"], uni
    assert "loglik" in res.summary(PROB)


@pytest.mark.slow  # several minutes of compiling and fitting: `make test-slow`
def test_autocorrelated_draws_fail_until_ranked_on_their_ess(tmp_path):
    """Every draw exact but neighbours correlated (a low-ESS sampler): raw ranks leave the band,
    ranking each fit on its ESS (no refit) brings them back; a miscalibrated posterior still fails
    after that thinning, so it does not hide model errors."""
    out = tmp_path / "ar"
    res = _run(out, MockBackend(draws=400, autocorr=0.95), n=200)
    assert not res.uniformity(PROB)["uniform"].all(), res.uniformity(PROB)
    thinned = load_sbc(out, thin_to_ess=True)
    n_draws = thinned.table["n_draws"].values
    assert n_draws.max() < 60 and n_draws.min() >= 1  # 400 draws, ESS about 400 * 0.05 / 1.95 = 10 (1-30 estimated)
    assert np.all(thinned.table["rank"].values <= n_draws)
    assert thinned.uniformity(PROB)["uniform"].all(), thinned.uniformity(PROB)
    narrow = tmp_path / "ar_narrow"
    _run(narrow, MockBackend(draws=400, autocorr=0.95, sd_scale=0.5), n=200)
    assert not load_sbc(narrow, thin_to_ess=True).uniformity(PROB).loc[["mu", "nu"], "uniform"].any()


def test_uniformity_test_detects_nonuniform_values():
    rng = np.random.default_rng(3)
    assert uniformity_test(rng.random(200))["uniform"]
    assert not uniformity_test(rng.beta(2.0, 2.0, 200))["uniform"]  # hump: posteriors too wide


def test_familywise_bands_hold_the_joint_false_alarm_rate():
    """Per-quantity 95% bands flag some quantity of a calibrated run most of the time once there
    are many quantities (10: 1 - 0.95**10 = 40%); the Bonferroni level keeps that under 5%.
    100 simulated calibrated runs: the tolerances (under 12%, over 25%) are about 3 binomial SDs
    from 5% and 40%, so using the plain level for the family-wise test fails here."""
    rng = np.random.default_rng(11)
    m, runs = 10, 100
    level = familywise_prob(PROB, m)
    assert level == pytest.approx(1 - 0.05 / m)
    plain = familywise = 0
    for _ in range(runs):
        pits = rng.random((m, 100))
        plain += not all(uniformity_test(p, PROB)["uniform"] for p in pits)
        familywise += not all(uniformity_test(p, level)["uniform"] for p in pits)
    assert familywise / runs < 0.12, familywise
    assert plain / runs > 0.25, plain
    with pytest.raises(ValueError, match="n_quantities"):
        familywise_prob(PROB, 0)


@pytest.mark.slow  # moved from the default suite to keep it under 10 minutes on 2 cores
def test_familywise_check_still_fails_miscalibrated_backends(tmp_path):
    narrow = _run(tmp_path / "narrow", MockBackend(sd_scale=0.5))
    assert not narrow.passed(PROB, familywise=True)
    assert narrow.uniformity(PROB, familywise=True).attrs["band_level"] == pytest.approx(1 - 0.05 / 3)
    nolik = _run(tmp_path / "nolik", MockBackend(use_likelihood=False))
    assert not nolik.uniformity(PROB, familywise=True).loc["loglik", "uniform"]
    ok = _run(tmp_path / "ok", MockBackend())
    assert ok.passed(PROB, familywise=True)
    assert "Family-wise" in ok.summary(PROB)


def test_seeds_do_not_depend_on_order_or_count():
    a = task_seeds(5, (3,), 3)
    assert a == task_seeds(5, (3,), 3)
    assert a != task_seeds(5, (4,), 3) and a != task_seeds(6, (3,), 3)
    import numpy as np

    children = np.random.SeedSequence(5).spawn(10)
    assert a == [int(c.generate_state(1, np.uint32)[0]) for c in children[3].spawn(3)]


def test_resume_after_injected_interrupt_equals_uninterrupted_run(tmp_path):
    ref = _run(tmp_path / "ref", MockBackend(), n=12)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", MockBackend(interrupt_on=(5,)), n=12)
    fits = sorted((tmp_path / "cut" / "fits").glob("*.nc"))
    assert [f.stem for f in fits] == [f"sim_{i:05d}" for i in range(5)]
    before = {f.name: f.stat().st_mtime_ns for f in fits}
    res = _run(tmp_path / "cut", MockBackend(), n=12)
    assert res.fitted_now == 7  # nothing finished is recomputed
    assert {f.name: f.stat().st_mtime_ns for f in fits} == before
    xr.testing.assert_identical(res.table, ref.table)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from asem_bayes.sbc import MockBackend, NormalGenerator, run_sbc
    run_sbc(NormalGenerator(), MockBackend(delay=float(sys.argv[2])), 40, sys.argv[1], seed=7, workers=0,
            progress=False)
    """
)


def test_resume_after_kill_9_equals_uninterrupted_run(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out), "0.15"])
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "fits").glob("*.nc"))) < 4:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = sorted((out / "fits").glob("*.nc"))
    assert 4 <= len(done) < 40
    for f in done:  # every file left behind is whole (atomic write)
        xr.open_datatree(f).close()
    res = run_sbc(NormalGenerator(), MockBackend(delay=0.15), 40, out, seed=7, workers=0, progress=False)
    assert res.fitted_now == 40 - len(done)
    assert not list((out / "fits").glob(".*tmp*"))
    ref = _run(tmp_path / "ref", MockBackend(), n=40)
    xr.testing.assert_identical(res.table, ref.table)


def test_failing_simulation_is_recorded_and_run_continues(tmp_path):
    res = _run(tmp_path / "fail", MockBackend(fail_on=(2, 5)), n=8)
    assert sorted(res.failed) == [2, 5]
    assert "injected failure at simulation 2" in res.failed[2]
    assert res.n_sims == 6
    text = (tmp_path / "fail" / "errors" / "sim_00002.txt").read_text()
    assert "Traceback" in text and "RuntimeError" in text
    assert "simulation(s) failed (2)" in res.summary() and "simulation(s) failed (5)" in res.summary()
    # the run's counts: fitted, failed and skipped apart (a failed fit is not counted as fitted)
    assert (res.run.fitted, res.run.failed, res.run.skipped) == (6, 2, 0)
    assert "This run: 6 fitted, 2 failed, 0 skipped" in res.summary()
    # By default a recorded failure is not retried; --retry-failed refits it.
    again = _run(tmp_path / "fail", MockBackend(), n=8)
    assert again.fitted_now == 0
    assert (again.run.fitted, again.run.failed, again.run.skipped, again.run.skipped_failed) == (0, 0, 8, 2)
    assert "2 of them failed before and were not retried" in again.run.describe()
    res2 = _run(tmp_path / "fail", MockBackend(), n=8, retry_failed=True)
    assert res2.fitted_now == 2 and res2.n_sims == 8 and not res2.failed
    assert (res2.run.fitted, res2.run.failed, res2.run.skipped) == (2, 0, 6)
    assert load_sbc(tmp_path / "fail").run is None  # a result read from disk claims no run
    assert not (tmp_path / "fail" / "errors" / "sim_00002.txt").exists()


def test_resume_refuses_different_settings(tmp_path):
    _run(tmp_path / "s", MockBackend(), n=3)
    with pytest.raises(StoreMismatchError, match="sd_scale"):
        _run(tmp_path / "s", MockBackend(sd_scale=0.5), n=3)


def test_rerank_with_new_quantities_does_not_refit(tmp_path):
    out = tmp_path / "rr"
    _run(out, MockBackend(), n=20)
    stamps = {f.name: f.stat().st_mtime_ns for f in (out / "fits").glob("*.nc")}

    class Sum:
        kind = "derived"
        names = ("mu_plus_nu",)

        def __call__(self, params, data):
            return {"mu_plus_nu": params["mu"].values + params["nu"].values}

    res = load_sbc(out, quantities=[Parameters(["mu"]), Sum()])
    assert list(res.ranks["quantity"].values) == ["mu", "mu_plus_nu"]
    assert res.n_sims == 20
    assert {f.name: f.stat().st_mtime_ns for f in (out / "fits").glob("*.nc")} == stamps
    # the default quantities come back from the stored backend settings
    assert list(load_sbc(out).ranks["quantity"].values) == ["mu", "nu", "loglik"]


def test_local_pool_and_dask_give_the_same_ranks(tmp_path):
    distributed = pytest.importorskip("distributed")
    inline = _run(tmp_path / "inline", MockBackend(), n=8)
    pool = run_sbc(NormalGenerator(), MockBackend(), 8, tmp_path / "pool", seed=7, workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            dask = run_sbc(NormalGenerator(), MockBackend(), 8, tmp_path / "dask", seed=7, client=client,
                           progress=False)
    xr.testing.assert_identical(pool.table, inline.table)
    xr.testing.assert_identical(dask.table, inline.table)


def test_plots_write_files(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    res = _run(tmp_path / "p", MockBackend(), n=30)
    for name, fn in (("e.png", res.plot_ecdf), ("r.png", res.plot_ranks), ("z.png", res.plot_zscores)):
        fn(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000
    tree = res.to_datatree()
    tree.to_netcdf(tmp_path / "res.nc")
    assert set(tree.children) == {"sbc", "diagnostics"}


def test_conditional_generator_uses_exogenous_events_and_joint_refuses_them():
    g = AsemGenerator("asem", 3, 5)
    assert g.mode == "conditional" and g.exogenous_events["threat"] == 0.25
    truth, data = g.generate(1)
    assert "k_A" in truth and "state_anxiety" in data and "k_A" not in data
    assert AsemGenerator("asem", 3, 5, mode="joint").exogenous_events is None
    with pytest.raises(ValueError, match="exogenous"):
        AsemGenerator("asem", 3, 5, mode="joint", exogenous_events={"threat": 0.2})
    with pytest.raises(ValueError, match="joint"):
        NutpieBackend("asem_fatigue", mode="conditional")


def test_asem_test_quantities_at_the_truth_match_the_simulator():
    """The numpy log-likelihood and trajectories used as SBC test quantities, evaluated at the
    true parameters, reproduce the simulator's own latent states and rating density."""
    from scipy.stats import norm

    from asem_bayes import dynamics

    truth, data = AsemGenerator("asem", 4, 9).generate(3)
    params = truth.expand_dims(sample=[0])
    tc = TrajectoryChange("asem")(params, data)
    S, O = data["self_model"], data["others_model"]
    np.testing.assert_allclose(tc["self_change"][0], float((S.isel(day=-1) - S.isel(day=0)).mean()), rtol=1e-10)
    np.testing.assert_allclose(tc["others_change"][0], float((O.isel(day=-1) - O.isel(day=0)).mean()), rtol=1e-10)

    ll = AsemLogLik("asem", "conditional")(params, data)["loglik"][0]
    p = {k: truth[k].values[..., None] if truth[k].ndim == 2 else float(truth[k]) for k in truth.data_vars}
    ev = dynamics.Events(*(data[k].broadcast_like(S).transpose(*S.dims).values for k in
                           ("threat", "safe", "soft", "confidence", "dependence")))
    mu_A, mu_V = dynamics.rating_means(np, S.values, O.values, ev, p)
    wave = data["wave_day"].values
    ta, tv = dynamics.trait_means(np, S.values[..., wave], O.values[..., wave], p)
    direct = (
        norm.logpdf(data["state_anxiety"].values, mu_A, p["sigma_A"]).sum()
        + norm.logpdf(data["state_avoidance"].values, mu_V, p["sigma_V"]).sum()
        + norm.logpdf(data["trait_anxiety"].values, ta, p["sigma_TA"]).sum()
        + norm.logpdf(data["trait_avoidance"].values, tv, p["sigma_TV"]).sum()
    )
    # ll recomputes the trajectories with its own kernel, `direct` uses the simulator's stored
    # states: rounding differs (2.5e-9 relative at this draw since the LogNormal noise prior), an
    # error in the dynamics or the density would differ by orders of magnitude more.
    np.testing.assert_allclose(ll, direct, rtol=1e-7)


def test_real_model_tiny_run_resume_and_rerank(tmp_path, compiled_asem):
    """Two real fits through the whole pipeline, reusing the session's compiled model."""
    gen = AsemGenerator("asem", compiled_asem.design_key[0], compiled_asem.design_key[1])
    backend = NutpieBackend("asem", draws=60, tune=100, chains=2, thin=3, compiled=compiled_asem)
    with pytest.raises(ValueError, match="inline"):
        run_sbc(gen, backend, 2, tmp_path / "x", workers=1)
    res = run_sbc(gen, backend, 2, tmp_path / "real", seed=11, workers=0, progress=False)
    assert not res.failed, res.failed
    q = list(res.ranks["quantity"].values)
    assert q[-3:] == ["loglik", "self_change", "others_change"]
    assert "k_A" in q and "a0" not in q  # event-model parameters are not informed in the conditional mode
    assert res.n_ranks == 40 and float(res.ranks.max()) <= 40
    assert np.isfinite(res.table["truth"].sel(quantity="loglik")).all()
    assert {"divergences", "max_rhat", "fit_seconds"} <= set(res.diagnostics.data_vars)
    again = run_sbc(gen, backend, 2, tmp_path / "real", seed=11, workers=0, progress=False)
    assert again.fitted_now == 0
    xr.testing.assert_identical(again.table, res.table)
    only_ll = load_sbc(tmp_path / "real", quantities=[AsemLogLik("asem", "conditional")])
    np.testing.assert_array_equal(only_ll.ranks.sel(quantity="loglik"), res.ranks.sel(quantity="loglik"))


def test_cli_sbc_mock_with_thin_to_ess(tmp_path, capsys):
    from asem_bayes.cli import main

    out = tmp_path / "cli"
    args = ["sbc", "--mock", "calibrated", "--sims", "30", "--workers", "0", "--no-plots", "--no-progress"]
    assert main([*args, "--out", str(out), "--thin-to-ess"]) == 0
    text = capsys.readouterr().out
    # Independent mock draws: the ESS is the number of draws, so nothing is thinned further.
    assert "30 simulations ranked" in text and "99 thinned draws each" in text
    assert "This run: 30 fitted, 0 failed, 0 skipped (already in the store)" in text
    assert (out / "uniformity.csv").exists()
    assert main([*args, "--out", str(out)]) == 0  # resumed: nothing left to fit
    assert "This run: 0 fitted, 0 failed, 30 skipped (already in the store)" in capsys.readouterr().out


def test_an_interrupted_pool_run_stops_its_running_fits(tmp_path):
    """SIGTERM during a process-pool run: the run stops within seconds, and the fits still running
    in the workers stop too (they kept the cores busy for minutes after the run had gone)."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    (tmp_path / "slowtask.py").write_text(
        textwrap.dedent(
            """
            import os, signal, sys, time
            from asem_bayes.sbc.runner import execute

            def slow(t):
                print("worker", os.getpid(), flush=True)
                time.sleep(120)
                return {"key": str(t), "ok": True}

            def _term(signum, frame):
                raise KeyboardInterrupt

            if __name__ == "__main__":
                signal.signal(signal.SIGTERM, _term)
                try:
                    execute(slow, [1, 2, 3], keys=[("a",), ("b",), ("c",)], workers=2, progress=False)
                except KeyboardInterrupt:
                    print("interrupted", flush=True)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "slowtask.py")], stdout=subprocess.PIPE, text=True, env=env)
    pids = []
    while len(pids) < 2:  # both workers are running a fit
        line = proc.stdout.readline()
        assert line, "the run ended before its workers started"
        pids.append(int(line.split()[1]))
    proc.send_signal(signal.SIGTERM)
    t0 = time.perf_counter()
    assert proc.wait(timeout=60) == 0 and time.perf_counter() - t0 < 30
    time.sleep(1)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _damage(fits: Path) -> tuple[Path, Path, Path]:
    """Truncate one fit file (a full disk), overwrite another with garbage, and truncate a third
    whose checksum is gone (a store written before checksums were kept)."""
    truncated, garbage, legacy = (fits / f"sim_{i:05d}.nc" for i in (1, 3, 4))
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    garbage.write_bytes(b"not a netCDF file at all " * 40)
    legacy.write_bytes(legacy.read_bytes()[:500])
    legacy.with_suffix(".sha256").unlink()
    return truncated, garbage, legacy


def test_damaged_checkpoints_are_set_aside_named_and_refitted(tmp_path):
    from asem_bayes.sbc import DamagedFitWarning

    ref = _run(tmp_path / "ref", MockBackend(), n=6)
    out = tmp_path / "dmg"
    _run(out, MockBackend(), n=6)
    assert len(list((out / "fits").glob("*.sha256"))) == 6  # a checksum recorded with each fit
    damaged = _damage(out / "fits")
    # reading the store's results does not die on xarray's IO-backend error: it names the files
    with pytest.warns(DamagedFitWarning) as seen:
        partial = load_sbc(out)
    text = " ".join(str(w.message) for w in seen)
    assert all(f.name in text for f in damaged[:2]) and partial.n_sims == 3
    # resuming moves each damaged file aside, says which, and fits it again
    with pytest.warns(DamagedFitWarning) as seen:
        res = _run(out, MockBackend(), n=6)
    text = " ".join(str(w.message) for w in seen)
    assert all(str(f) in text for f in damaged), text
    assert res.run.fitted == 3 and res.n_sims == 6
    assert sorted(p.name for p in (out / "damaged").iterdir()) == sorted(f.name for f in damaged)
    xr.testing.assert_identical(res.table, ref.table)


def test_ranking_in_processes_gives_the_same_result_and_names_damaged_fits(tmp_path, monkeypatch):
    """``load_sbc(workers=2)`` reads and ranks the fits in two processes (a 200-fit run took a
    minute to read in one): the same table and diagnostics, and a damaged fit still warns here."""
    import asem_bayes.sbc.compute as compute
    from asem_bayes.sbc import DamagedFitWarning

    out = tmp_path / "par"
    _run(out, MockBackend(), n=12)
    started: list[int] = []

    class Recording(compute.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            started.append(kwargs["max_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(compute, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(compute, "MIN_FITS_PER_PROCESS", 4)  # 12 fits: enough for two processes
    one = load_sbc(out)
    assert started == []  # control: one worker reads in this process
    two = load_sbc(out, workers=2)
    assert started == [2]
    assert one.table.identical(two.table) and one.diagnostics.identical(two.diagnostics)
    damaged = _damage(out / "fits")
    with pytest.warns(DamagedFitWarning) as seen:
        partial = load_sbc(out, workers=2)
    text = " ".join(str(w.message) for w in seen)
    assert partial.n_sims == 9 and all(f.name in text for f in damaged)
