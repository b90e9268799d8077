"""The registry of languages: every module in this package that defines ``LANGUAGE``.

Adding a language is adding a module with a `Language` subclass and a ``LANGUAGE`` instance,
plus its servers (each `ServerSpec` names the languages it checks).
"""

from __future__ import annotations

import importlib
import pkgutil

from lspfeedback.languages.base import Change, ImportGraphProvider, Language

__all__ = ["Change", "ImportGraphProvider", "Language", "available", "get", "of_path",
           "suffixes"]


def _discover() -> dict[str, Language]:
    found: dict[str, Language] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        language = getattr(module, "LANGUAGE", None)
        if isinstance(language, Language):
            found[language.name] = language
    return dict(sorted(found.items()))


_REGISTRY = _discover()


def available() -> dict[str, Language]:
    """Every known language by name."""
    return dict(_REGISTRY)


def get(name: str) -> Language:
    """The language called ``name``; `KeyError` naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown language {name!r}; known: {', '.join(_REGISTRY)}") from None


def of_path(rel: str) -> Language | None:
    """The language of the file at ``rel`` (by suffix), or None: no server checks it."""
    for language in _REGISTRY.values():
        if language.handles(rel):
            return language
    return None


def suffixes() -> tuple[str, ...]:
    """Every suffix some language claims."""
    return tuple(s for language in _REGISTRY.values() for s in language.suffixes)
