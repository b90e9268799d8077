"""Commands that need an optional extra say which one, in one line, instead of a traceback."""

from __future__ import annotations

import sys


def missing_extra(exc: ModuleNotFoundError, command: str, extra: str) -> int:
    """Tell the user to install ``extra`` for ``command``; returns the exit status (2).

    Re-raises ``exc`` when the missing module is lspfeedback's own (a bug, not an extra).
    """
    if (exc.name or "").partition(".")[0] == "lspfeedback":
        raise exc
    print(f"lspfeedback: error: {command} needs the {extra} extra ({exc}); install it with: "
          f"pip install 'lspfeedback[{extra}]'", file=sys.stderr)
    return 2
