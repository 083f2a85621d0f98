# Aliases for the commands the README documents; the README is the runbook.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test bench services clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements/base.txt requirements/dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

tests/tools/node_modules/.installed: tests/tools/package.json tests/tools/package-lock.json
	npm install --prefix tests/tools --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	scripts/run-embedded.sh

test: setup tests/tools/node_modules/.installed
	scripts/services.sh
	scripts/test-all-databases.sh

bench: setup tests/tools/node_modules/.installed
	$(PY) tests/bench/bench_pdiff.py
	$(PY) tests/bench/bench_capture.py
	$(PY) tests/bench/bench_ui.py
	scripts/services.sh
	$(PY) tests/bench/bench_site_diff.py

clean:
	rm -rf $(VENV) tests/tools/node_modules
