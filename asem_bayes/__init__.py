"""asem-bayes: Bayesian computational modelling of the Attachment Security Enhancement Model.

Simulate dyadic daily-diary studies from competing ASEM variants (:func:`simulate`), read real
diaries (:func:`load_diary`), fit a variant with :class:`ASEMModel` (or :func:`fit`), read the
result with :func:`report` and compare variants with :func:`compare`.
"""

from importlib import import_module
from typing import Any

from asem_bayes.compare import compare as compare
from asem_bayes.registry import get_variant, list_variants, register
from asem_bayes.schema import Param, PersonParam, Prior, SchemaError, Variant
from asem_bayes.simulate import Design, simulate, true_params
from asem_bayes.study import from_long, to_long

# Imported on first use: they pull in PyMC, which takes seconds to import.
_LAZY = {
    "ASEMModel": "asem_bayes.asem_model",
    "SamplerConfig": "asem_bayes.asem_model",
    "study_hash": "asem_bayes.asem_model",
    "fit": "asem_bayes.model",
    "default_lengths": "asem_bayes.model",
    "report": "asem_bayes.diagnostics",
    "load_diary": "asem_bayes.data",
}

__all__ = [
    "ASEMModel",
    "Design",
    "Param",
    "PersonParam",
    "Prior",
    "SamplerConfig",
    "SchemaError",
    "Variant",
    "compare",
    "default_lengths",
    "fit",
    "from_long",
    "get_variant",
    "list_variants",
    "load_diary",
    "register",
    "report",
    "simulate",
    "study_hash",
    "to_long",
    "true_params",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asem_bayes' has no attribute {name!r}")
