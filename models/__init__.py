"""The competing ASEM variants, one module each, registered in :mod:`asem_bayes.registry`."""

VARIANT_MODULES: tuple[str, ...] = ("stable", "uniform", "asem", "buffer_enhances", "asem_fatigue")
