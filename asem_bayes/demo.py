"""``make demo``: simulate a default study, fit ``asem``, print estimates next to the truth, plot.

Sizes come from the environment so the test suite can run the same demo small:
``ASEM_DEMO_DYADS`` (default 60), ``ASEM_DEMO_DAYS`` (42), ``ASEM_DEMO_DRAWS`` (1000),
``ASEM_DEMO_TUNE`` (1000), ``ASEM_DEMO_CHAINS`` (4), ``ASEM_DEMO_OUT`` (``demo_output``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    import asem_bayes as ab
    from asem_bayes.diagnostics import diagnose, report

    n_dyads = int(os.environ.get("ASEM_DEMO_DYADS", 60))
    n_days = int(os.environ.get("ASEM_DEMO_DAYS", 42))
    draws, tune = ab.default_lengths("nutpie")  # the package's defaults unless the environment says
    draws = int(os.environ.get("ASEM_DEMO_DRAWS", draws))
    tune = int(os.environ.get("ASEM_DEMO_TUNE", tune))
    chains = int(os.environ.get("ASEM_DEMO_CHAINS", 4))
    out = Path(os.environ.get("ASEM_DEMO_OUT", "demo_output"))
    out.mkdir(parents=True, exist_ok=True)

    print(f"Simulating an 'asem' diary study: {n_dyads} couples x {n_days} days (seed 2026)")
    study = ab.simulate("asem", n_dyads=n_dyads, n_days=n_days, seed=2026)
    ta = study["trait_anxiety"]
    tv = study["trait_avoidance"]
    print(
        f"  trait anxiety   wave 1 -> last wave: {float(ta[..., 0].mean()):.2f} -> {float(ta[..., -1].mean()):.2f}\n"
        f"  trait avoidance wave 1 -> last wave: {float(tv[..., 0].mean()):.2f} -> {float(tv[..., -1].mean()):.2f}\n"
        f"  threats on {float(study['threat'].mean()):.0%} of dyad-days, "
        f"confidence-building on {float(study['confidence'].mean()):.0%} of person-days"
    )
    print(f"Fitting 'asem' with nutpie: {chains} chains x {draws} draws ({tune} tuning); compiling first...")
    t0 = time.perf_counter()
    model = ab.ASEMModel(study, "asem", config=ab.SamplerConfig(draws=draws, tune=tune, chains=chains))
    result = model.fit(seed=2026, progressbar=sys.stdout.isatty())
    print(
        f"  compile {result.attrs['compile_seconds']:.0f} s, sampling {result.attrs['sample_seconds']:.0f} s, "
        f"total {time.perf_counter() - t0:.0f} s\n"
    )
    print(report(result, truth=ab.true_params(study)))
    model.save(out / "fit.nc")  # reload with ab.ASEMModel.load("demo_output/fit.nc")
    try:
        from asem_bayes.plots import plot_trajectories

        fig = plot_trajectories(result, truth=study, persons=[(0, 0), (0, 1), (1, 0)])
    except ImportError:
        fig = _simple_plot(result, study)
    fig.savefig(out / "trajectories.png", dpi=110, bbox_inches="tight")
    print(f"\nsaved {out / 'fit.nc'} and {out / 'trajectories.png'}")
    return 0 if diagnose(result).divergences == 0 else 1


def _simple_plot(result, study):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    post = result.posterior
    for ax, var in zip(axes, ("self_model", "others_model"), strict=True):
        x = post[var].isel(dyad=0, person=0).stack(sample=("chain", "draw")).values
        lo, mid, hi = np.quantile(x, [0.05, 0.5, 0.95], axis=-1)
        days = post["day"].values
        ax.fill_between(days, lo, hi, alpha=0.3, label="90% posterior")
        ax.plot(days, mid, label="posterior median")
        ax.plot(days, study[var].isel(dyad=0, person=0).values, "k--", label="truth")
        ax.set_title(f"{var} of dyad 0, person 0")
        ax.set_xlabel("day")
    axes[0].legend()
    return fig


if __name__ == "__main__":
    sys.exit(main())
