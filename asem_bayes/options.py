"""The names a user chooses from, defined once as typed literals (the CLI derives its choices here).

Each ``Literal`` type annotates the functions that take the choice; the tuple beside it lists its
values in order (``typing.get_args``), for validation messages and ``argparse`` choices.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "Mode",
    "MODES",
    "Sampler",
    "SAMPLERS",
    "LooUnit",
    "LOO_UNITS",
    "MissingEvents",
    "MISSING_EVENT_POLICIES",
    "FitBackend",
    "FIT_BACKENDS",
    "Residual",
    "RESIDUALS",
    "PartnerConditioning",
    "PARTNER_CONDITIONINGS",
    "ApimKind",
    "APIM_KINDS",
    "CorrelatedParam",
    "CORRELATED_PARAMS",
]

Mode = Literal["conditional", "joint"]
"""Condition on the observed events, or also score them with the event model."""
MODES: tuple[Mode, ...] = get_args(Mode)

Sampler = Literal["nutpie", "pymc", "numpyro", "blackjax"]
"""NUTS implementation."""
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)

LooUnit = Literal["person-day", "person-week", "person", "dyad"]
"""Leave-out unit of the stored log-likelihood (PSIS-LOO and K-fold)."""
LOO_UNITS: tuple[LooUnit, ...] = get_args(LooUnit)

MissingEvents = Literal["error", "absent", "person_rate"]
"""What a missing event report becomes (docs/model.md section 10)."""
MISSING_EVENT_POLICIES: tuple[MissingEvents, ...] = get_args(MissingEvents)

FitBackend = Literal["nutpie", "jax-vmap"]
"""How the many fits of SBC and model recovery run: one nutpie fit at a time, or JAX batches."""
FIT_BACKENDS: tuple[FitBackend, ...] = get_args(FitBackend)

Residual = Literal["ar1", "partner"]
"""Extension of the daily ratings' residuals (docs/model.md section 17): carry-over (an AR(1)
residual of each person's ratings) or the partners' same-day correlation."""
RESIDUALS: tuple[Residual, ...] = get_args(Residual)

PartnerConditioning = Literal["none", "partner"]
"""How a person-level leave-out unit's daily ratings are scored in a comparison (docs/model.md
section 11, "The APIM baselines and a fair comparison with them"): ``"none"`` by their density marginal over the
partner's same-day rating, ``"partner"`` by their density given it (where the partner rated that
day). A dyad unit holds both partners, so it is scored by their joint density under either."""
PARTNER_CONDITIONINGS: tuple[PartnerConditioning, ...] = get_args(PartnerConditioning)

ApimKind = Literal["contemporaneous", "lagged"]
"""The APIM baseline (:mod:`asem_bayes.apim`): same-day actor and partner effects only, or also
stability (the person's own rating the day before) and influence (the partner's rating the day
before)."""
APIM_KINDS: tuple[ApimKind, ...] = get_args(ApimKind)

CorrelatedParam = Literal[
    "s0", "o0", "theta_pos", "theta_neg", "theta_pos_s", "theta_neg_s", "theta_pos_o", "theta_neg_o", "c_A", "c_V"
]
"""A person-level parameter whose standardised effect may be correlated with others' across
persons (``person_correlation``, docs/model.md section 18): the person-level parameters of the
registered variants (each variant has some of them: ``uniform`` shares ``theta_pos``,
``theta_neg`` between the working models, ``stable`` has no learning rates)."""
CORRELATED_PARAMS: tuple[CorrelatedParam, ...] = get_args(CorrelatedParam)
