"""Cost of one log-density + gradient evaluation of a variant's nutpie-compiled model.

Prints CPU microseconds per evaluation and per person-day, the figure that decides sampling
speed (NUTS spends nearly all its time here), and the share of it spent in the latent-update
kernels (``asem_bayes.kernels``, timed alone on inputs of the same shape).
Usage: ``python benchmarks/grad_speed.py [variant] [dyads] [days]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import asem_bayes as ab
from asem_bayes.compile_cache import logp_dlogp
from asem_bayes.model import CompiledModel


def main() -> None:
    variant = sys.argv[1] if len(sys.argv) > 1 else "asem"
    n_dyads = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    n_days = int(sys.argv[3]) if len(sys.argv) > 3 else 56
    study = ab.simulate(variant, n_dyads, n_days, seed=1)
    t0 = time.perf_counter()
    cm = CompiledModel(study, variant, trajectories=False)
    print(f"compile: {time.perf_counter() - t0:.1f} s wall")
    fn = logp_dlogp(cm._compiled)  # the C callback nutpie calls while sampling
    n_dim = cm._compiled.n_dim
    x = np.random.default_rng(0).normal(0, 0.1, n_dim)
    fn(x)
    n = 200
    c0 = time.process_time()
    for _ in range(n):
        fn(x)
    cpu = (time.process_time() - c0) / n
    pdays = n_dyads * 2 * n_days
    print(
        f"{variant} {n_dyads} dyads x {n_days} days: {cpu * 1e6:.0f} us CPU per logp+grad, "
        f"{cpu * 1e9 / pdays:.0f} ns per person-day ({n_dim} parameters)"
    )
    kern = kernel_cost(study)
    print(
        f"of which the latent-update kernels (forward + adjoint, one per working model, inputs of this shape): "
        f"{2 * kern * 1e6:.0f} us CPU ({2 * kern / cpu:.0%})"
    )


def kernel_cost(study, n: int = 500) -> float:
    """CPU seconds of one working model's ``latent_forward`` + ``latent_backward`` at the study's
    design, with positive and negative evidence on as many person-days as in the study (any
    confidence or dependence event; a threat). The loops are branch-free, so the values matter
    little."""
    from asem_bayes.kernels import latent_backward, latent_forward

    n_dyads, n_days = study.sizes["dyad"], study.sizes["day"]
    pos = float(((study["confidence"] > 0) | (study["dependence"] > 0)).mean())
    neg = float((study["threat"] > 0).mean())
    rng = np.random.default_rng(0)
    shp, T = (n_dyads, 2), n_days - 1
    z0, th, ps = rng.normal(0.3, 0.4, shp), rng.normal(-4.0, 0.2, shp), rng.normal(0.0, 0.5, shp)
    ep = (rng.random((T, *shp)) < pos) * rng.random((T, *shp))
    en = (rng.random((T, *shp)) < neg) * rng.random((T, *shp))
    g = rng.normal(size=(n_days, *shp))
    latent_backward(z0, th, th, ps, ps, ep, en, *latent_forward(z0, th, th, ps, ps, ep, en), g)  # compile
    c0 = time.process_time()
    for _ in range(n):
        latent_backward(z0, th, th, ps, ps, ep, en, *latent_forward(z0, th, th, ps, ps, ep, en), g)
    return (time.process_time() - c0) / n

if __name__ == "__main__":
    main()
