"""The on-disk compile cache: a later process loads what the first compiled, and draws the same."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import asem_bayes as ab

# One process: build, compile through the cache in $ASEM_COMPILE_CACHE, fit with two seeds.
CHILD = r"""
import hashlib, sys
import numpy as np
import asem_bayes as ab
from asem_bayes.model import CompiledModel
d = ab.simulate("stable", 4, 7, seed=3)
cm = CompiledModel(d, "stable", trajectories=False)
out = [cm.compile_cache]
for seed in (7, 8):
    post = cm.fit(d, draws=30, tune=30, chains=2, seed=seed, loo_unit=None).posterior.to_dataset()
    raw = b"".join(np.ascontiguousarray(post[k].values).tobytes() for k in sorted(post.data_vars))
    out.append(hashlib.sha1(raw).hexdigest())
print("RESULT", *out)
"""


def _child(cache: str) -> list[str]:
    env = {**__import__("os").environ, "ASEM_COMPILE_CACHE": cache}
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    warned = [ln for ln in res.stderr.splitlines() if "compile cache" in ln]
    assert not warned, warned  # an entry that could not be loaded
    return next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")).split()[1:]


@pytest.mark.slow  # three fresh processes, one compile
def test_a_second_process_loads_the_model_and_draws_the_same(tmp_path):
    """The first process compiles (in a child) and stores; the second loads; seeded fits agree
    bit for bit. Control: another seed gives other draws (the hash sees the draws)."""
    first = _child(str(tmp_path / "cache"))
    second = _child(str(tmp_path / "cache"))
    assert first[0] == "compiled" and second[0] == "loaded"
    assert first[1:] == second[1:]
    assert first[1] != first[2]
    off = _child("off")
    assert off[0] == "off"


@pytest.fixture(scope="module")
def tiny():
    return ab.simulate("stable", 4, 7, seed=3)


def test_loaded_callback_is_the_density(tiny, tmp_path, monkeypatch):
    """Compile into an empty cache, then load the entry: both callbacks give PyTensor's log
    density and gradient; another dataset of the design shares the entry, its data swapped in;
    a damaged entry is compiled again."""
    from asem_bayes.compile_cache import compile_nutpie, logp_dlogp, model_key
    from asem_bayes.model import CompiledModel

    monkeypatch.setenv("ASEM_COMPILE_CACHE", str(tmp_path))
    cm = CompiledModel(tiny, "stable", trajectories=False, sampler="pymc")
    first = compile_nutpie(cm.model)
    again = compile_nutpie(cm.model)
    assert (first.cache_status, again.cache_status) == ("compiled", "loaded")
    m = cm.model
    f = m.compile_fn([m.logp(), m.dlogp()])
    x = np.random.default_rng(1).normal(0, 0.3, first.n_dim)
    names, slices, shapes = first.shape_info  # nutpie's flat order: the free variables first
    values = {v.name for v in m.value_vars}
    want_lp, want_g = f({n: x[s].reshape(sh) for n, s, sh in zip(names, slices, shapes, strict=True) if n in values})
    for compiled in (first, again):
        lp, g = logp_dlogp(compiled)(x)
        assert lp == pytest.approx(float(want_lp), rel=1e-10)
        np.testing.assert_allclose(g, want_g, rtol=1e-8, atol=1e-10)
    # another study of the same design: one key, and the swapped-in data change the density
    other = ab.simulate("stable", 4, 7, seed=4)
    cm2 = CompiledModel(other, "stable", trajectories=False, sampler="pymc")
    assert model_key(cm2.model) == model_key(m)
    swapped = again.with_data(**{k: v for k, v in cm2.prepare(other).data_arrays().items() if k in again.shared_data})
    assert logp_dlogp(swapped)(x)[0] != pytest.approx(logp_dlogp(again)(x)[0])
    # a damaged entry (its machine code gone) is rebuilt with a warning naming it, not trusted
    entry = tmp_path / model_key(m)
    for p in (entry / "__pycache__").iterdir():
        p.unlink()
    with pytest.warns(RuntimeWarning, match=str(entry)):
        rebuilt = compile_nutpie(m)
    assert rebuilt.cache_status == "compiled"
    assert logp_dlogp(rebuilt)(x)[0] == pytest.approx(float(want_lp), rel=1e-10)


def test_key_follows_design_and_code(tiny, monkeypatch):
    """Another design (days) or another code hash gives another key; the same design, another key never."""
    from asem_bayes import compile_cache
    from asem_bayes.model import CompiledModel

    def key(d, variant="stable"):
        return compile_cache.model_key(CompiledModel(d, variant, trajectories=False, sampler="pymc").model)

    k = key(tiny)
    assert key(ab.simulate("stable", 4, 8, seed=3)) != k
    assert key(ab.simulate("stable", 5, 7, seed=3)) != k  # more couples: other parameter shapes
    assert key(tiny, "uniform") != k
    monkeypatch.setattr(compile_cache, "_code_hash", lambda: "edited source")
    assert key(tiny) != k


def test_cache_off_and_unusable(monkeypatch, tmp_path):
    from asem_bayes.compile_cache import cache_dir, compile_nutpie

    monkeypatch.setenv("ASEM_COMPILE_CACHE", "off")
    assert cache_dir() is None
    monkeypatch.setenv("ASEM_COMPILE_CACHE", "/x/y")
    assert str(cache_dir()) == "/x/y"
    # a cache path that cannot be a directory: compiled without the cache, with a warning
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ASEM_COMPILE_CACHE", str(blocker))
    model = ab.simulate("stable", 3, 5, seed=1)
    from asem_bayes.model import CompiledModel

    m = CompiledModel(model, "stable", trajectories=False, sampler="pymc").model
    with pytest.warns(RuntimeWarning, match="not usable"):
        compiled = compile_nutpie(m)
    assert not hasattr(compiled, "cache_status")
    # nutpie's own compiled model starts as the cached ones do (asem_bayes.start); 'stable' in the
    # conditional mode does not read the event model, whose gradient is exactly zero at the priors'
    # centre, so without the population jitter nutpie could not start at all
    import nutpie

    from asem_bayes.start import POPULATION_JITTER, jittered_rvs

    names, _, shapes = compiled.shape_info
    person = {rv.name for rv in jittered_rvs(m)}
    centre, start, at = m.initial_point(), compiled.initial_point_func(3), 0
    for name, shape in zip(names[: len(m.free_RVs)], shapes, strict=False):
        part = start[at : at + int(np.prod(shape))]
        at += part.size
        if name not in person:
            assert np.abs(part - np.ravel(centre[name])).max() <= POPULATION_JITTER, name
    nutpie.sample(compiled, draws=5, tune=5, chains=1, seed=1, progress_bar=False)


def test_source_edited_during_a_run_compiles_without_the_cache(tiny, tmp_path, monkeypatch):
    """A process whose package files were edited after it imported them (a long run while the
    checkout changes): the child that compiles the entry hashes the new files and finds another
    key, so the process compiles without the cache, with a warning, and leaves no entry behind."""
    from asem_bayes import compile_cache
    from asem_bayes.model import CompiledModel

    monkeypatch.setenv("ASEM_COMPILE_CACHE", str(tmp_path))
    m = CompiledModel(tiny, "stable", trajectories=False, sampler="pymc").model
    monkeypatch.setattr(compile_cache, "_code_hash", lambda: "the source as this process imported it")
    with pytest.warns(RuntimeWarning, match="source files changed since this process imported"):
        compiled = compile_cache.compile_nutpie(m)
    assert not hasattr(compiled, "cache_status")
    assert not any((p / "meta.pkl").exists() for p in tmp_path.iterdir())
    # control: with the key the child also computes, the entry is made
    monkeypatch.undo()
    monkeypatch.setenv("ASEM_COMPILE_CACHE", str(tmp_path))
    assert compile_cache.compile_nutpie(m).cache_status == "compiled"
