"""Compile a model for nutpie once per design and code; later processes load it from disk.

nutpie compiles a PyMC model in three steps: PyTensor rewrites the graph of the log density and
its gradient and generates numba code for it (PyTensor caches that code on disk), then nutpie
wraps it in two C callbacks (``numba.cfunc``) that unpack the data. nutpie's callbacks embed the
data arrays' types as closure constants, which numba cannot cache, so every process compiled
them again (about two thirds of a second process's compile) and redid the rewrites (the rest).

Here the callbacks are generated as small Python files, one per model, that read the data
through a flat table of pointers and shapes; numba caches them with the code they call, so a
later process loads the finished machine code and skips the rewrites. The cache is keyed on

- the code: every source file of ``asem_bayes`` and ``models``, the versions of Python, numpy,
  numba, PyTensor, PyMC and nutpie, and PyTensor's numba flags;
- the design: the length of every dimension, the printed graph of the log density and of every
  traced variable (variant, options, priors), and the value of every constant in it.

Two datasets of one design share an entry (their data are passed at run time). A changed source
file or library version starts a new entry. A process that loads an entry runs the machine code
the first process compiled, so a seeded fit draws exactly what the first process drew.

Set ``ASEM_COMPILE_CACHE`` to ``off`` to compile afresh in every process, or to a directory to
keep the cache there (default: ``$XDG_CACHE_HOME/asem-bayes/compiled``, else
``~/.cache/asem-bayes/compiled``). Deleting the directory is always safe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic
from nutpie.compile_pymc import CompiledPyMCModel

from asem_bayes.start import initial_point_fn

__all__ = [
    "compile_nutpie", "compile_entry", "cache_dir", "model_key", "data_names", "logp_dlogp", "CachedPyMCModel",
    "INNER", "void_ptr", "MAX_ENTRIES", "with_start",
]

# The inner log density and expansion of each model (PyTensor's numba functions) by cache key.
# A generated callback module reads its inner function from here when numba compiles it; a
# process that loads the compiled callback from disk never reads it.
INNER: dict[str, Any] = {}

_FORMAT = 1  # of the files in an entry; a new format starts new entries
# Entries kept (about 3 MB each at 100 x 56); the least recently used go first.
MAX_ENTRIES = int(os.environ.get("ASEM_COMPILE_CACHE_MAX", "100"))


@intrinsic
def void_ptr(typingctx, src):
    """An address (an integer) as a ``void*`` for ``numba.carray``."""
    sig = types.voidptr(src)

    def codegen(cgctx, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


def cache_dir() -> Path | None:
    """The cache's directory, or ``None`` when ``ASEM_COMPILE_CACHE`` turns it off."""
    env = os.environ.get("ASEM_COMPILE_CACHE", "").strip()
    if env.lower() in ("0", "off", "false", "no"):
        return None
    if env and env.lower() not in ("1", "on", "true", "yes"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "asem-bayes" / "compiled"


def _source_hash() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for pkg in (here, here.parent / "models"):
        for path in sorted(pkg.rglob("*.py")):
            h.update(str(path.relative_to(pkg.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


# Hashed when the package is imported, i.e. of the code this process runs: a checkout edited
# during a long run must not give the old code's models the new code's key (see _KeyMismatchError).
_SOURCE_HASH = _source_hash()


@cache
def _code_hash() -> str:
    """Hash of the package's source and of the libraries that shape the compiled code."""
    import numba
    import nutpie
    import pymc
    import pytensor

    h = hashlib.sha256(f"format {_FORMAT}; python {sys.version}; source {_SOURCE_HASH};".encode())
    for mod in (np, numba, pytensor, pymc, nutpie):
        h.update(f"{mod.__name__} {mod.__version__};".encode())
    for flag in ("floatX", "numba__fastmath", "numba__vectorize_target", "numba__cache"):
        h.update(f"{flag}={getattr(pytensor.config, flag, None)};".encode())
    return h.hexdigest()


class _KeyMismatchError(RuntimeError):
    """The child process computes another key than this process: the package's source files
    changed after this process imported it, so its models are not what a fresh compile would make."""


_KEY_MISMATCH_EXIT = 3


def model_key(model: Any) -> str:
    """The cache key of a PyMC model: code, graph and constants (see the module docstring)."""
    import pytensor
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors

    outputs = [model.logp(), *model.unobserved_value_vars]
    h = hashlib.sha256(_code_hash().encode())
    # dim lengths are data to the graph, but they fix the shapes of the parameters and the trace
    for name, length in sorted(model.dim_lengths.items()):
        value = length.get_value() if hasattr(length, "get_value") else length.eval()
        h.update(f"{name}={int(np.asarray(value))};".encode())
    h.update(pytensor.printing.debugprint(outputs, file="str", id_type="CHAR", print_type=True).encode())
    for var in ancestors(outputs):
        if isinstance(var, Constant):  # printed graphs abbreviate large constants
            data = np.asarray(var.data)
            h.update(f"{data.dtype}{data.shape}".encode())
            h.update(np.ascontiguousarray(data).tobytes())
    return h.hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class CachedPyMCModel(CompiledPyMCModel):
    """nutpie's compiled PyMC model with callbacks that read the data from a flat pointer table.

    ``shared_data`` holds the data arrays by container name; ``data_order`` is the order of the
    table (per array: its address, then its shape). :meth:`with_data` swaps arrays in.
    """

    data_order: tuple[str, ...] = ()
    cache_status: str = "off"

    def with_data(self, **updates: Any) -> CachedPyMCModel:
        """The model with some data arrays replaced (same dtype and rank; shape may change)."""
        shared = dict(self.shared_data)
        for name, value in updates.items():
            if name not in shared:
                raise KeyError(f"Unknown shared variable: {name}")
            old = shared[name]
            new = np.array(value, dtype=old.dtype, order="C", copy=True)
            if new.ndim != old.ndim:
                raise ValueError(f"Shared variable {name} must have rank {old.ndim}")
            new.flags.writeable = False
            shared[name] = new
        return dataclasses.replace(self, shared_data=shared, user_data=_pointer_table(shared, self.data_order))


def data_names(compiled: Any) -> set[str]:
    """Names of the data containers a compiled nutpie model reads (the ones ``with_data`` takes)."""
    if isinstance(compiled, CachedPyMCModel):
        return set(compiled.shared_data)
    return {var.name for var in compiled.shared_var_keys}


def compile_nutpie(model: Any) -> CompiledPyMCModel:
    """Compile ``model`` for nutpie, through the on-disk cache unless it is turned off.

    Returns nutpie's own compiled model when the cache is off; else a :class:`CachedPyMCModel`
    whose ``cache_status`` says ``"loaded"`` (the entry was there) or ``"compiled"`` (this call
    made it). A missing entry is compiled in a child process and then loaded like any other, so
    that the first process runs the very machine code every later one loads: in-process, numba
    may run its own copy of the inner functions, which fast-math optimisation makes differ in
    the last bit, and NUTS trajectories amplify that. Processes that need the same entry at once
    wait for the one compiling it. A damaged entry is compiled again, with a warning naming it;
    a cache directory that cannot be created means compiling without the cache, with a warning.
    """
    root = cache_dir()
    if root is None:
        return _compile_uncached(model)
    key = model_key(model)
    entry = root / key
    try:
        entry.mkdir(parents=True, exist_ok=True)
        _prune(root, keep=entry)
    except OSError as err:  # e.g. a read-only home on a cluster node: compile as nutpie does
        warnings.warn(f"compile cache {root} is not usable ({err}); compiling without it (set "
                      "ASEM_COMPILE_CACHE to a writable directory, or to 'off')", RuntimeWarning, stacklevel=2)
        return _compile_uncached(model)
    with _entry_lock(entry):
        status = "loaded"
        for attempt in range(2):
            if not (entry / "meta.pkl").exists():
                try:
                    _compile_in_child(model, key, entry)
                except _KeyMismatchError:
                    warnings.warn("the package's source files changed since this process imported it, so "
                                  "its models cannot be cached under their key; compiling without the compile "
                                  "cache", RuntimeWarning, stacklevel=2)
                    return _compile_uncached(model)
                status = "compiled"
            try:
                return dataclasses.replace(_load(model, key, entry), cache_status=status)
            except Exception as err:  # noqa: BLE001 - an unreadable entry is rebuilt, never trusted
                if attempt:
                    raise
                warnings.warn(f"compile cache entry {entry} could not be loaded ({type(err).__name__}: {err}); "
                              "compiling it again", RuntimeWarning, stacklevel=2)
                for path in entry.iterdir():
                    if path.name != ".lock":
                        shutil.rmtree(path) if path.is_dir() else path.unlink()
    raise AssertionError("unreachable")


def _prune(root: Path, keep: Path) -> None:
    """Remove the least recently used entries beyond :data:`MAX_ENTRIES` (use touches ``.lock``)."""
    entries = [p for p in root.iterdir() if p.is_dir() and p != keep]
    if len(entries) < MAX_ENTRIES:
        return

    def used(p: Path) -> float:
        lock = p / ".lock"
        return lock.stat().st_mtime if lock.exists() else 0.0

    for old in sorted(entries, key=used)[: len(entries) - MAX_ENTRIES + 1]:
        shutil.rmtree(old, ignore_errors=True)  # a process still using it holds its code in memory


def logp_dlogp(compiled: CompiledPyMCModel) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The log density and its gradient at an unconstrained point, through the C callback that
    nutpie calls while sampling (for checks and benchmarks; ``compiled`` from nutpie or this module)."""
    import ctypes

    fn, n, table = compiled.compiled_logp_func.ctypes, compiled.n_dim, compiled.user_data
    ptr = ctypes.POINTER(ctypes.c_double)

    def logp(x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.ascontiguousarray(x, dtype="float64")
        grad, value = np.empty(n), np.empty(())
        code = fn(n, x.ctypes.data_as(ptr), grad.ctypes.data_as(ptr), value.ctypes.data_as(ptr), table.ctypes.data)
        if code not in (0, 3, 4):  # 3, 4: a non-finite gradient or value, returned as they are
            raise RuntimeError(f"the log-density callback failed (code {code})")
        return float(value), grad

    return logp


@contextlib.contextmanager
def _entry_lock(entry: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): concurrent compiles of one entry are still safe
        yield
        return
    with open(entry / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _compile_in_child(model: Any, key: str, entry: Path) -> None:
    import cloudpickle

    path = entry / f".model.{os.getpid()}.pkl"
    path.write_bytes(cloudpickle.dumps(model))
    try:
        code = "import sys; from asem_bayes.compile_cache import compile_entry; compile_entry(*sys.argv[1:])"
        res = subprocess.run([sys.executable, "-c", code, str(path), str(entry), key],
                             capture_output=True, text=True, check=False)
    finally:
        path.unlink(missing_ok=True)
    if res.returncode == _KEY_MISMATCH_EXIT:
        raise _KeyMismatchError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "cache key differs")
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"compiling the model in a child process failed (exit {res.returncode}):\n{tail}")


def compile_entry(model_path: str, entry: str, key: str) -> None:
    """Compile a pickled model into cache entry ``entry`` (run in the child process)."""
    model = pickle.loads(Path(model_path).read_bytes())
    if model_key(model) != key:
        print(f"the pickled model's cache key differs from {key}", file=sys.stderr)
        raise SystemExit(_KEY_MISMATCH_EXIT)
    _compile_and_store(model, key, Path(entry))


def with_start(compiled: Any, model: Any, fn: Callable[[Any], dict[str, np.ndarray]]) -> Any:
    """``compiled`` (nutpie's compiled model or a cached one) with its chains started by ``fn``.

    ``fn(seed)`` gives a point of ``model``'s value variables in their unconstrained space, e.g.
    :func:`asem_bayes.start.initial_point_fn` (what every model of this module starts from).
    """
    names, _, shapes = compiled.shape_info
    n_free = len(model.free_RVs)
    return dataclasses.replace(compiled, initial_point_func=_flat_initial_point(fn, names[:n_free], shapes[:n_free]))


def _compile_uncached(model: Any) -> Any:
    import nutpie

    return with_start(nutpie.compile_pymc_model(model, backend="numba"), model, initial_point_fn(model))


def _flat_initial_point(fn: Callable, names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> Callable:
    """The initial point as one flat array in the order of the free variables (as nutpie's)."""
    size = int(sum(np.prod(s, dtype=int) for s in shapes))

    def flat(seed: Any = None) -> np.ndarray:
        point = fn(seed)
        out = np.empty(size, dtype="float64")
        at = 0
        for name, shape in zip(names, shapes, strict=True):
            n = int(np.prod(shape, dtype=int))
            if tuple(point[name].shape) != tuple(shape):
                raise ValueError(f"Size of initial value for {name} is {point[name].shape}, expected {shape}")
            out[at : at + n] = np.ravel(point[name]).astype("float64")
            at += n
        return out

    return flat


def _pointer_table(shared: Mapping[str, np.ndarray], order: Sequence[str]) -> np.ndarray:
    words: list[int] = []
    for name in order:
        words += [shared[name].ctypes.data, *shared[name].shape]
    return np.asarray(words, dtype=np.uint64)


def _offsets(specs: Mapping[str, tuple[str, int]], order: Sequence[str]) -> dict[str, int]:
    at, out = 0, {}
    for name in order:
        out[name] = at
        at += 1 + specs[name][1]
    return out


def _source(key: str, kind: str, n_dim: int, n_out: int, names: Sequence[str],
            specs: Mapping[str, tuple[str, int]], order: Sequence[str]) -> str:
    """The callback module of one model: ``logp`` (density and gradient) or ``expand`` (trace)."""
    offsets = _offsets(specs, order)
    n_words = sum(1 + specs[n][1] for n in order)
    unpack = []
    for i, name in enumerate(names):
        at, (dtype, ndim) = offsets[name], specs[name]
        shape = "".join(f"ud[{at + 1 + j}], " for j in range(ndim))
        unpack.append(f"        a{i} = carray(void_ptr(ud[{at}]), ({shape}), np.{dtype})  # {name}")
    args = ", ".join(["x", *(f"a{i}" for i in range(len(names)))])
    head = [
        f'"""nutpie callback ({kind}) of one asem-bayes model; generated, do not edit."""',
        "import numba",
        "import numpy as np",
        "from numba import carray",
        "",
        "from asem_bayes.compile_cache import INNER, void_ptr",
        "",
        f'inner = INNER.get("{key}/{kind}")',
        "ptr = numba.types.CPointer(numba.types.double)",
    ]
    if kind == "logp":
        body = [
            "SIG = numba.types.int64(numba.types.uint64, ptr, ptr, ptr, numba.types.voidptr)",
            "",
            "",
            "@numba.cfunc(SIG, cache=True)",
            "def callback(dim, x_, out_, logp_, ud_):",
            f"    if dim != {n_dim}:",
            "        return -1",
            "    try:",
            f"        ud = carray(ud_, ({n_words},), np.uint64)",
            f"        x = carray(x_, ({n_dim},))",
            f"        out = carray(out_, ({n_dim},))",
            "        logp = carray(logp_, ())",
            *unpack,
            f"        value, grad = inner({args})",
            "        logp[()] = value",
            "        out[...] = grad",
            "        if not np.all(np.isfinite(out)):",
            "            return 3",
            "        if not np.isfinite(value):",
            "            return 4",
            "    except Exception:  # noqa: BLE001",
            "        return 1",
            "    return 0",
        ]
    else:
        body = [
            "SIG = numba.types.int64(numba.types.uint64, numba.types.uint64, ptr, ptr, numba.types.voidptr)",
            "",
            "",
            "@numba.cfunc(SIG, cache=True)",
            "def callback(dim, expanded, x_, out_, ud_):",
            f"    if dim != {n_dim} or expanded != {n_out}:",
            "        return -1",
            "    try:",
            f"        ud = carray(ud_, ({n_words},), np.uint64)",
            f"        x = carray(x_, ({n_dim},))",
            f"        out = carray(out_, ({n_out},))",
            *unpack,
            f"        (values,) = inner({args})",
            "        out[...] = values",
            "    except Exception:  # noqa: BLE001",
            "        return -2",
            "    return 0",
        ]
    return "\n".join([*head, *body, ""])


def _write_once(path: Path, text: str) -> None:
    # numba's cache checks the source file's time stamp: never rewrite an existing file
    if path.exists():
        if path.read_text() != text:
            raise RuntimeError(f"{path} differs from the code generated for the same key")
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(text)
    try:
        os.link(tmp, path)  # atomic, and fails if another process wrote it first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _callback(entry: Path, key: str, kind: str) -> Any:
    """Import the generated module (numba loads or compiles its callback on import)."""
    name = f"asem_callback_{key}_{kind}"
    spec = importlib.util.spec_from_file_location(name, entry / f"{kind}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cannot cache compiled function")
        spec.loader.exec_module(module)
    return module.callback


def _compile_and_store(model: Any, key: str, entry: Path) -> CachedPyMCModel:
    from nutpie.compile_pymc import _make_functions

    ip_fn = initial_point_fn(model)
    n_dim, n_expanded, logp_fn, expand_fn, _, shape_info, reparameterized = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=ip_fn, var_names=None
    )
    logp_names = [v.name for v in logp_fn.get_shared()]
    expand_names = [v.name for v in expand_fn.get_shared()]
    shared = {}
    for var in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        value = np.array(var.get_value(), order="C", copy=True)
        if var.name in shared and shared[var.name].shape != value.shape:
            raise ValueError(f"two data containers are named {var.name!r}")
        shared[var.name] = value
    order = tuple(shared)
    specs = {n: (str(a.dtype), a.ndim) for n, a in shared.items()}
    meta = {"n_dim": n_dim, "n_expanded": n_expanded, "shape_info": shape_info, "reparameterized": reparameterized,
            "logp_names": logp_names, "expand_names": expand_names, "order": order, "specs": specs}
    entry.mkdir(parents=True, exist_ok=True)
    INNER[f"{key}/logp"], INNER[f"{key}/expand"] = logp_fn.vm.jit_fn, expand_fn.vm.jit_fn
    _write_once(entry / "logp.py", _source(key, "logp", n_dim, n_expanded, logp_names, specs, order))
    _write_once(entry / "expand.py", _source(key, "expand", n_dim, n_expanded, expand_names, specs, order))
    callbacks = {kind: _callback(entry, key, kind) for kind in ("logp", "expand")}
    tmp = entry / f".meta.{os.getpid()}"
    tmp.write_bytes(pickle.dumps(meta))
    os.replace(tmp, entry / "meta.pkl")  # last: its presence says the callbacks are on disk
    return _assemble(model, meta, shared, callbacks, ip_fn, "miss", logp_fn, expand_fn)


def _load(model: Any, key: str, entry: Path) -> CachedPyMCModel:
    meta = pickle.loads((entry / "meta.pkl").read_bytes())
    shared = {}
    for name in meta["order"]:
        var = model.named_vars.get(name)
        var = var if var is not None else model.dim_lengths.get(name)
        if var is None or not hasattr(var, "get_value"):
            raise KeyError(f"the model has no data container {name!r}")
        shared[name] = np.array(var.get_value(), dtype=meta["specs"][name][0], order="C", copy=True)
    callbacks = {}
    for kind in ("logp", "expand"):
        cb = _callback(entry, key, kind)
        if not cb.cache_hits:  # compiled now, without its inner function: not a usable entry
            raise RuntimeError(f"numba found no compiled {kind} callback")
        callbacks[kind] = cb
    return _assemble(model, meta, shared, callbacks, initial_point_fn(model), "hit")


def _assemble(model: Any, meta: Mapping[str, Any], shared: dict[str, np.ndarray], callbacks: Mapping[str, Any],
              ip_fn: Callable, status: str, logp_fn: Any = None, expand_fn: Any = None) -> CachedPyMCModel:
    from nutpie.compile_pymc import _prepare_dims_and_coords

    for value in shared.values():
        value.flags.writeable = False
    names, _, shapes = meta["shape_info"]
    n_free = len(model.free_RVs)
    dims, coords = _prepare_dims_and_coords(model, meta["shape_info"], meta["reparameterized"])
    return CachedPyMCModel(
        _n_dim=meta["n_dim"],
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, shape in zip(names, shapes, strict=True)},
        compiled_logp_func=callbacks["logp"],
        compiled_expand_func=callbacks["expand"],
        initial_point_func=_flat_initial_point(ip_fn, names[:n_free], shapes[:n_free]),
        shared_data=shared,
        shared_var_keys={},
        user_data=_pointer_table(shared, meta["order"]),
        n_expanded=meta["n_expanded"],
        shape_info=meta["shape_info"],
        logp_func=logp_fn,
        expand_func=expand_fn,
        reparameterized_names=meta["reparameterized"],
        data_order=tuple(meta["order"]),
        cache_status=status,
    )
