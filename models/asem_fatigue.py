"""``asem_fatigue``: as ``asem``; partners tire of buffering, so their buffering wanes with load.

Fatigue acts in the event model (docs/model.md section 5): it is only identified when the events are
scored (``mode="joint"``).
"""

from asem_bayes.schema import Variant

from ._common import ASEM_DYNAMICS, FATIGUE, assemble, bias_rates, targeted_evidence

params, person_params = assemble((*ASEM_DYNAMICS, *FATIGUE))

VARIANT = Variant(
    name="asem_fatigue",
    description="as asem; buffering wanes as the partner tires (needs the joint mode)",
    params=params,
    person_params=person_params,
    evidence=targeted_evidence,
    log_rates=bias_rates,
    fatigue=True,
)
