# Loa — the two commands: `make run` (set up and start) and `make test` (set up and test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `run` needs only Loa itself; `test`, `lint`, `bench` and `install` (a working copy for
# development) add the test tool-chain on top.
STAMP      := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp

.PHONY: install install-test run test lint bench fuzz messages clean faketime deploy-tools fonts

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(MAKE) --no-print-directory faketime deploy-tools fonts
	touch $(STAMP) $(TEST_STAMP)

# The clock tests run real processes under libfaketime (Debian's faketime package).
faketime:
	@command -v faketime >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null 2>&1 || \
		  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; }; }; } || \
		echo "faketime is missing: the clock tests need it (sudo apt-get install faketime)"

# The production steps' test (tests/test_deploy.py): Debian's Caddy in front of `loa run`, and
# systemd-analyze for the units in deploy/. Installing caddy does not start it (no systemd here,
# or it listens on :80 of a development machine until stopped: `systemctl disable --now caddy`).
deploy-tools:
	@{ command -v caddy >/dev/null && command -v systemd-analyze >/dev/null; } || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends caddy systemd >/dev/null 2>&1 || \
		  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends caddy systemd >/dev/null; }; }; } || \
		echo "caddy or systemd-analyze is missing: the deploy test needs them (sudo apt-get install caddy systemd)"

# The report's PDF is set in Liberation Serif (Times New Roman's metrics, full Vietnamese),
# Debian's fonts-liberation2; no font file ships with Loa.
fonts:
	@[ -f /usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf ] || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-liberation2 >/dev/null 2>&1 || \
		  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-liberation2 >/dev/null; }; }; } || \
		echo "fonts-liberation2 is missing: the report's PDF needs it (sudo apt-get install fonts-liberation2)"

install: $(TEST_STAMP)

install-test: $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/loa init --demo
	$(BIN)/loa run

lint: install-test
	$(BIN)/ruff check scheduler tests bench
	$(BIN)/mypy

test: install-test lint
	$(BIN)/pytest -q

# The API fuzzed against its own OpenAPI document at ten times `make test`'s size (a few minutes).
fuzz: install-test
	LOA_FUZZ_EXAMPLES=600 $(BIN)/pytest -q tests/test_api_fuzz.py

bench: install-test
	$(BIN)/python -m bench

# Extract every message id into the template, then add new ids (empty) to both catalogues.
# Ids are symbolic, so fuzzy matching would only guess wrong wordings.
POT := scheduler/i18n/loa.pot
messages: install
	$(BIN)/pybabel -q extract -F babel.cfg -k msg -k N_ -k translate:2 -k process_text -k t -k _ --no-location \
		--omit-header --sort-output -o $(POT) scheduler
	$(BIN)/pybabel -q update -D loa -i $(POT) -d scheduler/i18n/locales --no-fuzzy-matching --no-wrap
	rm -f $(POT)
	# The extraction time would make every branch's catalogues differ on one line.
	sed -i '/^"POT-Creation-Date: /d' scheduler/i18n/locales/*/LC_MESSAGES/loa.po

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
