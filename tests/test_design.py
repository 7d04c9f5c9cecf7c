"""The study-design planner (asem_bayes.design, asem design) on tiny seeded grids.

- Power for a quantity with a true effect rises with the number of couples.
- Control: without confidence-building and dependence days (fixed exogenous event rates) nothing
  informs ``psi_pos_s``, so its power stays at or below the nominal false-positive rate even when
  the true bias is large; the same truth with those days present gives power far above it (so
  the control can fail).
- A run killed with SIGKILL and resumed gives the same table as an uninterrupted run.
- Model recovery of a pair: fast learning is told from none; without learning the gap is noise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from asem_bayes.design import (
    StudyDesign,
    Truth,
    binomial_interval,
    design_grid,
    load_design,
    parse_truth_items,
    run_design,
)
from asem_bayes.schema import SchemaError

TINY = dict(draws=150, tune=150, chains=2, workers=0, progress=False)


def test_designs_grid_keys_and_labels():
    grid = design_grid([10, 20], [14, 28], waves=3, likert=(None, 7))
    assert len(grid) == 8
    d = grid[0]
    assert (d.n_dyads, d.n_days, d.wave_days, d.likert) == (10, 14, (0, 6, 13), None)
    assert d.size == 2 * 10 * 14
    assert len({g.key for g in grid}) == 8  # every factor enters the key
    assert StudyDesign.from_spec(d.spec()) == d and StudyDesign.from_spec(d.spec()).key == d.key
    exo = StudyDesign(6, 14, exogenous_events={"threat": 0.25, "confidence": 0.0})
    assert "events confidence=0,threat=0.25" in exo.label
    assert exo.simulation_design().exogenous_events == {"confidence": 0.0, "threat": 0.25}
    with pytest.raises(ValueError, match="wave day"):
        StudyDesign(6, 14, wave_days=(0, 20))
    with pytest.raises(ValueError, match="missing_days"):
        StudyDesign(6, 14, missing_days=1.5)


def test_truth_values_and_stated_priors():
    t = parse_truth_items(["psi_neg_s=-0.4", "psi_pos_s~Normal(1, 0.1)", "rho~Beta(alpha=2, beta=6)"])
    assert t.values == {"psi_neg_s": -0.4} and set(t.priors) == {"psi_pos_s", "rho"}
    t.check("asem")
    draws = [t.draw("asem", np.random.default_rng(i)) for i in range(200)]
    assert all(d["psi_neg_s"] == -0.4 for d in draws)
    assert abs(np.mean([d["psi_pos_s"] for d in draws]) - 1.0) < 0.03
    assert draws[0]["theta_pos_s_mu"] == -5.0  # reference elsewhere
    # the other variant of a recovery pair takes the names it has
    assert "psi_neg_s" not in t.draw("uniform", np.random.default_rng(0))
    with pytest.raises(SchemaError, match="not population parameters"):
        Truth(values={"kappa": 0.5}).check("asem")
    with pytest.raises(ValueError, match="cannot read the prior"):
        parse_truth_items(["psi_pos_s~Cauchy(0, 1)"])
    assert "psi_pos_s ~ Normal(1, 0.1)" in t.describe()


def test_binomial_interval():
    lo, hi = binomial_interval(8, 10)
    assert lo < 0.8 < hi and 0 <= lo and hi <= 1
    assert binomial_interval(0, 10)[0] == 0.0
    assert np.isnan(binomial_interval(0, 0)[0])


@pytest.mark.slow  # several minutes of compiling and fitting: `make test-slow`
def test_power_rises_with_couples(tmp_path):
    """``stable``'s same-day threat effect on anxiety, set small (tau_A = 0.3; prior Normal(0.8, 0.5)):
    2 couples leave some intervals across zero, 40 couples exclude it in every replicate.
    Measured: 70-80% against 100% (widths 0.96 and 0.29; 14 and 16 of 20 under the chain starts
    before and after asem_bayes.start); at tau_A = 0.2, 3 against 24 couples: 50% against 75%."""
    grid = design_grid([2, 40], [14])
    res = run_design(tmp_path / "grid", grid, variant="stable", truth=Truth(values={"tau_A": 0.3}),
                     quantities=["tau_A", "k_A"], reps=20, seed=5, **TINY)
    assert not res.failed, res.failed
    t = res.table().set_index(["quantity", "n_dyads"])
    small, large = t.loc[("tau_A", 2)], t.loc[("tau_A", 40)]
    assert small["reps"] == large["reps"] == 20
    assert large["power"] - small["power"] >= 0.15, t[["power", "mean_width"]]
    assert large["power"] >= 0.8
    assert large["mean_width"] < 0.6 * small["mean_width"]
    assert large["contraction"] > small["contraction"]
    # 20 replicates put 2 couples' power at 70-80% depending on where the chains start, so a
    # selection at 80% by the estimate is a coin toss; the planner's conservative rule (the lower
    # end of the binomial interval: 0.84 for 20 of 20, 0.58 for 16 of 20) is not, nor is the
    # estimate at 95% (19 of 20 needed)
    best = res.smallest("tau_A", 0.8, conservative=True)
    assert best is not None and best["n_dyads"] == 40
    assert res.smallest("tau_A", 0.95)["n_dyads"] == 40
    assert res.smallest("tau_A", 1.01) is None
    text = res.summary({"tau_A": 0.95})
    assert "smallest design reaching 95%: 40 couples x 14 days" in text
    # read back from disk without refitting, same table
    pd.testing.assert_frame_equal(load_design(tmp_path / "grid").table(), res.table())
    res.plot_power(path=tmp_path / "power.png")
    res.plot_width(path=tmp_path / "width.png")
    assert (tmp_path / "power.png").stat().st_size > 0 and (tmp_path / "width.png").stat().st_size > 0


# Fast learning and a large bias: psi_pos_s shows in the data whenever positive evidence arrives.
STRONG = Truth(values={"theta_pos_s_mu": -1.5, "psi_pos_s": 2.0})
NO_SECURITY_DAYS = {"threat": 0.25, "safe": 0.55, "soft": 0.5, "confidence": 0.0, "dependence": 0.0}
SECURITY_DAYS = {**NO_SECURITY_DAYS, "confidence": 0.35, "dependence": 0.3}


@pytest.mark.slow
def test_control_no_security_days_no_power_for_psi_pos_s(tmp_path):
    """No confidence-building, no dependence: positive evidence never arrives, psi_pos_s meets
    no likelihood, and its power is at most the nominal false-positive rate (10% for a 90%
    interval) although the true bias is large. The same truth and size with those days present
    gives power far above it: the check can fail."""
    reps = 10
    kw = dict(variant="asem", truth=STRONG, quantities=["psi_pos_s"], reps=reps, seed=9, **TINY)
    control = run_design(tmp_path / "ctl", [StudyDesign(8, 21, exogenous_events=NO_SECURITY_DAYS)], **kw)
    assert not control.failed, control.failed
    row = control.table().iloc[0]
    assert row["reps"] == reps
    assert row["power"] <= 1 - control.prob, row
    assert abs(row["contraction"]) < 0.3  # posterior = prior, up to Monte Carlo error
    positive = run_design(tmp_path / "pos", [StudyDesign(8, 21, exogenous_events=SECURITY_DAYS)], **kw)
    prow = positive.table().iloc[0]
    assert prow["power"] >= 0.5, prow
    assert prow["contraction"] > 0.2  # measured: power 10 of 10, contraction 0.33; control 0 of 10, -0.05


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from asem_bayes.design import design_grid, run_design
    run_design(sys.argv[1], design_grid([4], [7]), variant="stable", quantities=["tau_A", "k_A"], reps=int(sys.argv[2]),
               draws=200, tune=200, chains=1, seed=3, workers=0, progress=False)
    """
)
REPS = 14


@pytest.mark.slow
def test_resume_after_kill_9_equals_uninterrupted_run(tmp_path):
    """SIGKILL a run after a few fits are stored; resuming fits only the rest, and the table equals
    that of an uninterrupted run (bit-identical draws: fastmath off, the same compiled code)."""
    env = {**os.environ, "PYTENSOR_FLAGS": "numba__fastmath=False"}
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out), str(REPS)], env=env)
    try:
        deadline = time.monotonic() + 600
        while len(list((out / "fits").glob("*.nc"))) < 3:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = len(list((out / "fits").glob("*.nc")))
    assert 3 <= done < REPS
    # resume, then an uninterrupted run, in one fresh process (one compile, fastmath off)
    check = textwrap.dedent(
        f"""
        import sys
        import pandas as pd
        from asem_bayes.design import design_grid, run_design
        kw = dict(variant="stable", quantities=["tau_A", "k_A"], reps={REPS}, draws=200, tune=200, chains=1, seed=3,
                  workers=0, progress=False)
        resumed = run_design(sys.argv[1], design_grid([4], [7]), **kw)
        assert resumed.run.fitted == {REPS} - {done}, resumed.run
        assert resumed.run.skipped == {done}
        ref = run_design(sys.argv[2], design_grid([4], [7]), **kw)
        pd.testing.assert_frame_equal(resumed.table(), ref.table())
        same = ["design", "rep", "quantity", "truth", "mean", "lower", "upper", "excludes_null", "contraction"]
        pd.testing.assert_frame_equal(resumed.fits[same], ref.fits[same])
        print("same table")
        """
    )
    run = subprocess.run([sys.executable, "-c", check, str(out), str(tmp_path / "ref")], env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "same table" in run.stdout
    assert not list((out / "fits").glob(".*tmp*"))


def test_cli_design_tiny(tmp_path, capsys):
    from asem_bayes.cli import main

    out = tmp_path / "cli"
    # a design of test_power_rises_with_couples: its compiled model is reused in this process
    code = main(["design", "--variant", "stable", "--dyads", "2", "--days", "14", "--reps", "2", "--quantities",
                 "tau_A", "--target", "tau_A=0.8", "--draws", "40", "--tune", "60", "--chains", "1", "--workers", "0",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "tau_A (truth 0.8, null 0)" in text and "smallest design reaching 80%" in text
    table = pd.read_csv(out / "power.csv")
    assert list(table["quantity"]) == ["tau_A"] and table["reps"].iloc[0] == 2
    assert (out / "power.png").exists() and (out / "width.png").exists()


FAST_LEARNING = Truth(values={"theta_pos_mu": -1.5, "theta_neg_mu": -1.0})
NO_LEARNING = Truth(values={"theta_pos_mu": -9.0, "theta_neg_mu": -9.0})


@pytest.mark.slow
def test_pairs_tell_learning_from_no_learning(tmp_path):
    """Model recovery for a pair (``stable`` vs ``uniform``): with fast learning the higher elpd
    picks ``uniform`` on the data it simulated, and the stored run reads back to the same table.
    Control: with learning rates near zero (theta = -9: working models move by about 1e-4 per
    event) the two variants predict the same ratings, so the elpd gap on ``uniform``'s data
    shrinks to noise; the check of the fast case can fail."""
    kw = dict(variant="uniform", quantities=["theta_pos_mu"], pairs=[("stable", "uniform")], reps=4, seed=11, **TINY)
    fast = run_design(tmp_path / "fast", design_grid([10], [21]), truth=FAST_LEARNING, **kw)
    assert not fast.failed, fast.failed
    rec = fast.recovery().iloc[0]
    assert rec["pair"] == "stable vs uniform" and rec["datasets"] == 8
    assert rec["accuracy_if_uniform"] >= 0.75, fast.recovery_fits
    pd.testing.assert_frame_equal(load_design(tmp_path / "fast").recovery(), fast.recovery())
    slow = run_design(tmp_path / "slow", design_grid([10], [21]), truth=NO_LEARNING, **kw)
    gap = {name: -r.recovery_fits.query("true == 'uniform'")["elpd_diff"].mean() for name, r in
           (("fast", fast), ("slow", slow))}
    assert gap["fast"] > 3 * max(gap["slow"], 1.0), gap
