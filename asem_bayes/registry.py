"""Registry of ASEM variants (in the spirit of HSSM's model-config registry)."""

from __future__ import annotations

import importlib

from asem_bayes.schema import Variant

__all__ = ["register", "get_variant", "list_variants", "UnknownVariantError", "DuplicateVariantError"]


class UnknownVariantError(KeyError):
    """No variant is registered under that name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class DuplicateVariantError(ValueError):
    """A variant name is registered twice."""


_REGISTRY: dict[str, Variant] = {}
_LOADED = False


def register(variant: Variant, *, replace: bool = False) -> Variant:
    """Add a variant to the registry.

    Parameters
    ----------
    variant : Variant
        The variant to register.
    replace : bool
        Allow replacing an existing variant of the same name (default: refuse).
    """
    if not isinstance(variant, Variant):
        raise TypeError(f"expected a Variant, got {type(variant).__name__}")
    if variant.name in _REGISTRY and not replace:
        raise DuplicateVariantError(f"a variant named {variant.name!r} is already registered")
    _REGISTRY[variant.name] = variant
    return variant


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from models import VARIANT_MODULES

    for mod in VARIANT_MODULES:
        register(importlib.import_module(f"models.{mod}").VARIANT)


def get_variant(name: str | Variant) -> Variant:
    """Look a variant up by name (a :class:`Variant` passes through)."""
    if isinstance(name, Variant):
        return name
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownVariantError(f"unknown variant {name!r}; registered variants: {', '.join(_REGISTRY)}") from None


def list_variants() -> list[str]:
    """Names of the registered variants, in registration order."""
    _load_builtin()
    return list(_REGISTRY)
