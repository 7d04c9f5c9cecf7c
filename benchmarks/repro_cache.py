"""Are fits with the same seed bit-identical whether the model was compiled fresh or loaded from
PyTensor's compile cache?

Each case runs a small ``asem`` fit (10 dyads x 14 days, 2 x 100 draws, seed 11) in a new
process with its own empty PyTensor compile directory, twice: the first run compiles the log
density fresh, the second loads it from the cache the first wrote. It prints a hash of each
posterior and of the log density and gradient at a fixed point, for PyTensor's default
``numba__fastmath=True`` and for ``numba__fastmath=False``.

What it showed here: with fastmath the fresh and the cached compile differ in the last bit of a
few gradient entries (LLVM may reorder sums differently when it compiles the whole graph at
once), and NUTS trajectories amplify that, so the draws differ (equal in distribution); every
later run, all loading the cache, repeats the second run's draws exactly. Without fastmath both
are bit-identical, at 1.4-1.5x the gradient cost (``benchmarks/grad_speed.py``).

Usage: ``python benchmarks/repro_cache.py`` (4 fresh processes; about 5 minutes on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CHILD = r"""
import hashlib, numpy as np
from asem_bayes import simulate
from asem_bayes.model import CompiledModel, fit
d = simulate("asem", 10, 14, seed=3)
m = CompiledModel(d, "asem", trajectories=False, sampler="pymc").model
ip = m.initial_point()
rng = np.random.default_rng(0)
pt = {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in ip.items()}
f = m.compile_fn([m.logp(), m.dlogp()], mode="NUMBA")
g = np.concatenate([np.ravel(o) for o in f(pt)])
t = fit(d, "asem", draws=100, tune=100, chains=2, seed=11, trajectories=False, loo_unit=None)
post = t["posterior"].to_dataset()
h = hashlib.sha1(b"".join(np.ascontiguousarray(post[k].values).tobytes() for k in sorted(post.data_vars)))
print("RESULT", hashlib.sha1(g.tobytes()).hexdigest()[:12], h.hexdigest()[:12])
"""


def run(flags: str) -> tuple[str, str]:
    env = dict(os.environ, PYTENSOR_FLAGS=flags)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
    _, grad, post = line.split()
    return grad, post


def main() -> None:
    for fastmath in (True, False):
        with tempfile.TemporaryDirectory() as d:
            flags = f"base_compiledir={d},numba__fastmath={fastmath}"
            fresh, cached = run(flags), run(flags)
        same = "identical" if fresh == cached else "DIFFERENT"
        print(f"fastmath={fastmath}: fresh compile logp+grad {fresh[0]}, posterior {fresh[1]}; "
              f"cached compile {cached[0]}, {cached[1]}: {same}")


if __name__ == "__main__":
    main()
