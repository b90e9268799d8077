#!/usr/bin/env bash
# Runs once in the environment when the bundle is installed: lspfeedback with its daemon.
set -euo pipefail
if ! command -v lspfeedback >/dev/null 2>&1; then
    pip install --quiet 'lspfeedback[daemon]'
fi
