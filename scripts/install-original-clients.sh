#!/usr/bin/env bash
# Install the original dpxdt 0.1.5 client tools (Python 2.7, from PyPI) into DIR (default
# tests/tools/dpxdt-0.1.5) for the acceptance test that runs them against this server.
# Python 2.7 comes from pyenv on this kind of machine (or any python2.7 on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-tests/tools/dpxdt-0.1.5}"
python2="$(scripts/python2.sh)"
rm -rf "$target"
"$python2" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --target "$target" -r requirements/original-clients.txt
