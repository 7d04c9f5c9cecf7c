"""``asem``: the Attachment Security Enhancement Model as specified (docs/model.md section 3)."""

from asem_bayes.schema import Variant

from ._common import ASEM_DYNAMICS, assemble, bias_rates, targeted_evidence

params, person_params = assemble(ASEM_DYNAMICS)

VARIANT = Variant(
    name="asem",
    description="targeted pathways with ripple; buffering protects only; orientation-specific assimilation biases",
    params=params,
    person_params=person_params,
    evidence=targeted_evidence,
    log_rates=bias_rates,
)
