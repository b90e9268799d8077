"""basedpyright: a pyright fork with extra rules. Same protocol behaviour as pyright."""

from __future__ import annotations

from lspfeedback.servers.pyright import Pyright


class BasedPyright(Pyright):
    """The basedpyright language server: pyright's settings and protocol."""

    package: str = "basedpyright"
    script: str = "langserver.index.js"
    wrapper: str = "basedpyright-langserver"
    analysis_section: str = "basedpyright.analysis"


SPEC = BasedPyright(
    name="basedpyright",
    summary="basedpyright, a pyright fork (its own defaults: stricter than pyright's)",
    checks=("types", "syntax"),
    install_hint="install it with: pip install basedpyright",
    dynamic_pull_registration=True,
)
