#!/usr/bin/env bash
# Print the path of a Python 2.7 interpreter: python2.7 on PATH (not pyenv's shim, which only
# works when a 2.7 version is selected), else the newest pyenv 2.7.
set -euo pipefail
for candidate in $(command -v -a python2.7 2>/dev/null) "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7; do
  if [[ -x $candidate ]] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
    echo "$candidate"
    exit 0
  fi
done
echo "no Python 2.7 found (needed to run the original dpxdt client tools): install it with pyenv (pyenv install 2.7.18)" >&2
exit 1
