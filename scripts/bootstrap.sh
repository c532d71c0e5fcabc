#!/usr/bin/env bash
# Installs everything Headwater needs on a fresh Debian machine: system packages when they
# are missing, then the Python virtualenv with the pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
need=()
command -v git >/dev/null || need+=(git)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
# The broker of the Celery executor's tests (started with `rabbitmq-server -detached`).
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
# The ssh server of the git connector's egress tests (each test starts its own sshd).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
# The C extensions connector_assets/_python_scan.c and _assembly.c: a compiler and the
# interpreter's headers.
command -v gcc >/dev/null || need+=(gcc)
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$include/Python.h" ] || need+=(python3-dev)
if ((${#need[@]})); then
  echo "Installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# uv resolves and installs the same pinned set as pip, in seconds rather than minutes. It
# compiles the bytecode up front as pip does: where PYTHONDONTWRITEBYTECODE is set (CI sets
# it) nothing writes it later, and every process (each run worker, CLI call, test server)
# would compile Dagster, FastAPI and the rest again, ~1 s of CPU each.
.venv/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e '.[dev]'

# Azurite, the Azure Storage emulator of the lake tests (they skip without it), kept outside
# the checkout so that fresh clones on this machine share it.
azurite=3.37.0
tools="${XDG_CACHE_HOME:-$HOME/.cache}/headwater/azurite"
if command -v npm >/dev/null && ! grep -qs "\"version\": \"$azurite\"" "$tools/node_modules/azurite/package.json"; then
  npm install --prefix "$tools" --save-exact --no-audit --no-fund --loglevel=error "azurite@$azurite"
fi
