"""The public API is exactly what lspfeedback/__init__.py exports, in a sorted __all__."""

import pkgutil

import lspfeedback


def test_all_is_sorted_and_complete() -> None:
    assert lspfeedback.__all__ == sorted(lspfeedback.__all__)
    public = {name for name in dir(lspfeedback) if not name.startswith("_")}
    submodules = {m.name for m in pkgutil.iter_modules(lspfeedback.__path__)}
    assert public - submodules == set(lspfeedback.__all__) - {"__version__"}


def test_exported_members_say_where_they_live() -> None:
    for name in lspfeedback.__all__:
        member = getattr(lspfeedback, name)
        if callable(member):
            assert member.__module__.startswith("lspfeedback"), name
            assert member.__doc__, f"{name} has no docstring"
