# Two commands matter: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo demo-stop demo-web test test-fast fuzz check bench bench-import clean system-deps

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The demo: sample content, subscribers and digests sent into ./outbox over real SMTP, then the
# web app in the background on http://127.0.0.1:8000 (it prints an admin login).
demo: install
	$(VENV)/bin/newsletter demo --web

demo-stop: install
	$(VENV)/bin/newsletter demo --stop-web

# The demo, then its web app in the foreground until Ctrl-C.
demo-web: install
	$(VENV)/bin/newsletter demo --serve

# Browser tests drive Debian's Chromium; install it from Debian when it is missing.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install system-deps
	$(PY) -m pytest

# The fuzz and hostile-input suites with a long budget (`make test` runs them briefly).
FUZZ_EXAMPLES ?= 500
FUZZ_CLI_EXAMPLES ?= 60
fuzz: install
	NEWSLETTER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) NEWSLETTER_FUZZ_CLI_EXAMPLES=$(FUZZ_CLI_EXAMPLES) \
	  $(PY) -m pytest tests/test_fuzz_*.py tests/test_hostile_*.py -q \
	  --hypothesis-show-statistics

test-fast: install
	$(PY) -m pytest -m "not browser and not slow"

check: install
	$(VENV)/bin/ruff check newsletter subscribers tests scheduler.py bench
	$(VENV)/bin/ruff format --check newsletter subscribers tests scheduler.py bench
	$(VENV)/bin/mypy newsletter subscribers scheduler.py

bench: install
	$(VENV)/bin/newsletter bench --subscribers 100000

bench-import: install
	$(PY) bench/import_bench.py --rows 100000

clean:
	rm -rf $(VENV) demo.db demo-web.log .demo-web.pid demo.db-wal demo.db-shm outbox preview .pytest_cache test-output
