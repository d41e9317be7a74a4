# proctor: the two commands a newcomer needs are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck bench clean install-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)  ## install, then run the demo: proctor on the embedded defaults with a miner and two validators
	$(BIN)/proctor demo

test: $(STAMP)  ## install and run the whole test suite (CI=true makes PostgreSQL/Redis tests mandatory)
	$(BIN)/python -m pytest -q

install-check:  ## a plain `pip install .` (no extras) in a fresh venv gives a working proctor
	scripts/check_plain_install.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .proctor .proctor-demo .pytest_cache .mypy_cache .ruff_cache
