VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two workers: the tests mostly wait on servers, runs and subprocesses; each worker has its
# own PostgreSQL databases, S3 server, ports and homes. A module stays on one worker, so its
# module-scoped servers start once.
PYTEST := $(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile --durations=40

.PHONY: install run test lint bench bench-api bench-webhooks clean

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

# The whole suite on the embedded defaults, then the integration and API tests again on
# production's configuration: Dagster and the metadata store on PostgreSQL, the lake on S3.
test: lint
	$(PYTEST)
	HEADWATER_TEST_PROFILE=production $(PYTEST) tests/integration tests/api

bench: install
	$(BIN)/python -m benchmarks.sync

bench-api: install
	$(BIN)/python -m benchmarks.api

bench-webhooks: install
	$(BIN)/python -m benchmarks.webhooks

clean:
	rm -rf $(VENV) .headwater .mypy_cache .ruff_cache
