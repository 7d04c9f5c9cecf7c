"""Registry of ASEM variants (in the spirit of HSSM's model-config registry).

The built-in variants (:data:`asem_bayes.models.VARIANT_MODULES`) are imported on first use. That first use
is safe from many threads at once (Dask worker threads, a user's thread pool): one thread
imports every variant under a lock while the others wait, and the registry counts as loaded
only once all of them are registered. Each process loads its own copy.
"""

from __future__ import annotations

import importlib
import threading

from asem_bayes.schema import Variant

__all__ = ["register", "get_variant", "list_variants", "UnknownVariantError", "DuplicateVariantError"]


class UnknownVariantError(KeyError):
    """No variant is registered under that name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class DuplicateVariantError(ValueError):
    """A variant name is registered twice."""


_REGISTRY: dict[str, Variant] = {}
_LOADED = False  # set only after every built-in variant is registered
_LOCK = threading.RLock()  # guards _REGISTRY and _LOADED; re-entrant for register() inside loading
_LOADING_THREAD: int | None = None


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
    with _LOCK:
        if variant.name in _REGISTRY and not replace:
            raise DuplicateVariantError(f"a variant named {variant.name!r} is already registered")
        _REGISTRY[variant.name] = variant
    return variant


def _load_builtin() -> None:
    """Register the built-in variants once per process, completely before marking them loaded.

    Double-checked: the fast path reads the flag without the lock; a thread that finds it unset
    takes the lock, checks again, imports every variant module and registers them, and only then
    sets the flag, so no thread can see a half-filled registry. An import error leaves the
    registry unloaded (nothing half-registered) and the next call tries again.
    """
    global _LOADED, _LOADING_THREAD
    if _LOADED:
        return
    with _LOCK:
        # _LOADING_THREAD: a variant module that looks a variant up while it is being imported
        # re-enters here in the same thread; it sees what is registered so far.
        if _LOADED or _LOADING_THREAD == threading.get_ident():
            return
        _LOADING_THREAD = threading.get_ident()
        try:
            from asem_bayes.models import VARIANT_MODULES

            variants = [importlib.import_module(f"asem_bayes.models.{mod}").VARIANT for mod in VARIANT_MODULES]
            clash = [v.name for v in variants if v.name in _REGISTRY]
            if clash:  # all or nothing: no half-registered built-ins
                raise DuplicateVariantError(f"a variant named {clash[0]!r} is already registered")
            for v in variants:
                register(v)
            _LOADED = True
        finally:
            _LOADING_THREAD = None


def get_variant(name: str | Variant) -> Variant:
    """Look a variant up by name (a :class:`Variant` passes through)."""
    if isinstance(name, Variant):
        return name
    _load_builtin()
    with _LOCK:
        try:
            return _REGISTRY[name]
        except KeyError:
            known = ", ".join(_REGISTRY)
    raise UnknownVariantError(f"unknown variant {name!r}; registered variants: {known}")


def list_variants() -> list[str]:
    """Names of the registered variants, in registration order."""
    _load_builtin()
    with _LOCK:
        return list(_REGISTRY)
