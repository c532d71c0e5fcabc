VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two workers: the tests mostly wait on servers, runs and subprocesses; each worker has its
# own PostgreSQL databases, S3 server, ports and homes. A module stays on one worker, so its
# module-scoped servers start once.
PYTEST := $(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile --durations=40
# Each profile's pass in its own temporary folder, so the two can run side by side.
BASETEMP = --basetemp=$${TMPDIR:-/tmp}/headwater-tests-$@

.PHONY: install run test test-embedded test-production lint bench bench-api bench-webhooks clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

run: install
	$(BIN)/headwater up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The whole suite on the embedded defaults and, side by side (the tests mostly wait, so two
# passes fit two cores), the integration and API tests on production's configuration: Dagster
# and the metadata store on PostgreSQL, the lake on S3. Each pass prints when it ends.
test: lint
	$(MAKE) --no-print-directory -j2 --output-sync=target test-embedded test-production

test-embedded: install
	$(PYTEST) $(BASETEMP)

test-production: install
	HEADWATER_TEST_PROFILE=production $(PYTEST) $(BASETEMP) tests/integration tests/api

bench: install
	$(BIN)/python -m benchmarks.sync

bench-api: install
	$(BIN)/python -m benchmarks.api

bench-webhooks: install
	$(BIN)/python -m benchmarks.webhooks

clean:
	rm -rf $(VENV) .headwater .mypy_cache .ruff_cache
