"""asem-bayes: Bayesian computational modelling of the Attachment Security Enhancement Model.

Simulate dyadic daily-diary studies from competing ASEM variants, fit them with PyMC, calibrate
with SBC and compare variants with PSIS-LOO.
"""

from asem_bayes.compare import compare as compare
from asem_bayes.registry import get_variant, list_variants, register
from asem_bayes.schema import Param, PersonParam, Prior, SchemaError, Variant
from asem_bayes.simulate import Design, from_long, simulate, to_long, true_params

__all__ = [
    "Design",
    "Param",
    "PersonParam",
    "Prior",
    "SchemaError",
    "Variant",
    "from_long",
    "get_variant",
    "list_variants",
    "register",
    "simulate",
    "to_long",
    "true_params",
]

__version__ = "0.1.0"
