#!/usr/bin/env bash
# The peer engine's own venv (matching-engine 0.1.1 needs Python 3.12): .venv-peer/, git-ignored.
# Prints the venv's python on stdout. PEER_PYTHON picks the interpreter (default: pyenv's 3.12,
# then python3.12 on PATH). Add extras with PEER_EXTRAS (e.g. "[gateway]").
set -euo pipefail
cd "$(dirname "$0")/.."
spec="matching-engine${PEER_EXTRAS:-}==0.1.1"
if [ ! -x .venv-peer/bin/python ]; then
  py=""
  for cand in ${PEER_PYTHON:-} "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
      "$(command -v python3.12 || true)"; do
    if [ -n "$cand" ] && "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null
    then py=$cand; break; fi
  done
  [ -n "$py" ] || { echo "peer: Python 3.12 not found (set PEER_PYTHON)" >&2; exit 1; }
  "$py" -m venv .venv-peer >&2
fi
stamp=".venv-peer/.installed-$(echo "$spec" | tr -c 'a-zA-Z0-9.=' '_')"
if [ ! -f "$stamp" ]; then
  .venv-peer/bin/pip install -q --disable-pip-version-check "$spec" >&2
  touch "$stamp"
fi
echo "$PWD/.venv-peer/bin/python"
