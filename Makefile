# The two set-up commands of the README: `make demo` and `make test`. Each creates .venv and installs
# what it needs (pinned by constraints.txt) before running.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOME_DIR ?= var
PYTEST_ARGS ?=

.PHONY: install demo test lint unit bench docs screenshots clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/creditwatch --home $(HOME_DIR) demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check features models training supervision serving tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install
	# --dist loadscope: a module's tests on one worker, so its costly fixtures (a city, a Dask cluster, servers) are built once
	$(BIN)/python -m pytest -n 2 --dist loadscope $(PYTEST_ARGS)

test: lint unit

docs: install
	$(BIN)/creditwatch data catalog --markdown > docs/catalog.md

screenshots: install  # the pages as the browser tests see them, into docs/img (docs/service-zone.md shows them)
	CREDITWATCH_SCREENSHOTS=docs/img CREDITWATCH_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q $$(grep -l 'screenshot(page' tests/serving/test_*.py)

bench: install  # make bench NAME=synth ARGS='--entities 1000000'
	$(BIN)/python -m bench $(NAME) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
