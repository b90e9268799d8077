"""Adapters put lspfeedback behind other protocols and frameworks.

They are thin: each one translates its protocol's requests into calls on one warm
`lspfeedback.AsyncVerifier` and the library's reports (``to_dict()``) back into its replies.
``adapters.mcp_server`` is a Model Context Protocol server.
"""
