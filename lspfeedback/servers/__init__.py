"""The registry of language servers: every module in this package that defines ``SPEC``.

Adding a server is adding a module with a `ServerSpec` subclass and a ``SPEC`` instance.
"""

from __future__ import annotations

import importlib
import pkgutil

from lspfeedback._exceptions import UnknownServer
from lspfeedback.servers.base import ServerContext, ServerSpec

__all__ = ["ServerContext", "ServerSpec", "available", "get"]


def _discover() -> dict[str, ServerSpec]:
    found: dict[str, ServerSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, ServerSpec):
            found[spec.name] = spec
    return dict(sorted(found.items()))


_REGISTRY = _discover()


def available() -> dict[str, ServerSpec]:
    """Every known server by name."""
    return dict(_REGISTRY)


def get(name: str) -> ServerSpec:
    """The server called ``name``. Raises `UnknownServer` (a `ValueError`) listing the known
    ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownServer(name, list(_REGISTRY)) from None
