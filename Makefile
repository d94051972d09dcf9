# `make run` starts the bot, `make test` runs ruff, mypy, the import contracts and the tests; both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint eval calibrate bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/openllm-bot run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

# Refit the decision policy on the current FAQ and labelled sets and record the quality figures (docs/quality.md),
# if they hold the gate: run it after editing knowledge/, then `make test`.
calibrate: $(STAMP)
	$(BIN)/openllm-bot calibrate --record --quiet

eval: $(STAMP)
	$(BIN)/openllm-bot calibrate --quiet
	for set in eval/blind/*.yaml; do echo "$$set (shipped policy, never fitted on)"; $(BIN)/openllm-bot eval $$set --quiet; done

clean:
	rm -rf $(VENV) build *.egg-info
