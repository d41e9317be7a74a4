# proctor: the two commands a newcomer needs are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck bench clean install-check browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)  ## install, then run the demo: proctor on the embedded defaults with a miner and two validators
	$(BIN)/proctor demo

# The dashboard's browser tests drive Debian's chromium (Playwright's own browser download is not
# reachable here). Installed when missing; outside CI a failed install only skips those tests.
browser:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
		|| { [ "$$CI" != "true" ] && echo "chromium is not installed: the dashboard's browser tests will be skipped"; }

test: $(STAMP) browser  ## install and run the whole test suite (CI=true makes PostgreSQL/Redis/Chromium tests mandatory)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=25  # two workers: most tests wait on servers and databases; the slowest 25 listed

install-check:  ## a plain `pip install .` (no extras) in a fresh venv gives a working proctor
	scripts/check_plain_install.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .proctor .proctor-demo .pytest_cache .mypy_cache .ruff_cache
