# edgeprune: `make deploy TARGET=tflite` runs the whole chain; `make test` runs the tests.
SHELL := /bin/bash
TARGET ?= tflite
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/src
PYTEST_ARGS ?=

.PHONY: install test test-slow test-all lint format bench bench-all bench-baseline deploy clean coverage

install:
	@scripts/ensure_venv.sh

# pytest exits 5 when nothing was collected: treat that as success, not as a failure
define run_pytest
	@$(PY) -m pytest $(1) $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc
endef

test: install
	$(call run_pytest,-m "not slow" -q)

test-slow: install
	$(call run_pytest,-m slow -q)

test-all: install
	$(call run_pytest,-q)

lint: install
	$(PY) -m ruff check $(wildcard src tests benchmarks examples)
	$(PY) -m ruff format --check $(wildcard src tests benchmarks examples)

format: install
	$(PY) -m ruff format $(wildcard src tests benchmarks examples)
	$(PY) -m ruff check --fix $(wildcard src tests benchmarks examples)

bench: install
	$(PY) benchmarks/latency/suite.py --check

bench-all: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
	$(PY) benchmarks/latency/suite.py --check

bench-baseline: install
	$(PY) benchmarks/latency/suite.py --update-baseline

# zoo coverage (hours): one niced process per model, resumable (build/coverage/), writes docs/coverage.md
coverage: install
	nice -n 10 $(PY) benchmarks/zoo_coverage.py --all

# FORCE=1 replaces the results of an earlier deploy (edgeprune's --force); a refusal says so
deploy: install
	EDGEPRUNE_MAKE_FORCE="make deploy TARGET=$(TARGET) FORCE=1" $(PY) -m edgeprune deploy --target $(TARGET)$(if $(FORCE), --force)

clean:
	rm -rf build .pytest_cache .ruff_cache
