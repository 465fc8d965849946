# Every target creates .venv and installs candlecast with its dev extras first,
# so each one works on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install browser demo test check bench bench-quick fuzz soak mutation clean

$(STAMP): pyproject.toml setup.py src/candlecast/_numrows.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/candlecast demo $(DEMO_ARGS)

# Headless Chromium for the fleet page's browser test (tests/integration/test_fleet_page.py):
# Debian's chromium and chromium-driver. Without root or the package registry the test
# skips and says why; nothing else depends on it.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
		|| echo "browser: could not install chromium (the fleet page test will skip)"; \
	else echo "browser: chromium not installed and no root apt-get (the fleet page test will skip)"; fi

test: $(STAMP) browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

check: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m benchmarks.run $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick $(BENCH_ARGS)

fuzz: $(STAMP)
	# 5000 examples per property; the run prints how many messages it fed (about 95,000)
	CANDLECAST_FUZZ_EXAMPLES=5000 $(PY) -m pytest -q tests/unit/test_fuzz.py tests/unit/test_codec_json.py tests/unit/test_numrows.py -p no:cacheprovider --timeout=3600

soak: $(STAMP)
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml): slow, not in CI;
# the scores and accepted survivors are in docs/reliability.md. Some modules only:
# make mutation MUTATE='candlecast.api.auth* candlecast.data.merge*'
mutation: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,mutation]'
	CANDLECAST_FUZZ_EXAMPLES=50 $(VENV)/bin/mutmut run $(MUTATE)
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache mutants
