# Sourced by the scripts after scripts/setup: puts the project's Python
# virtual environment (made by scripts/setup) first on PATH, so `python3`
# has pyzmq, pytest and pyyaml on any Debian, whether or not its system
# Python accepts pip installs (PEP 668).
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export PATH="$ROOT/.venv/bin:$PATH"
export PYTHONPATH="$ROOT/clients/python${PYTHONPATH:+:$PYTHONPATH}"
