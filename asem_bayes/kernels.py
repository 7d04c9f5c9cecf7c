"""Compiled day loop of the bounded delta rule, with a hand-written adjoint.

PyTensor's ``scan`` pays per-day overhead for every small elementwise op, in the forward and
again in the backward pass; for diary-sized problems that overhead, not arithmetic, sets the
gradient's cost. This module runs the *same* recurrence as :func:`asem_bayes.dynamics.step`
(for log learning rates that are affine in the state, ``log eta = theta + psi * x``, which every
registered variant has) as one numba loop, and its exact reverse-mode gradient as another.

The variant-specific parts stay generic: the daily evidence is computed by the variant's own
``evidence(xp=pytensor.tensor, ...)`` for all days at once (it does not depend on the state),
and ``theta``/``psi`` are read off the variant's ``log_rates`` at states 0 and 1. Tests tie the
kernel's trajectories to the simulator's and its gradient to the ``scan`` graph's.
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from asem_bayes.dynamics import STATE_BOUND

__all__ = ["delta_rule_path", "delta_forward", "delta_backward"]


@numba.njit(cache=True)
def delta_forward(x0, th_p, th_n, psi_p, psi_n, e_p, e_n):  # pragma: no cover - numba
    """States ``(T, D, 2)`` from ``x0`` (D, 2) and daily evidence ``e_*`` (T-1, D, 2).

    Also returns the learning rates ``a_*`` and the shares ``1 - gain`` of every step, which the
    adjoint reuses: transcendental functions dominate this loop's cost, and most days carry no
    evidence (then the gain is exactly 0 and its ``exp`` is skipped).
    """
    n_steps, n_d, n_p = e_p.shape
    # One output array (a single-output Op keeps PyTensor's graph rewrites simple): Y[0] holds
    # the states, Y[1:5] the rates and 1 - gains of each step (last day unused).
    Y = np.ones((5, n_steps + 1, n_d, n_p))
    X, A_p, A_n, K_p, K_n = Y[0], Y[1], Y[2], Y[3], Y[4]
    X[0] = x0
    for t in range(n_steps):
        for d in range(n_d):
            for i in range(n_p):
                x = X[t, d, i]
                ap = np.exp(th_p[d, i] + psi_p[d, i] * x)
                an = np.exp(th_n[d, i] + psi_n[d, i] * x)
                A_p[t, d, i] = ap
                A_n[t, d, i] = an
                raw = x
                if e_p[t, d, i] != 0.0:
                    kp = np.exp(-ap * e_p[t, d, i])
                    K_p[t, d, i] = kp
                    raw += (1.0 - kp) * (1.0 - x)
                if e_n[t, d, i] != 0.0:
                    kn = np.exp(-an * e_n[t, d, i])
                    K_n[t, d, i] = kn
                    raw -= (1.0 - kn) * (1.0 + x)
                X[t + 1, d, i] = min(max(raw, -STATE_BOUND), STATE_BOUND)
    return Y


@numba.njit(cache=True)
def delta_backward(x0, th_p, th_n, psi_p, psi_n, e_p, e_n, Y, gY):  # pragma: no cover
    """Vector-Jacobian product of :func:`delta_forward`'s states for the upstream gradient ``gY[0]``."""
    n_steps, n_d, n_p = e_p.shape
    X, A_p, A_n, K_p, K_n, gX = Y[0], Y[1], Y[2], Y[3], Y[4], gY[0]
    g_thp = np.zeros((n_d, n_p))
    g_thn = np.zeros((n_d, n_p))
    g_psp = np.zeros((n_d, n_p))
    g_psn = np.zeros((n_d, n_p))
    g_ep = np.empty((n_steps, n_d, n_p))
    g_en = np.empty((n_steps, n_d, n_p))
    lam = gX[n_steps].copy()
    for t in range(n_steps - 1, -1, -1):
        for d in range(n_d):
            for i in range(n_p):
                x = X[t, d, i]
                ep = e_p[t, d, i]
                en = e_n[t, d, i]
                ap = A_p[t, d, i]
                an = A_n[t, d, i]
                kp = K_p[t, d, i]  # 1 - gain
                kn = K_n[t, d, i]
                raw = x + (1.0 - kp) * (1.0 - x) - (1.0 - kn) * (1.0 + x)
                lm = lam[d, i] if -STATE_BOUND < raw < STATE_BOUND else 0.0  # the clamp's gradient
                lgp = lm * (1.0 - x)
                lgn = -lm * (1.0 + x)
                lap = lgp * ep * kp * ap  # d/d(log rate)
                lan = lgn * en * kn * an
                g_ep[t, d, i] = lgp * ap * kp
                g_en[t, d, i] = lgn * an * kn
                g_thp[d, i] += lap
                g_thn[d, i] += lan
                g_psp[d, i] += lap * x
                g_psn[d, i] += lan * x
                lam[d, i] = lm * (kp + kn - 1.0) + lap * psi_p[d, i] + lan * psi_n[d, i] + gX[t, d, i]
    return lam, g_thp, g_thn, g_psp, g_psn, g_ep, g_en


def _f64(x):
    return pt.as_tensor_variable(x).astype("float64")


class DeltaRuleScan(Op):
    """``X = delta_forward(x0, theta_pos, theta_neg, psi_pos, psi_neg, e_pos, e_neg)``."""

    __props__ = ()

    def make_node(self, *inputs):
        inputs = [_f64(x) for x in inputs]
        return Apply(self, inputs, [pt.tensor(dtype="float64", shape=(5, None, None, None))])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = delta_forward(*inputs)

    def infer_shape(self, node, shapes):
        e_shape, x0_shape = shapes[5], shapes[0]
        return [(5, e_shape[0] + 1, x0_shape[0], x0_shape[1])]

    def pullback(self, inputs, outputs, cotangents):
        return list(DeltaRuleGrad()(*inputs, outputs[0], cotangents[0]))


class DeltaRuleGrad(Op):
    """Gradients of :class:`DeltaRuleScan` with respect to each of its seven inputs."""

    __props__ = ()

    def make_node(self, *inputs):
        inputs = [_f64(x) for x in inputs]
        outs = [pt.tensor(dtype="float64", shape=(None, None)) for _ in range(5)]
        outs += [pt.tensor(dtype="float64", shape=(None, None, None)) for _ in range(2)]
        return Apply(self, inputs, outs)

    def perform(self, node, inputs, output_storage):
        for store, value in zip(output_storage, delta_backward(*inputs), strict=True):
            store[0] = value

    def infer_shape(self, node, shapes):
        return [shapes[0]] * 5 + [shapes[5], shapes[6]]


def _source_salt() -> int:
    """PyTensor caches compiled graphs by Op type; salt the key with this module's source so an
    edited kernel is never served from a stale on-disk cache."""
    import hashlib
    from pathlib import Path

    return int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12], 16)


def _register_numba() -> None:
    from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

    salt = _source_salt()

    @register_funcify_default_op_cache_key(DeltaRuleScan)
    def _fwd(op, node=None, **kwargs):
        return delta_forward, salt

    @register_funcify_default_op_cache_key(DeltaRuleGrad)
    def _bwd(op, node=None, **kwargs):
        return delta_backward, salt


_register_numba()


def delta_rule_path(x0, theta_pos, theta_neg, psi_pos, psi_neg, e_pos, e_neg):
    """States at the start of every day, ``(day, dyad, person)``, for one working model.

    All parameters broadcast to ``x0``'s (dyad, person) shape; ``e_pos``/``e_neg`` hold the
    evidence of days ``0..T-2`` with shape (T-1, dyad, person).
    """
    shape = x0.shape
    b = [pt.broadcast_to(_f64(a), shape) for a in (theta_pos, theta_neg, psi_pos, psi_neg)]
    return DeltaRuleScan()(x0, *b, e_pos, e_neg)[0]
