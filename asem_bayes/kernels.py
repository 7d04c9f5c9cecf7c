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

Contract with the variants: an evidence entry that is exactly 0 has zero derivative with
respect to the parameters (evidence is a non-negative combination of event indicators, so it
is 0 only when every event feeding it is absent). The kernel then skips such entries entirely,
in the forward and the backward pass; ``tests/test_kernels.py`` checks the contract for every
registered variant.
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.tensor.rewriting.basic import register_canonicalize

from asem_bayes.dynamics import STATE_BOUND

__all__ = ["delta_rule_path", "delta_forward", "delta_backward"]


@numba.njit(cache=True)
def delta_forward(x0, th_p, th_n, psi_p, psi_n, e_p, e_n):  # pragma: no cover - numba
    """States ``(T, D, 2)`` from ``x0`` (D, 2) and daily evidence ``e_*`` (T-1, D, 2).

    Also returns the learning rates ``a_*`` and the shares ``1 - gain`` of every step, which the
    adjoint reuses. ``exp`` dominates this loop's cost, and most person-days carry no evidence of
    a sign: there the gain is exactly 0, so neither the rate nor the gain is computed (their
    slots keep the placeholder 1, which the adjoint never reads for such days).
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
                raw = x
                ep = e_p[t, d, i]
                en = e_n[t, d, i]
                if ep != 0.0:
                    ap = np.exp(th_p[d, i] + psi_p[d, i] * x)
                    kp = np.exp(-ap * ep)
                    A_p[t, d, i] = ap
                    K_p[t, d, i] = kp
                    raw += (1.0 - kp) * (1.0 - x)
                if en != 0.0:
                    an = np.exp(th_n[d, i] + psi_n[d, i] * x)
                    kn = np.exp(-an * en)
                    A_n[t, d, i] = an
                    K_n[t, d, i] = kn
                    raw -= (1.0 - kn) * (1.0 + x)
                X[t + 1, d, i] = min(max(raw, -STATE_BOUND), STATE_BOUND)
    return Y


@numba.njit(cache=True)
def delta_backward(x0, th_p, th_n, psi_p, psi_n, e_p, e_n, Y, gX):  # pragma: no cover
    """Vector-Jacobian product of :func:`delta_forward`'s states ``Y[0]`` for their upstream gradient ``gX``.

    The gradient with respect to a zero evidence entry is returned as 0 (see the module
    docstring: evidence that is zero has zero derivative in every variant), so days without
    evidence of a sign cost no transcendental function here either.
    """
    n_steps, n_d, n_p = e_p.shape
    X, A_p, A_n, K_p, K_n = Y[0], Y[1], Y[2], Y[3], Y[4]
    g_thp = np.zeros((n_d, n_p))
    g_thn = np.zeros((n_d, n_p))
    g_psp = np.zeros((n_d, n_p))
    g_psn = np.zeros((n_d, n_p))
    g_ep = np.zeros((n_steps, n_d, n_p))
    g_en = np.zeros((n_steps, n_d, n_p))
    lam = gX[n_steps].copy()
    for t in range(n_steps - 1, -1, -1):
        for d in range(n_d):
            for i in range(n_p):
                ep = e_p[t, d, i]
                en = e_n[t, d, i]
                if ep == 0.0 and en == 0.0:  # a quiet day: the state carried over unchanged
                    lam[d, i] += gX[t, d, i]
                    continue
                x = X[t, d, i]
                kp = K_p[t, d, i]  # 1 - gain (exactly 1 without evidence)
                kn = K_n[t, d, i]
                raw = x + (1.0 - kp) * (1.0 - x) - (1.0 - kn) * (1.0 + x)
                lm = lam[d, i] if -STATE_BOUND < raw < STATE_BOUND else 0.0  # the clamp's gradient
                nxt = lm * (kp + kn - 1.0) + gX[t, d, i]
                if ep != 0.0:
                    ap = A_p[t, d, i]
                    lgp = lm * (1.0 - x) * ap * kp
                    lap = lgp * ep  # d/d(log rate)
                    g_ep[t, d, i] = lgp
                    g_thp[d, i] += lap
                    g_psp[d, i] += lap * x
                    nxt += lap * psi_p[d, i]
                if en != 0.0:
                    an = A_n[t, d, i]
                    lgn = -lm * (1.0 + x) * an * kn
                    lan = lgn * en
                    g_en[t, d, i] = lgn
                    g_thn[d, i] += lan
                    g_psn[d, i] += lan * x
                    nxt += lan * psi_n[d, i]
                lam[d, i] = nxt
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
        # Only the states slot Y[0] is differentiated; ``cotangents[0][0]`` lets PyTensor drop
        # the (5, T, D, 2) zeros-and-set cotangent that slicing Y[0] produces.
        return list(DeltaRuleGrad()(*inputs, outputs[0], cotangents[0][0]))


class DeltaRuleGrad(Op):
    """Gradients of :class:`DeltaRuleScan` with respect to each of its seven inputs.

    Inputs: the forward Op's seven inputs, its output ``Y`` and the upstream gradient of the
    states ``Y[0]``.
    """

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


@node_rewriter([DeltaRuleGrad])
def merge_delta_rule_grads(fgraph, node):
    """One backward pass per forward kernel.

    PyMC builds each observed variable's log density on its own copy of the state graph; after
    PyTensor merges the copies, one forward kernel remains but each copy's gradient still calls
    the adjoint with its share of the upstream gradient. The adjoint is linear in that gradient,
    so the calls are replaced by one call on the sum (and zeros for the others).
    """
    same = [
        c
        for c, _ in fgraph.clients[node.inputs[7]]
        if c is not node and isinstance(c.op, DeltaRuleGrad) and c.inputs[:-1] == node.inputs[:-1]
    ]
    if not same:
        return None
    g_total = node.inputs[-1]
    for c in same:
        g_total = g_total + c.inputs[-1]
    merged = DeltaRuleGrad()(*node.inputs[:-1], g_total)
    repl = dict(zip(node.outputs, merged, strict=True))
    x0, e_p, e_n = node.inputs[0], node.inputs[5], node.inputs[6]
    for c in same:
        for out, like in zip(c.outputs, [x0] * 5 + [e_p, e_n], strict=True):
            repl[out] = pt.zeros_like(like)
    return repl


register_canonicalize(merge_delta_rule_grads)


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
