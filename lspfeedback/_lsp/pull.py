"""Pulling one document's diagnostics (``textDocument/diagnostic``), with bounded retries.

One pull per document and version: a pull sent after the ``didChange`` describes the version
sent, so a ``workspace/diagnostic/refresh`` meanwhile (pyright sends one after every analysis)
is no reason to ask again (docs/servers.md). ``ContentModified`` and ``ServerCancelled`` are
the two answers LSP 3.17 says to ask again after: at most `MAX_PULL_ATTEMPTS` times, backed
off, never past the deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lspfeedback._deadline import Deadline
from lspfeedback._exceptions import ServerError
from lspfeedback._lsp.client import LspClient

RETRY_CODES = {
    types.LSPErrorCodes.ContentModified.value: "ContentModified",
    types.LSPErrorCodes.ServerCancelled.value: "ServerCancelled",
}
MAX_PULL_ATTEMPTS = 8
"""Pulls of one document in one call at most: a server that answers ContentModified every
time is not going to answer this call."""
RETRY_BACKOFF = 0.01
"""Seconds before the second pull; doubled for each further one."""


async def pull(client: LspClient, uri: str, rel: str, identifier: str | None,
               deadline: Deadline) -> list[types.Diagnostic]:
    """The diagnostics ``client``'s server gives for ``uri`` now. Raises `RequestTimeout`,
    `ServerCrashed`, or `ServerError` (an error answer, or the retries ran out: it says how
    many pulls got which answer)."""
    params = types.DocumentDiagnosticParams(
        text_document=types.TextDocumentIdentifier(uri=uri), identifier=identifier)
    retried: list[str] = []
    while True:
        try:
            report: Any = await client.request(
                types.TEXT_DOCUMENT_DIAGNOSTIC, params, deadline.remaining())
        except JsonRpcException as exc:
            if exc.code not in RETRY_CODES:
                raise ServerError(client.name, f"textDocument/diagnostic failed: {exc}") from exc
            retried.append(RETRY_CODES[exc.code])
        else:
            return _items(client, report)
        if len(retried) >= MAX_PULL_ATTEMPTS or deadline.expired:
            raise ServerError(client.name, (
                f"textDocument/diagnostic of {rel}: {len(retried)} pulls in "
                f"{deadline.elapsed():.2f} s were each answered with "
                f"{' / '.join(sorted(set(retried)))}; gave up (it is not settling)"))
        # A retry's back-off, bounded by the deadline. It decides nothing about freshness:
        # only the answer to the pull that follows counts.
        await asyncio.sleep(min(RETRY_BACKOFF * 2 ** (len(retried) - 1), deadline.remaining()))


def _items(client: LspClient, report: Any) -> list[types.Diagnostic]:
    if isinstance(report, types.FullDocumentDiagnosticReport
                  | types.RelatedFullDocumentDiagnosticReport):
        return list(report.items)
    if isinstance(report, dict) and isinstance(report.get("items"), list):
        return [client.converter.structure(i, types.Diagnostic) for i in report["items"]]
    raise ServerError(client.name,
                      f"unexpected diagnostic report kind: {type(report).__name__}")
