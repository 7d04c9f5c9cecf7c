"""The compiled latent-update kernel against the generic ``scan`` of ``dynamics.step``."""

from __future__ import annotations

import numba
import numpy as np
import pytensor
import pytest

import asem_bayes as ab
from asem_bayes import dynamics

CHANGING = ["uniform", "asem", "buffer_enhances", "asem_fatigue"]


@pytest.mark.parametrize("variant", CHANGING)
def test_log_rates_are_affine_in_the_state(variant, rng):
    """The kernel reads theta and psi off log_rates at states 0 and 1; that needs affinity."""
    v = ab.get_variant(variant)
    study = ab.simulate(variant, 4, 3, seed=1)
    p = ab.true_params(study)
    l0 = v.log_rates(np, 0.0, 0.0, p)
    l1 = v.log_rates(np, 1.0, 1.0, p)
    s, o = rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, (4, 2))
    got = v.log_rates(np, s, o, p)
    for k, x in enumerate((s, s, o, o)):
        np.testing.assert_allclose(got[k], l0[k] + (l1[k] - l0[k]) * x, rtol=1e-12, atol=1e-12)


def _trajectory_grad_fn(variant: str, kernel: str, events: dict, T: int):
    """Compile ``sum(w_s * S + w_o * O)`` and its gradient w.r.t. every dynamics parameter."""
    import pytensor.tensor as pt

    from asem_bayes.model import _scan_states

    v = ab.get_variant(variant)
    hyper = {q.mu for q in v.person_params} | {q.sd for q in v.person_params}
    names = [q.name for q in v.params if q.group == "dynamics" and q.name not in hyper]
    inputs = {n: pt.dscalar(n) for n in names}
    for q in v.person_params:
        if q.group == "dynamics" or q.name in ("s0", "o0"):
            inputs[q.name] = pt.dmatrix(q.name)
    w_s, w_o = pt.dtensor3("w_s"), pt.dtensor3("w_o")
    ev = {k: pt.as_tensor(x) for k, x in events.items()}
    z0 = (inputs["s0"], inputs["o0"])  # here the initial latents
    S, O, _ = _scan_states(v, inputs, z0, ev, T, need_fatigue=False, kernel=kernel)
    loss = (w_s * S).sum() + (w_o * O).sum()
    wrt = list(inputs.values())
    return list(inputs), pytensor.function([*wrt, w_s, w_o], [loss, *pytensor.grad(loss, wrt)])


@pytest.mark.parametrize(
    "variant",
    # asem exercises every term (biases, ripple, buffering); the others add only evidence
    # shapes, and compiling the scan gradient is slow, so they run with the slow marker.
    ["asem", pytest.param("uniform", marks=pytest.mark.slow), pytest.param("buffer_enhances", marks=pytest.mark.slow)],
)
def test_kernel_gradient_equals_scan(variant):
    """Same trajectories and the same gradient (the hand-written adjoint) as autodiff through
    the generic ``scan``, at random points with fast learning (log rates near -0.5: the latent
    moves ~0.6 per event) and strong biases, so the working model's ``tanh`` is strongly
    nonlinear along the path and a wrong adjoint term shows."""
    rng = np.random.default_rng(3)
    T, n = 9, 5
    events = {
        k: (rng.random((T, n, 2)) < 0.5).astype(float) for k in ("threat", "safe", "soft", "confidence", "dependence")
    }
    names, f_k = _trajectory_grad_fn(variant, "numba", events, T)
    _, f_s = _trajectory_grad_fn(variant, "scan", events, T)
    for _ in range(3):
        args = []
        for name in names:
            if name in ("s0", "o0"):
                args.append(rng.normal(0.0, 1.0, (n, 2)))
            elif name.startswith("theta"):
                args.append(rng.normal(-0.5, 0.3, (n, 2)))
            elif name.startswith("psi"):
                args.append(rng.normal(0.0, 1.0))
            else:  # rho, e_safe, e_soft, kappa
                args.append(rng.uniform(0.1, 0.9))
        ws, wo = rng.normal(size=(T, n, 2)), rng.normal(size=(T, n, 2))
        for a, b in zip(f_k(*args, ws, wo), f_s(*args, ws, wo), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_kernel_matches_generic_step_directly(rng):
    """The kernel's latents and working models equal the simulator's ``dynamics.step`` loop."""
    from asem_bayes.kernels import latent_forward

    v = ab.get_variant("asem")
    p = ab.true_params(ab.simulate("asem", 6, 3, seed=4))
    p.update(theta_pos_s=np.full((6, 2), -1.0), theta_neg_s=np.full((6, 2), -1.5))  # fast: a visible path
    T = 12
    ev = {
        k: (rng.random((T, 6, 2)) < 0.4).astype(float) for k in ("threat", "safe", "soft", "confidence", "dependence")
    }
    zs, zo = dynamics.latent(np, p["s0"]), dynamics.latent(np, p["o0"])
    want = [zs]
    for t in range(T - 1):
        zs, zo = dynamics.step(np, v, zs, zo, dynamics.Events(*(ev[k][t] for k in ev)), p)
        want.append(zs)
    want = np.stack(want)
    assert np.ptp(want[:, 0, 0]) > 0.3  # the check has a path to check
    e = dynamics.Events(*(ev[k][:-1] for k in ev))
    pos_s, neg_s, _, _ = v.evidence(np, e, p)
    l0, l1 = v.log_rates(np, 0.0, 0.0, p), v.log_rates(np, 1.0, 1.0, p)
    b = lambda x: np.broadcast_to(x, (6, 2)).astype(float)  # noqa: E731
    args = (b(l0[0]), b(l0[1]), b(l1[0] - l0[0]), b(l1[1] - l0[1]), pos_s, neg_s)
    X, tape = latent_forward(dynamics.latent(np, p["s0"]), *args)
    np.testing.assert_allclose(tape[0], want, rtol=0, atol=1e-13)
    np.testing.assert_allclose(X, np.tanh(want), rtol=0, atol=1e-15)


def test_vexp_matches_numpy_exp():
    """The kernels' vectorisable exp is within 2 ulp of numpy's over the range the learning
    rates and gains use (and far beyond), exactly 1 at 0 (days without evidence rely on it),
    and keeps NaN, so a NaN parameter still yields a NaN log density."""
    from asem_bayes.kernels import vexp

    @numba.njit(fastmath={"contract"})  # as the kernels compile it: Horner steps as FMAs
    def vexp_array(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = vexp(x[i])
        return out

    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-700.0, 700.0, 200_001), rng.normal(0.0, 5.0, 100_000), [1e-300, -1e-300]])
    got, want = vexp_array(x), np.exp(x)
    ulp = np.abs(got - want) / np.spacing(want)
    assert ulp.max() <= 2.0, ulp.max()
    assert np.all(vexp_array(np.array([0.0, -0.0])) == 1.0)
    assert np.isnan(vexp_array(np.array([np.nan]))[0])


def test_vtanh_matches_numpy_tanh():
    """The kernels' vectorisable tanh: within 2 ulp of 1 (4.4e-16) of numpy's, exactly +-1 far out, NaN kept."""
    from asem_bayes.kernels import vtanh

    @numba.njit(fastmath={"contract"})
    def vtanh_array(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = vtanh(x[i])
        return out

    x = np.concatenate([np.linspace(-30.0, 30.0, 200_001), [-1e300, 1e300, 0.0]])
    assert np.abs(vtanh_array(x) - np.tanh(x)).max() <= 2 * np.spacing(1.0)
    assert vtanh_array(np.array([800.0]))[0] == 1.0 and vtanh_array(np.array([-800.0]))[0] == -1.0
    assert np.isnan(vtanh_array(np.array([np.nan]))[0])


def test_long_runs_of_events_stay_finite_with_exact_gradients():
    """A year of daily evidence at very fast learning drives the latent far out (|z| > 100, the
    working model saturates at +-1): the path stays finite, and the adjoint still equals central
    finite differences of the kernel itself, for every input."""
    from asem_bayes.kernels import latent_backward, latent_forward

    rng = np.random.default_rng(7)
    n_steps, shape = 365, (2, 2)
    z0 = rng.normal(size=shape)
    th_p, th_n = np.full(shape, 0.5), np.full(shape, -0.5)
    ps_p, ps_n = np.full(shape, 1.5), np.full(shape, -1.5)
    e_p = (rng.random((n_steps, *shape)) < 0.8).astype(float)
    e_n = (rng.random((n_steps, *shape)) < 0.1).astype(float)
    e_p[:, 1] = 0.0  # dyad 1: negative evidence only
    e_n[:, 1] *= 30.0
    args = [z0, th_p, th_n, ps_p, ps_n, e_p, e_n]
    X, tape = latent_forward(*args)
    assert np.all(np.isfinite(X)) and np.all(np.isfinite(tape))
    assert tape[0][-1, 0].min() > 100 and tape[0][-1, 1].max() < -100
    gX = rng.normal(size=X.shape)
    grads = latent_backward(*args, X, tape, gX)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.abs(grads[0]).max() > 0.1  # the early, unsaturated days carry gradient to z0
    loss = lambda a: float((latent_forward(*a)[0] * gX).sum())  # noqa: E731
    for k in range(5):  # z0 and the rate parameters, every entry
        for idx in np.ndindex(shape):
            up, down = [x.copy() for x in args], [x.copy() for x in args]
            up[k][idx] += 1e-6
            down[k][idx] -= 1e-6
            fd = (loss(up) - loss(down)) / 2e-6
            assert fd == pytest.approx(grads[k][idx], rel=1e-5, abs=1e-5), (k, idx)


@pytest.mark.parametrize("name", ["_forward_day", "_backward_day"])
def test_day_loops_compile_to_simd_code(name):
    """The per-day loops over persons compile to packed (SIMD) double arithmetic with the kernels'
    own compile options: a regression guard for the settings that make them vectorise (numba's
    default division check, ``error_model="python"``, leaves the forward loop scalar; control)."""
    import re

    from llvmlite import binding

    from asem_bayes import kernels

    if not binding.get_host_cpu_features().get("avx2", False):
        pytest.skip("the check reads AVX2 instructions")
    fn = getattr(kernels, name)
    opts = {k: fn.targetoptions[k] for k in ("fastmath", "error_model")}
    n_args = fn.py_func.__code__.co_argcount

    def packed(options):
        jitted = numba.njit(**options)(fn.py_func)
        jitted(*[np.random.default_rng(0).random(64) for _ in range(n_args)])
        asm = next(iter(jitted.inspect_asm().values()))
        return len(re.findall(r"\bv(?:fmadd\w*|mul|add|sub)pd\b", asm))

    assert packed(opts) >= 4
    if name == "_forward_day":
        assert packed(opts | {"error_model": "python"}) == 0
