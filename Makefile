# The README's two commands build on these targets. Everything installs into .venv.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
OUT    ?= runs/default

.PHONY: run test install install-test bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## make run: train the default preset on the embedded digits, offline, into runs/default
run: install
	@if [ -d $(OUT)/checkpoints ]; then \
	  echo "$(OUT) already holds a run: resuming it (delete $(OUT) to start over)"; \
	  $(VENV)/bin/gankit train --resume $(OUT); \
	else \
	  $(VENV)/bin/gankit train --preset default --out $(OUT); \
	fi

## make test: install the test extras and run the suite
test: install-test
	$(PY) -m pytest -q

bench: install-test
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
