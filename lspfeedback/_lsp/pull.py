"""Pulling one document's diagnostics (``textDocument/diagnostic``), with bounded retries.

One pull per document and version: a pull sent after the ``didChange`` describes the version
sent, so a ``workspace/diagnostic/refresh`` meanwhile (pyright sends one after every analysis)
is no reason to ask again (docs/servers.md). ``ContentModified`` and ``ServerCancelled`` are
the two answers LSP 3.17 says to ask again after: at most `MAX_PULL_ATTEMPTS` times, backed
off, never past the deadline.

A pull may name the result it last got (``previousResultId``): a server that finds its
diagnostics unchanged answers ``unchanged`` instead of sending them again (ty does for any
file whose diagnostics are the same, pyright for a file it did not re-analyse; ruff and
pyrefly send no result ids). The answer is to the pull, so it describes the version the pull
was sent after, like a full one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lspfeedback._deadline import Deadline
from lspfeedback._exceptions import ServerError
from lspfeedback._lsp.client import LspClient
from lspfeedback._lsp.report import DiagnosticReport, structure_report

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
               deadline: Deadline, *, previous: DiagnosticReport | None = None,
               on_send: Callable[[], None] | None = None) -> DiagnosticReport:
    """The diagnostics ``client``'s server gives for ``uri`` now: a full report, or
    ``unchanged`` when ``previous`` (the last report of this document from this server
    process) has a result id, named as ``previousResultId``. A full report whose items are
    those of ``previous`` reuses them. ``on_send`` is called for every pull sent, retries
    included. Raises `RequestTimeout`, `ServerCrashed`, or `ServerError` (an
    error answer, or the retries ran out: it says how many pulls got which answer)."""
    previous_result_id = previous.result_id if previous is not None else None
    params = types.DocumentDiagnosticParams(
        text_document=types.TextDocumentIdentifier(uri=uri), identifier=identifier,
        previous_result_id=previous_result_id)
    converter = client.converter

    def structure(raw: Any) -> DiagnosticReport:
        return structure_report(raw, converter, previous)

    retried: list[str] = []
    while True:
        if on_send is not None:
            on_send()
        try:
            report: DiagnosticReport = await client.request(
                types.TEXT_DOCUMENT_DIAGNOSTIC, params, deadline.remaining(), structure=structure)
        except JsonRpcException as exc:
            if exc.code not in RETRY_CODES:
                raise ServerError(client.name, f"textDocument/diagnostic failed: {exc}") from exc
            retried.append(RETRY_CODES[exc.code])
        else:
            if report.kind == "unchanged" and previous_result_id is None:
                raise ServerError(client.name, (
                    f"textDocument/diagnostic of {rel} was answered 'unchanged' although no "
                    "previous result was named"))
            return report
        if len(retried) >= MAX_PULL_ATTEMPTS or deadline.expired:
            raise ServerError(client.name, (
                f"textDocument/diagnostic of {rel}: {len(retried)} pulls in "
                f"{deadline.elapsed():.2f} s were each answered with "
                f"{' / '.join(sorted(set(retried)))}; gave up (it is not settling)"))
        # A retry's back-off, bounded by the deadline. It decides nothing about freshness:
        # only the answer to the pull that follows counts.
        await asyncio.sleep(min(RETRY_BACKOFF * 2 ** (len(retried) - 1), deadline.remaining()))
