#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: the Debian packages
# (MariaDB server/client/backup; Redis; Chromium for browser tests, with CJK fonts so
# Chinese names render; VictoriaMetrics as the InfluxDB-compatible metrics store; acl, so
# the local servers' unprivileged OS users can be let through a private checkout path)
# and the Python packages into ./.venv.
# Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(mariadb-server mariadb-client mariadb-backup redis-server acl chromium fonts-noto-cjk
      victoria-metrics)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "==> pip install -e .[dev] (a few minutes the first time)"
  # The machine's pip config may list local mirror folders that do not exist; their
  # warnings are noise, so the log is shown only when pip fails.
  if ! .venv/bin/pip install -q -e ".[dev]" >.venv/pip.log 2>&1; then
    grep -v "is ignored: it is neither" .venv/pip.log; exit 1
  fi
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  rm -f .venv/.installed-*; touch "$stamp"
fi
echo "==> setup done (.venv ready)"
