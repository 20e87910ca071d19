# The README's two commands build on these targets. Everything installs into .venv.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
OUT    ?= runs/default
# Material for MkDocs prints a banner about its successor on every build: not for us
export NO_MKDOCS_2_WARNING = 1

.PHONY: run test install install-test install-docs browser bench docs docs-serve clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet --no-cache-dir --disable-pip-version-check -e '.[test]'
	@$(MAKE) --no-print-directory browser
	touch $@

# Headless Chromium renders the HTML report and the docs site in two tests. Installed from Debian's package
# where we may (root with apt-get); elsewhere those tests are skipped and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  echo "chromium: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 \
	    apt-get install -y -qq chromium >/dev/null) \
	  && echo "chromium: installed" || echo "chromium: not installable here; the report rendering test will be skipped"; \
	else \
	  echo "chromium: not found; the report rendering test will be skipped"; \
	fi

$(VENV)/.installed-docs: $(VENV)/.installed
	$(PY) -m pip install --quiet --no-cache-dir --disable-pip-version-check -e '.[docs]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

install-docs: $(VENV)/.installed-docs

## make run: train the default preset on the embedded digits, offline, into runs/default
run: install
	@if [ -d $(OUT)/checkpoints ]; then \
	  echo "$(OUT) already holds a run: resuming it (delete $(OUT) to start over)"; \
	  $(VENV)/bin/gankit train --resume $(OUT); \
	else \
	  $(VENV)/bin/gankit train --preset default --out $(OUT); \
	fi

## make test: install the test extras and run the suite, one worker per CPU (at most 8):
## each worker runs torch on one thread, so two cores do about twice the work of one
test: install-test
	$(PY) -m pytest -q -n logical --maxprocesses 8 --dist worksteal

## make bench: the headline throughput bench (a few minutes on 2 cores); it prints its
## tables and writes docs/results/throughput-<kind>.md. Every bench: bench/README.md
bench: install-test
	$(PY) bench/throughput.py

## make docs: write the CLI reference from the parser, then build the site into site/ with
## --strict (a broken link, anchor or image fails); it opens offline from site/index.html
docs: install-docs
	$(PY) tools/cli_reference.py
	$(VENV)/bin/mkdocs build --strict

## make docs-serve: the same site at http://127.0.0.1:8000, rebuilt on every edit
docs-serve: install-docs
	$(PY) tools/cli_reference.py
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

clean:
	rm -rf $(VENV) runs site .pytest_cache
