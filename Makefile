VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
# The bytecode of the packages pyproject.toml installs, written by `install`: with
# PYTHONDONTWRITEBYTECODE set (CI sets it) nothing else writes it, and every process (each
# run worker, CLI call, test server) would compile them again, ~0.05 s of CPU each.
PACKAGES := api cli connector_assets resources sensors
BYTECODE := $(VENV)/.bytecode
# Two workers: the tests mostly wait on servers, runs and subprocesses; each worker has its
# own PostgreSQL databases, S3 server, ports and homes. A module stays on one worker, so its
# module-scoped servers start once.
PYTEST := $(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile --durations=40
# Each profile's pass in its own temporary folder, so the two can run side by side.
BASETEMP = --basetemp=$${TMPDIR:-/tmp}/headwater-tests-$@

.PHONY: install run test test-embedded test-production lint bench bench-api bench-webhooks clean

install: $(STAMP) $(BYTECODE)

$(STAMP): pyproject.toml scripts/bootstrap.sh connector_assets/_python_scan.c connector_assets/_assembly.c
	bash scripts/bootstrap.sh
	touch $(STAMP)

# compileall rewrites only the modules changed since it last ran.
$(BYTECODE): $(STAMP) $(shell find $(PACKAGES) -name '*.py')
	$(BIN)/python -m compileall -q $(PACKAGES)
	touch $(BYTECODE)

run: install
	$(BIN)/headwater up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The whole suite on the embedded defaults and, side by side (the tests mostly wait, so two
# passes fit two cores), the integration suite and the API's end-to-end flows on production's
# configuration: Dagster and the metadata store on PostgreSQL, the lake on S3. Each pass
# prints when it ends. `make test-production PRODUCTION_TESTS="tests/integration tests/api"`
# runs every API test there too.
PRODUCTION_TESTS := tests/integration tests/api/test_flow.py

test: lint
	$(MAKE) --no-print-directory -j2 --output-sync=target test-embedded test-production

test-embedded: install
	$(PYTEST) $(BASETEMP)

test-production: install
	HEADWATER_TEST_PROFILE=production $(PYTEST) $(BASETEMP) $(PRODUCTION_TESTS)

bench: install
	$(BIN)/python -m benchmarks.sync

# Several API workers share their rate limits through Redis (HEADWATER_REDIS_URL), as a
# deployment with more than one worker should; BENCH_API_ARGS= counts them in the store.
BENCH_API_ARGS := --redis-url redis://127.0.0.1:6379/14

bench-api: install
	$(BIN)/python -m benchmarks.api $(BENCH_API_ARGS)

bench-webhooks: install
	$(BIN)/python -m benchmarks.webhooks

clean:
	rm -rf $(VENV) .headwater .mypy_cache .ruff_cache
