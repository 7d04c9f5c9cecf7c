"""The compiled delta-rule kernel against the generic ``scan`` of ``dynamics.step``."""

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
    S, O, _ = _scan_states(v, inputs, ev, T, need_fatigue=False, kernel=kernel)
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
    the generic ``scan``, at random points with fast learning (log rates near -0.5, gains
    ~0.3-0.6 a day) so the recurrence is strongly nonlinear and a wrong adjoint term shows."""
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
                args.append(rng.uniform(-0.9, 0.9, (n, 2)))
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
    from asem_bayes.kernels import delta_forward

    v = ab.get_variant("asem")
    p = ab.true_params(ab.simulate("asem", 6, 3, seed=4))
    T = 12
    ev = {
        k: (rng.random((T, 6, 2)) < 0.4).astype(float) for k in ("threat", "safe", "soft", "confidence", "dependence")
    }
    s, o = p["s0"], p["o0"]
    want = [s]
    for t in range(T - 1):
        s, o = dynamics.step(np, v, s, o, dynamics.Events(*(ev[k][t] for k in ev)), p)
        want.append(s)
    e = dynamics.Events(*(ev[k][:-1] for k in ev))
    pos_s, neg_s, _, _ = v.evidence(np, e, p)
    l0, l1 = v.log_rates(np, 0.0, 0.0, p), v.log_rates(np, 1.0, 1.0, p)
    b = lambda x: np.broadcast_to(x, (6, 2)).astype(float)  # noqa: E731
    got = delta_forward(p["s0"], b(l0[0]), b(l0[1]), b(l1[0] - l0[0]), b(l1[1] - l0[1]), pos_s, neg_s)[0]
    np.testing.assert_allclose(got, np.stack(want), rtol=0, atol=1e-14)


@pytest.mark.parametrize("variant", CHANGING)
def test_zero_evidence_has_zero_derivative(variant, rng):
    """The kernel gives evidence entries that are exactly 0 zero gain and zero gradient, which is exact only
    if such an entry stays 0 when any parameter moves (its derivative is 0). Checked with
    events that are 0/1 and fractional, at random parameter values inside the bounds."""
    v = ab.get_variant(variant)
    shape = (40, 8, 2)
    ev = {}
    for k in ("threat", "safe", "soft", "confidence", "dependence"):
        x = rng.random(shape)
        ev[k] = np.where(rng.random(shape) < 0.5, 0.0, np.where(rng.random(shape) < 0.5, 1.0, x))
    events = dynamics.Events(**ev)
    dyn = [q for q in v.params if q.group == "dynamics" and np.isfinite(q.bounds).all()]
    for _ in range(5):
        p = {q.name: rng.uniform(*q.bounds) for q in dyn}
        base = v.evidence(np, events, p)
        zero = [np.broadcast_to(b, shape) == 0.0 for b in base]
        assert any(z.any() for z in zero)  # the check has something to check
        for q in dyn:
            moved = dict(p, **{q.name: p[q.name] + 1e-3 * (q.bounds[1] - q.bounds[0])})
            for z, b in zip(zero, v.evidence(np, events, moved), strict=True):
                assert np.all(np.broadcast_to(b, shape)[z] == 0.0), (variant, q.name)


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


def test_clamped_state_gradient():
    """At the state bound: a day without evidence carries the state, and its gradient, over
    unchanged; a day whose evidence pushes the state past the bound cuts the gradient (the
    clamp's derivative is 0 there). Checked against central finite differences."""
    from asem_bayes.kernels import delta_backward, delta_forward

    B = dynamics.STATE_BOUND
    n_steps = 4
    x0 = np.array([[B, 0.2]])
    th = np.full((1, 2), -1.0)
    ps = np.zeros((1, 2))
    e_p = np.zeros((n_steps, 1, 2))
    e_n = np.zeros((n_steps, 1, 2))
    e_p[1, 0, 1] = 1e3  # person 1 is pushed onto the bound on day 1
    Y = delta_forward(x0, th, th, ps, ps, e_p, e_n)
    assert np.all(Y[0][:, 0, 0] == B) and Y[0][-1, 0, 1] == B
    gX = np.zeros((n_steps + 1, 1, 2))
    gX[-1] = 1.0  # d(last state)
    g_x0 = delta_backward(x0, th, th, ps, ps, e_p, e_n, Y, gX)[0]
    assert g_x0[0, 0] == 1.0  # carried over by quiet days
    assert g_x0[0, 1] == 0.0  # cut by the clamp
    # finite differences agree for person 1, whose state is cut (person 0's state cannot move up)
    h = 1e-6
    up, down = x0.copy(), x0.copy()
    up[0, 1] += h
    down[0, 1] -= h
    last = lambda x: delta_forward(x, th, th, ps, ps, e_p, e_n)[0][-1, 0, 1]  # noqa: E731
    assert (last(up) - last(down)) / (2 * h) == pytest.approx(g_x0[0, 1], abs=1e-9)
