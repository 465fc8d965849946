# Every target creates .venv and installs candlecast with its dev extras first,
# so each one works on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test check bench bench-quick fuzz soak clean

$(STAMP): pyproject.toml setup.py src/candlecast/_numrows.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/candlecast demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

check: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m benchmarks.run

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick

fuzz: $(STAMP)
	# ~23 messages per example over 6 properties: 5000 examples each is ~115,000 cases
	CANDLECAST_FUZZ_EXAMPLES=5000 $(PY) -m pytest -q tests/unit/test_fuzz.py tests/unit/test_codec_json.py tests/unit/test_numrows.py -p no:cacheprovider --timeout=3600

soak: $(STAMP)
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
