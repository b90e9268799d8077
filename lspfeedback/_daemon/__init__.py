"""The verify daemon: one warm `AsyncVerifier` per workspace, shared by many agents over HTTP.

    lspfeedback serve --root R              # starts it; writes R/.lspfeedback/daemon.json

    from lspfeedback import Client
    with Client(root="R") as client:         # finds the daemon from the root's state file
        report = client.verify({"pkg/mod.py": new_text})

Modules: `app` (the FastAPI app and its routes), `service` (the warm engine and the
sessions the routes share, answers serialised once), `progressive` (the preview-then-final
stream, speculative), `models` (request and response shapes),
`security` (token, Host/Origin and body-size checks), `state` (the state file, the local
socket's place), `metrics` (Prometheus text), `server` (binding TCP and the local Unix socket,
running uvicorn), `client` (`Client`, `AsyncClient`), `transport` (their httpx transports for
the local socket), `wire` (the command line's socket-level client), `background` (starting a
daemon for ``check``), `commands` (``serve``, ``status``, ``stop``). Only `app`, `models` and
`server` import FastAPI, uvicorn, starlette or pydantic, which come with the ``daemon`` extra
(``pip install 'lspfeedback[daemon]'``); the others need only the core dependencies: a
client never pays for the server's imports.
"""
