#!/bin/sh
# Print the first Python >= 3.12 found (the Lambda runtime is python3.13).
for c in python3.13 python3.12 \
         $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 2>/dev/null | sort -r) \
         python3; do
  if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
    command -v "$c"
    exit 0
  fi
done
echo "no Python 3.12+ found: install python3.13 (or 3.12) and retry" >&2
exit 1
