# warmnet: `make demo` runs the whole system on embedded defaults; `make test` runs
# lint, types and the full test suite against real mosquitto and InfluxDB.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPEED  ?=
SCENARIO ?=

.PHONY: install demo test lint typecheck pytest clean

install: $(STAMP)

# Re-install when the project definition changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# make demo [SCENARIO=outlet-thermal-runaway] [SPEED=60]  (warmnet simulate --list)
demo: install
	$(BIN)/warmnet demo $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(SPEED),--speed $(SPEED))

test: install
	bash scripts/ensure-services.sh
	$(MAKE) --no-print-directory lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy warmnet alertstore broker simulators gateway collector api dashboards launcher testbed

pytest: install
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Ingest benchmark: raw MQTT ceiling vs the collector, API latency, collector memory,
# two sharded collectors (starts its own mosquitto and influxd; ~2 min). bench/README.md
.PHONY: bench-ingest
bench-ingest: install
	$(BIN)/python -m bench.ingest
