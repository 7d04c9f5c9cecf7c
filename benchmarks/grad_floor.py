"""A measured floor for the cost of one log density + gradient of the ``asem`` model.

The speed target of the package's gradient is at most 2x a measured floor; this script is that
floor: a hand-written numba log-likelihood of the ``asem`` model (conditional mode,
continuous ratings, no covariates, no residual options) with its hand-written exact reverse-mode
gradient, timed next to the package's nutpie-compiled log density + gradient in the same run.
``docs/performance.md`` quotes the figures it prints.

What the floor computes, for ``D`` dyads x ``T`` days (``C = 2 D`` persons):

* the day loop of both working models from the person-level initial latents
  ``s0 = s0_mu + s0_sd * s0_z`` and ``o0 = o0_mu + o0_sd * o0_z``, with the person-level log learning
  rates ``theta_{pos,neg}_{s,o} = mu + sd * z``, the population assimilation biases
  ``psi_{pos,neg}_{s,o}``, and the targeted evidence of ``models/_common.py`` (ripple ``rho``,
  buffering ``e_safe``/``e_soft``): the recurrence of :func:`asem_bayes.dynamics.step`;
* the Normal log-likelihood of every observed daily state anxiety and avoidance rating (means of
  :func:`asem_bayes.dynamics.rating_means` with person-level intercepts ``c_A``/``c_V``, centred
  on ``tanh(s0_mu)``/``tanh(o0_mu)``) and every trait wave (:func:`asem_bayes.dynamics.trait_means`),
  normalising constants included;
* the standard-normal prior of the 8 x C standardised person effects ``*_z``;
* the exact gradient of all of that with respect to the ``*_z`` and to the 38 population
  parameters that enter it (the 8 means and 8 spreads of the person-level parameters, the four
  ``psi``, ``rho``, ``e_safe``, ``e_soft`` and the 15 observation parameters).

It excludes what costs O(1) per evaluation: the priors of the population parameters, the
transforms to the sampler's unconstrained (and sheared) coordinates and their Jacobians, and the
conditional-mode event-model parameters ``a0 ... y1`` (which only have priors there). The
package's figure includes those, and nutpie's own per-call overhead.

Layout (the fast one): days are the outer loop and persons the inner loop, which is branch-free
and SIMD-vectorised (:func:`asem_bayes.kernels.vexp`/:func:`~asem_bayes.kernels.vtanh`,
``fastmath={"contract"}``, ``error_model="numpy"``). The forward pass runs the dynamics and keeps
each day's working models and learning rates; the reverse pass scores each day's ratings (so
rating residuals are never stored), adds their gradient to the adjoint of the day's latents and
carries it back through the update. Sums over persons go into per-person accumulators, added up
once at the end (a floating-point sum in the inner loop would need reassociation, i.e. fast-math,
to vectorise). Each inner loop touches few arrays: LLVM checks at run time that the arrays a loop
writes do not overlap the others, and gives up vectorising past about 128 such checks, which one
loop doing the whole reverse day (37 arrays, 24 written) exceeds. Workspace is allocated once,
outside the timed call.

The script first checks it is the same model: at a random point, the floor's log-likelihood
against PyMC's log density of the observed variables (``build_model(study, "asem",
trajectories=False, reparam=False)``, value transforms removed) and its gradient against central
finite differences of itself (5-point stencil, every population parameter and three persons of
each person-level one) and against PyMC's own gradient of that log density; gradient differences
are relative to ``max(|gradient|, 1e-3)``. Then it times both: CPU microseconds
(``time.process_time``) per log density + gradient, median of 3 repeats of ``--calls`` calls.

Usage: ``python benchmarks/grad_floor.py [--dyads 100] [--days 56] [--calls N] [--no-check]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np

import asem_bayes as ab
from asem_bayes.kernels import vexp, vtanh

PERSON = ("s0", "o0", "theta_pos_s", "theta_neg_s", "theta_pos_o", "theta_neg_o", "c_A", "c_V")
POP = (
    "psi_pos_s",
    "psi_neg_s",
    "psi_pos_o",
    "psi_neg_o",
    "rho",
    "e_safe",
    "e_soft",
    "k_A",
    "k_V",
    "tau_A",
    "tau_V",
    "b_safe",
    "b_soft",
    "b_backfire",
    "sigma_A",
    "sigma_V",
    "m_A",
    "l_A",
    "sigma_TA",
    "m_V",
    "l_V",
    "sigma_TV",
)
# The parameter vector P: the person-level parameters' means, their spreads, then POP.
P_NAMES = tuple(f"{n}_mu" for n in PERSON) + tuple(f"{n}_sd" for n in PERSON) + POP
_I = {n: i for i, n in enumerate(P_NAMES)}
N_ACC = 29  # per-person accumulators of the reverse pass (see logp_grad)
_LOG_2PI = math.log(2.0 * math.pi)

# Not cached: this file runs both as a script (module ``__main__``) and imported by its test, and
# numba's on-disk cache, keyed by file, cannot serve one from the other's entries.
_JIT = {"cache": False, "fastmath": {"contract"}, "error_model": "numpy"}


@numba.njit(**_JIT)
def _forward_day(zs, zo, thps, thns, thpo, thno, psps, psns, pspo, psno, rho, es, eo,
                 thr, safe, soft, conf, dep, xs_out, xo_out, aps_out, ans_out, apo_out, ano_out):  # fmt: skip
    """One day for every person: working models, learning rates, and the latents of the next day
    (``zs``/``zo`` updated in place). Branch-free: the loop runs SIMD lanes of persons."""
    for j in range(zs.shape[0]):
        zsj = zs[j]
        zoj = zo[j]
        xs = vtanh(zsj)
        xo = vtanh(zoj)
        aps = vexp(thps[j] + psps * xs)
        ans = vexp(thns[j] + psns * xs)
        apo = vexp(thpo[j] + pspo * xo)
        ano = vexp(thno[j] + psno * xo)
        th = thr[j]
        cf = conf[j]
        dp = dep[j]
        xs_out[j] = xs
        xo_out[j] = xo
        aps_out[j] = aps
        ans_out[j] = ans
        apo_out[j] = apo
        ano_out[j] = ano
        zs[j] = zsj + aps * (cf + rho * dp) - ans * (th * (1.0 - es * safe[j]))
        zo[j] = zoj + apo * (dp + rho * cf) - ano * (th * (1.0 - eo * soft[j]))


@numba.njit(**_JIT)
def _last_day(zs, zo, xs_out, xo_out, aps_out, ans_out, apo_out, ano_out):  # pragma: no cover
    """The last day's working models; it has no update (rates 0)."""
    for j in range(zs.shape[0]):
        xs_out[j] = vtanh(zs[j])
        xo_out[j] = vtanh(zo[j])
        aps_out[j] = 0.0
        ans_out[j] = 0.0
        apo_out[j] = 0.0
        ano_out[j] = 0.0


@numba.njit(**_JIT)
def _anxiety_day(xs_in, cA, kA, tauA, bsafe, sref, iA, thr, safe, yA, wA, a0, a1, a2, a3, a4, gx):  # pragma: no cover
    """The day's state-anxiety ratings (dynamics.rating_means) for every person: accumulate their
    gradient's sums and write the gradient ``gx`` of the day's log-likelihood with respect to the
    working model of self. ``wA`` are 0/1 weights of observed ratings (``yA = 0`` where missing)."""
    for j in range(xs_in.shape[0]):
        xs = xs_in[j]
        th = thr[j]
        sf = safe[j]
        rA = wA[j] * (yA[j] - (cA[j] - kA * (xs - sref) + th * (tauA - bsafe * sf)))
        dA = rA * iA
        a0[j] += dA
        a1[j] += dA * xs
        a2[j] += dA * th
        a3[j] += dA * th * sf
        a4[j] += rA * rA
        gx[j] = -kA * dA


@numba.njit(**_JIT)
def _avoidance_day(xo_in, cV, kV, tauV, bsoft, bb, oref, iV, thr, safe, soft, yV, wV,
                   v0, v1, v2, v3, v4, v5, gx):  # fmt: skip
    """As :func:`_anxiety_day` for state avoidance (with the backfire term ``safe * max(0, -o)``)."""
    for j in range(xo_in.shape[0]):
        xo = xo_in[j]
        th = thr[j]
        sf = safe[j]
        st = soft[j]
        bf = -sf * min(xo, 0.0)
        rV = wV[j] * (yV[j] - (cV[j] - kV * (xo - oref) + th * (tauV - bsoft * st) + bb * bf))
        dV = rV * iV
        v0[j] += dV
        v1[j] += dV * xo
        v2[j] += dV * th
        v3[j] += dV * th * st
        v4[j] += dV * bf
        v5[j] += rV * rV
        gx[j] = -dV * (kV + (bb * sf if xo < 0.0 else 0.0))


@numba.njit(**_JIT)
def _adjoint_day(x_in, ap_in, an_in, e1, e2, thr, buf, rho, eb, psp, psn, gx, lam,
                 g_thp, g_thn, g_psp, g_psn, g_rho, g_eb):  # fmt: skip
    """Day ``t``'s update of one working model in reverse, for every person: ``lam`` enters as
    the adjoint of day ``t + 1``'s latents and leaves as day ``t``'s, with the day's own
    gradient ``gx`` (of the working model) added. Evidence ``e1 + rho * e2`` positive and
    ``thr * (1 - eb * buf)`` negative (targeted_evidence). Rates are 0 on the last day."""
    for j in range(x_in.shape[0]):
        x = x_in[j]
        ls = lam[j]
        ap = ap_in[j]
        an = an_in[j]
        a = e2[j]
        th = thr[j]
        b = buf[j]
        lp = ls * ap * (e1[j] + rho * a)
        ln = -ls * an * (th * (1.0 - eb * b))
        g_thp[j] += lp
        g_thn[j] += ln
        g_psp[j] += lp * x
        g_psn[j] += ln * x
        g_rho[j] += ls * ap * a
        g_eb[j] += ls * an * th * b
        lam[j] = ls + (lp * psp + ln * psn + gx[j]) * (1.0 - x * x)


@numba.njit(**_JIT)
def _trait_day(xs_in, xo_in, mA, lA, mV, lV, sref, oref, iTA, iTV, yTA, wTA, yTV, wTV, lam_s, lam_o,
               t0, t1, t2, u0, u1, u2):  # fmt: skip
    """A trait wave on this day (dynamics.trait_means): its score and its gradient into the adjoint."""
    for j in range(xs_in.shape[0]):
        xs = xs_in[j]
        xo = xo_in[j]
        rTA = wTA[j] * (yTA[j] - (mA - lA * (xs - sref)))
        rTV = wTV[j] * (yTV[j] - (mV - lV * (xo - oref)))
        dTA = rTA * iTA
        dTV = rTV * iTV
        t0[j] += dTA
        t1[j] += dTA * xs
        t2[j] += rTA * rTA
        u0[j] += dTV
        u1[j] += dTV * xo
        u2[j] += rTV * rTV
        lam_s[j] += -lA * dTA * (1.0 - xs * xs)
        lam_o[j] += -lV * dTV * (1.0 - xo * xo)


@numba.njit(**_JIT)
def _person_values(P, Z, lin):  # pragma: no cover - numba
    """Linear predictors ``mu + sd * z`` of the 8 person-level parameters."""
    for k in range(8):
        mu = P[k]
        sd = P[8 + k]
        for j in range(Z.shape[1]):
            lin[k, j] = mu + sd * Z[k, j]


@numba.njit(**_JIT)
def logp_grad(P, Z, ev, obs, tr, wave_day, counts, W, gP, gZ):  # pragma: no cover - numba
    """Log-likelihood + person-effect prior of ``asem`` and its gradient.

    ``P`` (38,) population parameters in :data:`P_NAMES` order, ``Z`` (8, C) standardised
    person effects in :data:`PERSON` order; ``ev`` (5, T, C) events threat, safe, soft,
    confidence, dependence (time-major, person ``c = 2 * dyad + person``); ``obs`` (4, T, C)
    ``yA, wA, yV, wV`` (0/1 weights, 0 where missing); ``tr`` (4, n_waves, C) ``yTA, wTA, yTV,
    wTV``; ``wave_day`` (n_waves,); ``counts`` the number of observed values of the four
    ratings; ``W`` a :func:`workspace`. Writes the gradient into ``gP`` and ``gZ``; returns
    ``(log-likelihood, prior of Z)``.
    """
    T = ev.shape[1]
    C = Z.shape[1]
    n_w = wave_day.shape[0]
    store, lin, lam, acc, gx = W
    _person_values(P, Z, lin)
    psps, psns, pspo, psno = P[16], P[17], P[18], P[19]
    rho, es, eo = P[20], P[21], P[22]
    kA, kV, tauA, tauV = P[23], P[24], P[25], P[26]
    bsafe, bsoft, bb = P[27], P[28], P[29]
    sA, sV, mA, lA, sTA, mV, lV, sTV = P[30], P[31], P[32], P[33], P[34], P[35], P[36], P[37]
    sref = np.tanh(P[0])
    oref = np.tanh(P[1])
    iA, iV, iTA, iTV = 1.0 / (sA * sA), 1.0 / (sV * sV), 1.0 / (sTA * sTA), 1.0 / (sTV * sTV)
    # forward: the dynamics; lam holds the latents meanwhile
    zs = lam[0]
    zo = lam[1]
    zs[:] = lin[0]
    zo[:] = lin[1]
    for t in range(T - 1):
        _forward_day(zs, zo, lin[2], lin[3], lin[4], lin[5], psps, psns, pspo, psno, rho, es, eo,
                     ev[0, t], ev[1, t], ev[2, t], ev[3, t], ev[4, t],
                     store[0, t], store[1, t], store[2, t], store[3, t], store[4, t], store[5, t])  # fmt: skip
    _last_day(zs, zo, store[0, T - 1], store[1, T - 1], store[2, T - 1], store[3, T - 1], store[4, T - 1],
              store[5, T - 1])  # fmt: skip
    # reverse: ratings and adjoint
    acc[:] = 0.0
    lam[:] = 0.0
    for t in range(T - 1, -1, -1):
        xs, xo = store[0, t], store[1, t]
        _anxiety_day(xs, lin[6], kA, tauA, bsafe, sref, iA, ev[0, t], ev[1, t], obs[0, t], obs[1, t],
                     acc[0], acc[1], acc[2], acc[3], acc[4], gx[0])  # fmt: skip
        _avoidance_day(xo, lin[7], kV, tauV, bsoft, bb, oref, iV, ev[0, t], ev[1, t], ev[2, t], obs[2, t], obs[3, t],
                       acc[5], acc[6], acc[7], acc[8], acc[9], acc[10], gx[1])  # fmt: skip
        _adjoint_day(xs, store[2, t], store[3, t], ev[3, t], ev[4, t], ev[0, t], ev[1, t], rho, es, psps, psns, gx[0],
                     lam[0], acc[11], acc[12], acc[15], acc[16], acc[19], acc[20])  # fmt: skip
        _adjoint_day(xo, store[4, t], store[5, t], ev[4, t], ev[3, t], ev[0, t], ev[2, t], rho, eo, pspo, psno, gx[1],
                     lam[1], acc[13], acc[14], acc[17], acc[18], acc[28], acc[21])  # fmt: skip
        for w in range(n_w):
            if wave_day[w] == t:
                _trait_day(store[0, t], store[1, t], mA, lA, mV, lV, sref, oref, iTA, iTV,
                           tr[0, w], tr[1, w], tr[2, w], tr[3, w], lam[0], lam[1],
                           acc[22], acc[23], acc[24], acc[25], acc[26], acc[27])  # fmt: skip
    # sums over persons, once
    S = np.zeros(N_ACC)
    for k in range(N_ACC):
        s = 0.0
        for j in range(C):
            s += acc[k, j]
        S[k] = s
    nA, nV, nTA, nTV = counts[0], counts[1], counts[2], counts[3]
    ll = -0.5 * (S[4] * iA + S[10] * iV + S[24] * iTA + S[27] * iTV)
    ll -= nA * np.log(sA) + nV * np.log(sV) + nTA * np.log(sTA) + nTV * np.log(sTV)
    ll -= 0.5 * _LOG_2PI * (nA + nV + nTA + nTV)
    gP[:] = 0.0
    for k in range(4):
        gP[16 + k] = S[15 + k]  # psi
    gP[20] = S[19] + S[28]
    gP[21] = S[20]
    gP[22] = S[21]
    gP[23] = -(S[1] - sref * S[0])  # k_A
    gP[24] = -(S[6] - oref * S[5])  # k_V
    gP[25] = S[2]
    gP[26] = S[7]
    gP[27] = -S[3]
    gP[28] = -S[8]
    gP[29] = S[9]
    gP[30] = -nA / sA + S[4] * iA / sA
    gP[31] = -nV / sV + S[10] * iV / sV
    gP[32] = S[22]
    gP[33] = -(S[23] - sref * S[22])
    gP[34] = -nTA / sTA + S[24] * iTA / sTA
    gP[35] = S[25]
    gP[36] = -(S[26] - oref * S[25])
    gP[37] = -nTV / sTV + S[27] * iTV / sTV
    # through the reference states tanh(s0_mu), tanh(o0_mu)
    gP[0] += (1.0 - sref * sref) * (kA * S[0] + lA * S[22])
    gP[1] += (1.0 - oref * oref) * (kV * S[5] + lV * S[25])
    # person level: d/d lin, then lin = mu + sd * z, and the z's standard-normal prior
    g_lin = (lam[0], lam[1], acc[11], acc[12], acc[13], acc[14], acc[0], acc[5])
    prior = 0.0
    for k in range(8):
        gl = g_lin[k]
        sd = P[8 + k]
        gm = 0.0
        gs = 0.0
        for j in range(C):
            z = Z[k, j]
            g = gl[j]
            gm += g
            gs += g * z
            gZ[k, j] = g * sd - z
            prior += z * z
        gP[k] += gm
        gP[8 + k] += gs
    prior = -0.5 * prior - 0.5 * _LOG_2PI * 8 * C
    return ll, prior


def workspace(n_days: int, n_persons: int):
    """Arrays :func:`logp_grad` works in, allocated once."""
    return (
        np.zeros((6, n_days, n_persons)),  # working models and learning rates of every day
        np.zeros((8, n_persons)),  # person-level linear predictors
        np.zeros((2, n_persons)),  # latents (forward), their adjoint (reverse)
        np.zeros((N_ACC, n_persons)),
        np.zeros((2, n_persons)),  # gradient of a day's ratings w.r.t. its working models
    )


class Floor:
    """The floor's data arrays for one study, and its log density + gradient at ``(P, Z)``."""

    def __init__(self, inp) -> None:
        T, D = inp.n_days, inp.n_dyads
        C = 2 * D
        names = ("threat", "safe", "soft", "confidence", "dependence")
        self.ev = np.ascontiguousarray(np.stack([inp.events[k].reshape(T, C) for k in names]).astype(float))
        self.obs = np.zeros((4, T, C))
        self.tr = np.zeros((4, len(inp.wave_pos), C))
        counts = []
        for i, name in enumerate(("state_anxiety", "state_avoidance")):
            idx, y = inp.obs[name]
            c, t = idx // T, idx % T
            self.obs[2 * i, t, c] = y
            self.obs[2 * i + 1, t, c] = 1.0
            counts.append(float(y.size))
        if len(set(inp.wave_pos.tolist())) < len(inp.wave_pos):
            raise ValueError("two trait waves on one day: not supported by the floor")
        wave_of_day = {int(d): w for w, d in enumerate(inp.wave_pos)}
        for i, name in enumerate(("trait_anxiety", "trait_avoidance")):
            idx, y = inp.obs[name]
            c, w = idx // T, np.array([wave_of_day[int(d)] for d in idx % T], dtype=int)
            self.tr[2 * i, w, c] = y
            self.tr[2 * i + 1, w, c] = 1.0
            counts.append(float(y.size))
        self.wave_day = np.asarray(inp.wave_pos, dtype=np.int64)
        self.counts = np.array(counts)
        self.W = workspace(T, C)
        self.gP = np.zeros(len(P_NAMES))
        self.gZ = np.zeros((8, C))

    def __call__(self, P: np.ndarray, Z: np.ndarray) -> tuple[float, float]:
        """``(log-likelihood, prior of Z)``; the gradient of their sum is left in ``gP``, ``gZ``."""
        return logp_grad(P, Z, self.ev, self.obs, self.tr, self.wave_day, self.counts, self.W, self.gP, self.gZ)


# ---------------------------------------------------------------------------------------------
# checks against the PyMC model


def random_point(study, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every free variable of the model (schema coordinates, constrained values): the study's true
    population parameters perturbed a little, and standard-normal person effects."""
    from asem_bayes.registry import get_variant
    from asem_bayes.simulate import true_params

    v = get_variant("asem")
    true = true_params(study)
    n_d = study.sizes["dyad"]
    point: dict[str, np.ndarray] = {}
    for prm in v.params:
        x = float(true[prm.name])
        lo, hi = prm.bounds
        if lo == 0 and hi == 1:
            lg = math.log(x / (1 - x)) + rng.normal(0, 0.3)
            x = 1 / (1 + math.exp(-lg))
        elif lo == 0:
            x *= math.exp(rng.normal(0, 0.2))
        else:
            x += rng.normal(0, 0.2)
        point[prm.name] = np.asarray(x)
    for pp in v.person_params:
        point[f"{pp.name}_z"] = rng.standard_normal((n_d, 2))
    return point


def floor_args(point: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The floor's ``(P, Z)`` at a point of the model."""
    P = np.array([float(point[n]) for n in P_NAMES])
    Z = np.ascontiguousarray(np.stack([point[f"{n}_z"].reshape(-1) for n in PERSON]))
    return P, Z


def pymc_loglik(model):
    """PyMC's log density of the observed variables and its gradient with respect to the floor's
    parameters, in the schema's coordinates (value transforms removed): point -> (logp, {name: grad})."""
    import pytensor
    from pymc.model.transform.conditioning import remove_value_transforms

    um = remove_value_transforms(model)
    lp = um.logp(vars=um.observed_RVs)
    wrt = [*P_NAMES, *(f"{n}_z" for n in PERSON)]  # the event-model parameters do not enter it
    value = {v.name: v for v in um.value_vars}
    grads = pytensor.grad(lp, [value[n] for n in wrt])
    fn = um.compile_fn([lp, *grads], inputs=um.value_vars, on_unused_input="ignore")

    def f(point):
        out = fn({n: point[n] for n in value})
        return float(out[0]), dict(zip(wrt, out[1:], strict=True))

    return f


def check(study, floor: Floor, seed: int = 2) -> dict[str, float]:
    """Max relative differences: floor vs PyMC log-likelihood; floor gradient vs its own central
    finite differences (5-point stencil) and vs PyMC's gradient."""
    from asem_bayes.model import build_model

    model = build_model(study, "asem", trajectories=False, reparam=False)
    rng = np.random.default_rng(seed)
    point = random_point(study, rng)
    P, Z = floor_args(point)
    ll, prior = floor(P, Z)
    gP, gZ = floor.gP.copy(), floor.gZ.copy()
    pm_ll, pm_g = pymc_loglik(model)(point)
    out = {"loglik": ll, "loglik_pymc": pm_ll, "loglik_rel": abs(ll - pm_ll) / abs(pm_ll)}
    # vs PyMC's gradient (of the log-likelihood: the floor's minus its prior's -z)
    rel = 0.0
    for i, n in enumerate(P_NAMES):
        rel = max(rel, abs(gP[i] - pm_g[n]) / max(abs(pm_g[n]), 1e-3))
    for k, n in enumerate(PERSON):
        g_ll = gZ[k] + Z[k]
        ref = pm_g[f"{n}_z"].reshape(-1)
        rel = max(rel, float(np.max(np.abs(g_ll - ref) / np.maximum(np.abs(ref), 1e-3))))
    out["grad_vs_pymc_rel"] = rel

    def total(P_, Z_):
        a, b = floor(P_, Z_)
        return a + b

    def fd(x, i, f):
        h = 1e-3 * max(1.0, abs(x[i]))
        vals = []
        for s in (2, 1, -1, -2):
            y = x.copy()
            y[i] += s * h
            vals.append(f(y))
        return (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)

    rel = 0.0
    for i in range(len(P_NAMES)):  # every population parameter
        g = fd(P, i, lambda y: total(y, Z))
        rel = max(rel, abs(g - gP[i]) / max(abs(gP[i]), 1e-3))
    C = Z.shape[1]
    for k in range(8):  # three persons of each person-level parameter
        for j in rng.choice(C, 3, replace=False):
            flat = k * C + j

            def fz(y):
                return total(P, y.reshape(Z.shape))

            g = fd(Z.reshape(-1).copy(), flat, fz)
            rel = max(rel, abs(g - gZ[k, j]) / max(abs(gZ[k, j]), 1e-3))
    out["grad_vs_fd_rel"] = rel
    return out


def cpu_per_call(f, n: int, repeats: int = 3) -> float:
    """Median over ``repeats`` of CPU seconds per call of ``f()`` (``n`` calls each)."""
    f()
    times = []
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(n):
            f()
        times.append((time.process_time() - c0) / n)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dyads", type=int, default=100)
    ap.add_argument("--days", type=int, default=56)
    ap.add_argument("--calls", type=int, default=300, help="calls per timing repeat")
    ap.add_argument("--no-check", action="store_true", help="skip the checks against PyMC")
    args = ap.parse_args()
    from asem_bayes.compile_cache import logp_dlogp
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.model import CompiledModel

    study = ab.simulate("asem", args.dyads, args.days, seed=1)
    floor = Floor(prepare_inputs(study))
    if not args.no_check:
        c = check(study, floor)
        print(
            f"check: log-likelihood {c['loglik']:.10g} (PyMC {c['loglik_pymc']:.10g}), relative difference "
            f"{c['loglik_rel']:.1e}; gradient vs central differences of the floor: max relative difference "
            "(to max(|g|, 1e-3)) "
            f"{c['grad_vs_fd_rel']:.1e}; vs PyMC's gradient: {c['grad_vs_pymc_rel']:.1e}"
        )
    P, Z = floor_args(random_point(study, np.random.default_rng(0)))
    t_floor = cpu_per_call(lambda: floor(P, Z), args.calls)
    t0 = time.perf_counter()
    cm = CompiledModel(study, "asem", trajectories=False)
    wall = time.perf_counter() - t0
    fn = logp_dlogp(cm._compiled)  # the C callback nutpie calls while sampling
    x = np.random.default_rng(0).normal(0, 0.1, cm._compiled.n_dim)
    t_pkg = cpu_per_call(lambda: fn(x), args.calls)
    pdays = args.dyads * 2 * args.days
    print(
        f"asem {args.dyads} dyads x {args.days} days, CPU per log density + gradient (median of 3 x {args.calls}):\n"
        f"  floor (hand-written numba):  {t_floor * 1e6:7.0f} us  ({t_floor * 1e9 / pdays:.1f} ns per person-day)\n"
        f"  package (nutpie, compiled in {wall:.0f} s): {t_pkg * 1e6:7.0f} us  "
        f"({t_pkg * 1e9 / pdays:.1f} ns per person-day, {cm._compiled.n_dim} parameters)\n"
        f"  ratio package / floor: {t_pkg / t_floor:.2f}"
    )


if __name__ == "__main__":
    main()
