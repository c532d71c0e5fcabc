VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

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

test: lint
	$(BIN)/pytest -p no:cacheprovider

bench: install
	$(BIN)/python -m benchmarks.sync

bench-api: install
	$(BIN)/python -m benchmarks.api

bench-webhooks: install
	$(BIN)/python -m benchmarks.webhooks

clean:
	rm -rf $(VENV) .headwater .mypy_cache .ruff_cache
