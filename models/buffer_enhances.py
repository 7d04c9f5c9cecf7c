"""``buffer_enhances``: as ``asem``, but buffering also counts as positive evidence."""

from asem_bayes.schema import B, Param, Variant

from ._common import ASEM_DYNAMICS, assemble, bias_rates, targeted_evidence

KAPPA = Param(
    "kappa", B(2.0, 2.0), (0, 1), 0.6, "positive evidence a buffered threat adds to the targeted model", "dynamics"
)


def evidence(xp, ev, p):
    """Safe buffering feeds the model of self, soft buffering the model of others."""
    pos_s, neg_s, pos_o, neg_o = targeted_evidence(xp, ev, p)
    return pos_s + p["kappa"] * ev.threat * ev.safe, neg_s, pos_o + p["kappa"] * ev.threat * ev.soft, neg_o


params, person_params = assemble((*ASEM_DYNAMICS, KAPPA))

VARIANT = Variant(
    name="buffer_enhances",
    description="as asem, and buffering also enhances the working models",
    params=params,
    person_params=person_params,
    evidence=evidence,
    log_rates=bias_rates,
)
