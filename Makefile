# Modelyard: `make run` starts the registry; `make test` sets up and passes the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/pip install -q --disable-pip-version-check -c requirements/constraints.txt

.PHONY: run test lint typecheck pytest bench bench-smoke bench-uc bench-artifacts clean

$(BIN)/modelyard: pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/modelyard
	$(PIP) -e '.[test]'
	touch $@

## Start the registry on http://127.0.0.1:8080 with SQLite and artifacts in ./modelyard-data
run: $(BIN)/modelyard
	$(BIN)/modelyard serve

## Lint, type-check and run the whole test suite (SQLite and, when reachable, PostgreSQL)
test: $(VENV)/.test-deps lint typecheck pytest

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

pytest: $(VENV)/.test-deps
	$(BIN)/pytest -p no:cacheprovider -n auto --dist loadfile --cov --cov-report=term

## Benchmark Modelyard side by side with the MLflow server
bench: $(VENV)/.test-deps
	$(BIN)/python bench/run.py --size small --engine both --out bench/RESULTS.md

## The benchmark at smoke size, both engines: CI runs it so that it keeps working
bench-smoke: $(VENV)/.test-deps
	$(BIN)/python bench/run.py --size smoke --engine both
	$(BIN)/python bench/run.py --size smoke --engine sqlite --rounds 2 --scenarios populate,move_alias
	$(BIN)/python bench/artifacts.py --size-mib 16
	$(BIN)/python bench/run.py --size smoke --engine both --auth
	$(BIN)/python bench/uc_reads.py --models 5 --duration 1
	$(BIN)/python bench/uc_reads.py --models 5 --duration 1 --auth

## Unity Catalog point reads (Modelyard only: MLflow has no UC API), wrk at concurrency 8:
## as the metastore admin, then as an ordinary user
bench-uc: $(VENV)/.test-deps
	$(BIN)/python bench/uc_reads.py --engine both
	$(BIN)/python bench/uc_reads.py --engine both --auth

## 1 GiB up and down through Modelyard's signed file URLs, against curl + nginx
bench-artifacts: $(VENV)/.test-deps
	$(BIN)/python bench/artifacts.py

clean:
	rm -rf $(VENV) modelyard-data test-artifacts
