#!/usr/bin/env bash
# A plain `pip install .` (no extras) must give a working `proctor`: the CLI, the miner commands and a
# server that answers /health. Run by CI before the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip
"$work/venv/bin/pip" install --quiet .
cd "$work"
bin="$work/venv/bin/proctor"
"$bin" --help >/dev/null
"$bin" miner --help >/dev/null
"$bin" validator --help >/dev/null
port="$("$work/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
PROCTOR_DATA_DIR="$work/data" "$bin" serve --port "$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    if "$work/venv/bin/python" -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$port/health').status_code != 200)" 2>/dev/null; then
        # The dashboard's templates and static files are package data: a page and its stylesheet.
        for path in / /dashboard/static/dashboard.css; do
            "$work/venv/bin/python" -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$port$path').status_code != 200)" \
                || { cat "$work/serve.log"; echo "plain install: $path did not answer 200" >&2; exit 1; }
        done
        echo "plain install: proctor --help, miner, validator, serve /health and the dashboard all work"
        exit 0
    fi
    sleep 0.2
done
cat "$work/serve.log"
echo "plain install: proctor serve did not answer /health" >&2
exit 1
