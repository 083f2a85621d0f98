# Aliases for the commands the README documents; the README is the runbook.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test lint bench services clean packages-run packages-test packages-bench

# Debian packages a fresh machine lacks (installed as root, else the apt-get line is printed).
packages-run packages-test packages-bench:
	scripts/ensure-packages.sh $(@:packages-%=%)

setup: $(VENV)/.installed

$(VENV)/.installed: requirements/base.txt requirements/dev.txt pyproject.toml
	python3 -m venv --help >/dev/null 2>&1 || scripts/ensure-packages.sh run
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	# The diff's compiled passes, compiled now rather than by a worker's first diff.
	$(PY) -m pdiff.warmup
	touch $@

tests/tools/node_modules/.installed: tests/tools/package.json tests/tools/package-lock.json
	npm install --prefix tests/tools --no-audit --no-fund --loglevel=error
	touch $@

# The original dpxdt 0.1.5 client tools, for the acceptance test that runs them unchanged.
tests/tools/dpxdt-0.1.5/.installed: requirements/original-clients.txt
	scripts/install-original-clients.sh tests/tools/dpxdt-0.1.5
	touch $@

run: packages-run setup
	scripts/run-embedded.sh

# Lint and types first, so that the last line of make test is pytest's summary.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: packages-test setup tests/tools/node_modules/.installed tests/tools/dpxdt-0.1.5/.installed lint
	scripts/services.sh
	scripts/test-all-databases.sh

bench: packages-bench setup tests/tools/node_modules/.installed
	$(PY) tests/bench/bench_pdiff.py
	$(PY) tests/bench/bench_capture.py
	scripts/services.sh
	$(PY) tests/bench/bench_docs.py
	$(PY) tests/bench/bench_ui.py
	scripts/services.sh
	$(PY) tests/bench/bench_site_diff.py

clean:
	rm -rf $(VENV) tests/tools/node_modules tests/tools/dpxdt-0.1.5
