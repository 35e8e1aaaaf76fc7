# Conductor. Quick start: `make run`, then `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-production lint format clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Conductor needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)
	$(BIN)/conductor migrate --verbosity 0

run: install
	$(BIN)/conductor serve --host 127.0.0.1 --port 14355

# Embedded mode: no services needed. The production-mode tests are skipped with a reason
# unless DATABASE_URL and REDIS_URL are set (see `make test-production` and .ci/run).
test: $(STAMP)
	$(BIN)/pytest

test-production: $(STAMP)
	$(BIN)/pytest -m production

lint: $(STAMP)
	@! git grep -nE '^(<<<<<<<|>>>>>>>) ' -- . ':!static/vendor' || { echo 'merge conflict markers above'; exit 1; }
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
