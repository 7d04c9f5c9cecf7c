"""``uniform``: any positive situation updates both working models equally, no assimilation bias."""

from asem_bayes.schema import Variant

from ._common import BUFFER, THETA_NEG, THETA_POS, assemble, theta


def evidence(xp, ev, p):
    """Untargeted: confidence and dependence both count fully for self and others."""
    pos = ev.confidence + ev.dependence
    return pos, ev.threat * (1.0 - p["e_safe"] * ev.safe), pos, ev.threat * (1.0 - p["e_soft"] * ev.soft)


def log_rates(xp, s, o, p):
    """One positive and one negative rate shared by both models (psi = 0)."""
    return p["theta_pos"], p["theta_neg"], p["theta_pos"], p["theta_neg"]


params, person_params = assemble(
    (
        *theta("theta_pos", "either model after positive evidence", THETA_POS),
        *theta("theta_neg", "either model after negative evidence", THETA_NEG),
        *BUFFER,
    )
)

VARIANT = Variant(
    name="uniform",
    description="positive situations update self and others alike; no assimilation bias",
    params=params,
    person_params=person_params,
    evidence=evidence,
    log_rates=log_rates,
)
