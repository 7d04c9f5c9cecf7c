"""``stable``: working models are traits; situations move only same-day state insecurity."""

from asem_bayes.schema import Variant

from ._common import assemble

params, person_params = assemble()

VARIANT = Variant(
    name="stable",
    description="working models never change; buffering acts on the day only",
    params=params,
    person_params=person_params,
    evidence=None,
    log_rates=None,
)
