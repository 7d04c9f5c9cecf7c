"""Compiled day loop of the latent update, with a hand-written adjoint.

PyTensor's ``scan`` pays per-day overhead for every small elementwise op, in the forward and
again in the backward pass; for diary-sized problems that overhead, not arithmetic, sets the
gradient's cost. This module runs the *same* recurrence as :func:`asem_bayes.dynamics.step`,

    z[t+1] = z[t] + exp(theta_pos + psi_pos * tanh(z[t])) * e_pos[t]
                  - exp(theta_neg + psi_neg * tanh(z[t])) * e_neg[t],

(log learning rates affine in the working model ``tanh(z)``, which every registered variant
has) as one numba loop, and its exact reverse-mode gradient as another.

The variant-specific parts stay generic: the daily evidence is computed by the variant's own
``evidence(xp=pytensor.tensor, ...)`` for all days at once (it does not depend on the state),
and ``theta``/``psi`` are read off the variant's ``log_rates`` at states 0 and 1. Tests tie the
kernel's trajectories to the simulator's and its gradient to the ``scan`` graph's.

Speed: within one day every person is updated at once by a branch-free loop that LLVM turns into
SIMD code, with :func:`vexp` and :func:`vtanh`, polynomial ``exp`` and ``tanh``, in place of the C
library's scalar ones. Two settings keep it SIMD: ``error_model="numpy"`` (numba's default checks
every division for zero and raises, a branch that stops LLVM from vectorising the loop) and fused
multiply-add (``fastmath={"contract"}``, no other fast-math licence), which changes results in
the last bit only. The kernel also returns the working models ``tanh(z)``, so the graph needs no
elementwise ``tanh`` of its own (PyTensor's calls the C library one value at a time).
``benchmarks/grad_speed.py`` prints the cost of one log density and gradient.
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from numba import types
from numba.extending import intrinsic
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.tensor.rewriting.basic import register_canonicalize

__all__ = ["latent_path", "latent_forward", "latent_backward", "register_jax", "vexp", "vtanh"]


# ---------------------------------------------------------------------------------------------
# A branch-free exp that LLVM vectorises. numba calls libm's scalar ``exp`` (no SVML here), which
# blocks SIMD; with this exp the loop over persons of one day runs 8 lanes at a time (AVX-512) or
# 4 (AVX2). The exponent goes through int32: AVX2 has a packed double -> int32 conversion but
# none to int64.


@intrinsic
def _f64_from_bits(typingctx, bits):  # pragma: no cover - numba
    """Reinterpret an int64's bits as a float64 (a no-op cast LLVM can vectorise)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split in two (Cody-Waite) so that k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10


@numba.njit(inline="always", cache=True, fastmath={"contract"}, error_model="numpy")
def vexp(x):  # pragma: no cover - numba
    """``exp(x)`` to within 2 ulp for ``-708 <= x <= 709`` (clamped outside), NaN kept.

    Range reduction ``x = k ln 2 + r`` with ``|r| <= ln(2)/2``, then the degree-13 Taylor
    polynomial of ``exp(r)`` (truncation error below 2e-17 relative), scaled by ``2**k`` built
    from its bits. ``vexp(0.0) == 1.0`` exactly, which the kernels rely on for days without
    evidence.
    """
    y = min(max(x, -708.0), 709.0)
    k = np.floor(y * _LOG2E + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    out = p * _f64_from_bits((np.int64(np.int32(k)) + 1023) << 52)
    return out if x == x else x


@numba.njit(inline="always", cache=True, fastmath={"contract"}, error_model="numpy")
def vtanh(z):  # pragma: no cover - numba
    """``tanh(z)`` as ``1 - 2 / (exp(2 z) + 1)`` with :func:`vexp`: branch-free, so it vectorises.

    Absolute error within 2 ulp of 1 (the relative error of ``vexp`` near ``z = 0`` becomes absolute);
    saturates to exactly -1 and 1 for large ``|z|`` and keeps NaN.
    """
    return 1.0 - 2.0 / (vexp(2.0 * z) + 1.0)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _forward_day(z, thp, thn, psp, psn, ep, en, z_next, x_out, a_p, a_n):  # pragma: no cover
    """One day for every person (flat arrays): no branches, so the loop is SIMD-vectorised.

    Where a sign has no evidence (``e == 0``) the update adds exactly 0.
    """
    for j in range(z.shape[0]):
        zj = z[j]
        xj = vtanh(zj)
        ap = vexp(thp[j] + psp[j] * xj)
        an = vexp(thn[j] + psn[j] * xj)
        x_out[j] = xj
        a_p[j] = ap
        a_n[j] = an
        z_next[j] = zj + ap * ep[j] - an * en[j]


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def latent_forward(z0, th_p, th_n, psi_p, psi_n, e_p, e_n):  # pragma: no cover - numba
    """Working models ``(T, D, 2)`` from the initial latents ``z0`` (D, 2) and daily evidence
    ``e_*`` (T-1, D, 2).

    Returns ``(X, tape)``: ``X`` the working models ``tanh(z)`` of every day, and ``tape`` of shape
    ``(3, T, D, 2)``: the latents ``z`` and the learning rates of each day (last day unused, set
    to 0), which the adjoint reuses. Days run in order; within a day every person is updated at
    once by :func:`_forward_day` (inputs are copied to contiguous arrays first: PyTensor may hand
    over broadcast views).
    """
    n_steps, n_d, n_p = e_p.shape
    c = n_d * n_p
    X = np.empty((n_steps + 1, c))
    tape = np.empty((3, n_steps + 1, c))
    thp = np.ascontiguousarray(th_p).reshape(c)
    thn = np.ascontiguousarray(th_n).reshape(c)
    psp = np.ascontiguousarray(psi_p).reshape(c)
    psn = np.ascontiguousarray(psi_n).reshape(c)
    EP = np.ascontiguousarray(e_p).reshape(n_steps, c)
    EN = np.ascontiguousarray(e_n).reshape(n_steps, c)
    tape[0, 0] = np.ascontiguousarray(z0).reshape(c)
    for t in range(n_steps):
        _forward_day(tape[0, t], thp, thn, psp, psn, EP[t], EN[t], tape[0, t + 1], X[t], tape[1, t], tape[2, t])
    for j in range(c):
        X[n_steps, j] = vtanh(tape[0, n_steps, j])
    tape[1:, n_steps] = 0.0
    return X.reshape(n_steps + 1, n_d, n_p), tape.reshape(3, n_steps + 1, n_d, n_p)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _backward_day(x, a_p, a_n, ep, en, psp, psn, g_x, lam, g_thp, g_thn, g_psp, g_psn, g_ep, g_en):  # pragma: no cover
    """Adjoint of :func:`_forward_day` for every person, branch-free like it.

    ``lam`` enters as the adjoint of tomorrow's latent and leaves as today's; ``g_x`` is the
    upstream gradient of today's working model ``x = tanh(z)``.
    """
    for j in range(x.shape[0]):
        xj = x[j]
        lm = lam[j]
        lp = lm * a_p[j] * ep[j]  # d/d(log rate) of the positive evidence's term
        ln = -lm * a_n[j] * en[j]
        g_ep[j] = lm * a_p[j]
        g_en[j] = -lm * a_n[j]
        g_thp[j] += lp
        g_psp[j] += lp * xj
        g_thn[j] += ln
        g_psn[j] += ln * xj
        lam[j] = lm + (lp * psp[j] + ln * psn[j] + g_x[j]) * (1.0 - xj * xj)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def latent_backward(z0, th_p, th_n, psi_p, psi_n, e_p, e_n, X, tape, gX):  # pragma: no cover - numba
    """Vector-Jacobian product of :func:`latent_forward`'s working models ``X`` for their upstream
    gradient ``gX`` (``(T, D, 2)``; ``tape`` is the forward pass's second output).

    Returns the gradients with respect to ``z0``, the four rate parameters and the two evidence
    arrays, in :func:`latent_forward`'s argument order.
    """
    n_steps, n_d, n_p = e_p.shape
    c = n_d * n_p
    Xc = np.ascontiguousarray(X).reshape(n_steps + 1, c)
    R = np.ascontiguousarray(tape).reshape(3, n_steps + 1, c)
    G = np.ascontiguousarray(gX).reshape(n_steps + 1, c)
    EP = np.ascontiguousarray(e_p).reshape(n_steps, c)
    EN = np.ascontiguousarray(e_n).reshape(n_steps, c)
    psp = np.ascontiguousarray(psi_p).reshape(c)
    psn = np.ascontiguousarray(psi_n).reshape(c)
    g = np.zeros((4, c))  # theta_pos, theta_neg, psi_pos, psi_neg
    g_e = np.empty((2, n_steps, c))
    lam = np.empty(c)
    for j in range(c):
        x = Xc[n_steps, j]
        lam[j] = G[n_steps, j] * (1.0 - x * x)
    for t in range(n_steps - 1, -1, -1):
        e_t = (EP[t], EN[t])
        _backward_day(Xc[t], R[1, t], R[2, t], *e_t, psp, psn, G[t], lam, g[0], g[1], g[2], g[3], g_e[0, t], g_e[1, t])
    shp = (n_d, n_p)
    return (
        lam.reshape(shp),
        g[0].reshape(shp),
        g[1].reshape(shp),
        g[2].reshape(shp),
        g[3].reshape(shp),
        g_e[0].reshape(n_steps, n_d, n_p),
        g_e[1].reshape(n_steps, n_d, n_p),
    )


def _f64(x):
    return pt.as_tensor_variable(x).astype("float64")


class LatentPath(Op):
    """``X, tape = latent_forward(z0, theta_pos, theta_neg, psi_pos, psi_neg, e_pos, e_neg)``.

    Only ``X`` (the working models) is differentiable; ``tape`` (latents and daily rates) is the
    adjoint's input.
    """

    __props__ = ()

    def make_node(self, *inputs):
        inputs = [_f64(x) for x in inputs]
        x = pt.tensor(dtype="float64", shape=(None, None, None))
        outs = [x, pt.tensor(dtype="float64", shape=(3, None, None, None))]
        return Apply(self, inputs, outs)

    def perform(self, node, inputs, output_storage):
        for store, value in zip(output_storage, latent_forward(*inputs), strict=True):
            store[0] = value

    # No infer_shape: the day count would be ``shape(e)[0] + 1``, arithmetic that PyTensor's JAX
    # backend turns into a traced value, which JAX cannot use as a shape; the outputs' own shapes
    # are concrete in every backend.

    def pullback(self, inputs, outputs, cotangents):
        g_x, g_tape = cotangents
        if not isinstance(g_tape.type, DisconnectedType):
            raise NotImplementedError("LatentPath's tape (latents, rates) has no gradient: use the working models")
        if isinstance(g_x.type, DisconnectedType):
            return [disconnected_type() for _ in inputs]
        return list(LatentPathGrad()(*inputs, *outputs, g_x))

    def connection_pattern(self, node):
        return [[True, False] for _ in node.inputs]


class LatentPathGrad(Op):
    """Gradients of :class:`LatentPath` with respect to each of its seven inputs.

    Inputs: the forward Op's seven inputs, its outputs ``X`` and ``tape``, and the upstream
    gradient of the working models ``X``.
    """

    __props__ = ()

    def make_node(self, *inputs):
        inputs = [_f64(x) for x in inputs]
        outs = [pt.tensor(dtype="float64", shape=(None, None)) for _ in range(5)]
        outs += [pt.tensor(dtype="float64", shape=(None, None, None)) for _ in range(2)]
        return Apply(self, inputs, outs)

    def perform(self, node, inputs, output_storage):
        for store, value in zip(output_storage, latent_backward(*inputs), strict=True):
            store[0] = value

    def infer_shape(self, node, shapes):
        return [shapes[0]] * 5 + [shapes[5], shapes[6]]


@node_rewriter([LatentPathGrad])
def merge_latent_path_grads(fgraph, node):
    """One backward pass per forward kernel.

    PyMC builds each observed variable's log density on its own copy of the state graph; after
    PyTensor merges the copies, one forward kernel remains but each copy's gradient still calls
    the adjoint with its share of the upstream gradient. The adjoint is linear in that gradient,
    so the calls are replaced by one call on the sum (and zeros for the others).
    """
    same = [
        c
        for c, _ in fgraph.clients[node.inputs[7]]
        if c is not node and isinstance(c.op, LatentPathGrad) and c.inputs[:-1] == node.inputs[:-1]
    ]
    if not same:
        return None
    g_total = node.inputs[-1]
    for c in same:
        g_total = g_total + c.inputs[-1]
    merged = LatentPathGrad()(*node.inputs[:-1], g_total)
    repl = dict(zip(node.outputs, merged, strict=True))
    z0, e_p, e_n = node.inputs[0], node.inputs[5], node.inputs[6]
    for c in same:
        for out, like in zip(c.outputs, [z0] * 5 + [e_p, e_n], strict=True):
            repl[out] = pt.zeros_like(like)
    return repl


register_canonicalize(merge_latent_path_grads)


def _source_salt() -> int:
    """PyTensor caches compiled graphs by Op type; salt the key with this module's source so an
    edited kernel is never served from a stale on-disk cache."""
    import hashlib
    from pathlib import Path

    return int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12], 16)


def _register_numba() -> None:
    from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

    salt = _source_salt()

    @register_funcify_default_op_cache_key(LatentPath)
    def _fwd(op, node=None, **kwargs):
        return latent_forward, salt

    @register_funcify_default_op_cache_key(LatentPathGrad)
    def _bwd(op, node=None, **kwargs):
        return latent_backward, salt


_register_numba()


def latent_path(z0, theta_pos, theta_neg, psi_pos, psi_neg, e_pos, e_neg):
    """Working model ``tanh(z)`` at the start of every day, ``(day, dyad, person)``, for one working model.

    ``z0`` is the initial latent (``atanh`` of the initial working model). All parameters
    broadcast to ``z0``'s (dyad, person) shape; ``e_pos``/``e_neg`` hold the evidence of days
    ``0..T-2`` with shape (T-1, dyad, person). The kernel computes ``tanh`` with SIMD code, which
    PyTensor's elementwise ``tanh`` (the C library's, one value at a time) cannot.
    """
    shape = z0.shape
    b = [pt.broadcast_to(_f64(a), shape) for a in (theta_pos, theta_neg, psi_pos, psi_neg)]
    return LatentPath()(z0, *b, e_pos, e_neg)[0]


def register_jax() -> None:
    """Give :class:`LatentPath` a JAX implementation, so PyTensor's JAX backend compiles the model.

    The same outputs ``(X, tape)`` (working models; latents and rates) from a :func:`jax.lax.scan` over
    :func:`asem_bayes.dynamics.update`; JAX differentiates it (the numba adjoint is not used).
    Called by the JAX samplers and :mod:`asem_bayes.jax_model`; imports JAX.
    """
    import jax
    import jax.numpy as jnp
    from pytensor.link.jax.dispatch import jax_funcify

    from asem_bayes.dynamics import update

    @jax_funcify.register(LatentPath)
    def _jax_latent_path(op, **kwargs):
        def latent_path(z0, th_p, th_n, psi_p, psi_n, e_p, e_n):
            def day(z, e):
                x = jnp.tanh(z)
                lp, ln = th_p + psi_p * x, th_n + psi_n * x
                return update(jnp, z, lp, ln, e[0], e[1]), (z, x, jnp.exp(lp), jnp.exp(ln))

            z_last, (Z, X, AP, AN) = jax.lax.scan(day, z0, (e_p, e_n))
            last = jnp.zeros_like(z_last)[None]
            tail = (z_last[None], jnp.tanh(z_last)[None], last, last)
            Z, X, AP, AN = (jnp.concatenate([a, b]) for a, b in zip((Z, X, AP, AN), tail, strict=True))
            return X, jnp.stack([Z, AP, AN])

        return latent_path
