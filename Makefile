# Loa — the two commands: `make run` (set up and start) and `make test` (set up and test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/loa init --demo
	$(BIN)/loa run

lint: install
	$(BIN)/ruff check scheduler tests bench
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m bench

# Extract every message id into the template, then add new ids (empty) to both catalogues.
# Ids are symbolic, so fuzzy matching would only guess wrong wordings.
POT := scheduler/i18n/loa.pot
messages: install
	$(BIN)/pybabel -q extract -F babel.cfg -k msg -k N_ -k translate:2 -k process_text -k t -k _ --no-location \
		--omit-header --sort-output -o $(POT) scheduler
	$(BIN)/pybabel -q update -D loa -i $(POT) -d scheduler/i18n/locales --no-fuzzy-matching --no-wrap
	rm -f $(POT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
