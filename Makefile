# Two commands matter: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo demo-stop demo-web test test-unit test-integration test-e2e test-fast fuzz check bench bench-import chaos clean system-deps

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

# Browser tests drive Debian's Chromium; the email checks use Debian's SpamAssassin and node
# (tools/caniemail: the caniemail.com data through npm); DKIM tests verify with
# opendkim-testmsg (opendkim-tools); the benchmark sends into Postfix's smtp-sink.
# Installed from Debian when missing.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v spamassassin >/dev/null 2>&1 || { \
	  echo "installing Debian's spamassassin for the email score test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin >/dev/null; }
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian's nodejs and npm for the caniemail check"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@test -d tools/caniemail/node_modules || npm ci --prefix tools/caniemail --no-audit --no-fund --silent
	@test -x /usr/sbin/opendkim-testmsg || { \
	  echo "installing Debian's opendkim-tools for the DKIM tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq opendkim-tools >/dev/null; }
	@test -x /usr/sbin/smtp-sink || { \
	  echo "installing Debian's postfix for smtp-sink (benchmarks)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; }

# Every tier: tests/unit (pure), tests/integration (real databases and servers in-process),
# tests/e2e (processes, Chromium, outside checkers).
test: install system-deps
	$(PY) -m pytest

# Pure logic only, under a minute: no database, network, subprocess or browser
# (tests/unit/conftest.py refuses them).
test-unit: install
	$(PY) -m pytest tests/unit -q

test-integration: install system-deps
	$(PY) -m pytest tests/integration

test-e2e: install system-deps
	$(PY) -m pytest tests/e2e

# The fuzz and hostile-input suites with a long budget (`make test` runs them briefly).
FUZZ_EXAMPLES ?= 500
FUZZ_CLI_EXAMPLES ?= 60
fuzz: install
	NEWSLETTER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) NEWSLETTER_FUZZ_CLI_EXAMPLES=$(FUZZ_CLI_EXAMPLES) \
	  $(PY) -m pytest tests/*/test_fuzz_*.py tests/*/test_hostile_*.py -q \
	  --hypothesis-show-statistics

# The unit and integration tiers without the slow or browser tests (no processes, no Chromium).
test-fast: install
	$(PY) -m pytest tests/unit tests/integration -m "not browser and not slow"

# ruff (lint and format), mypy, and the dependency rules of docs/ARCHITECTURE.md (import-linter,
# contracts in pyproject.toml).
check: install
	$(VENV)/bin/ruff check newsletter subscribers tests scheduler.py bench
	$(VENV)/bin/ruff format --check newsletter subscribers tests scheduler.py bench
	$(VENV)/bin/mypy newsletter subscribers scheduler.py
	$(VENV)/bin/mypy --explicit-package-bases bench/chaos
	$(VENV)/bin/lint-imports --no-cache

# The figures in README.md ("Performance"); each command is bounded (a few minutes at most).
BENCH := $(VENV)/bin/newsletter bench
bench: install system-deps
	$(BENCH) --subscribers 100000
	$(BENCH) --subscribers 100000 --dkim
	$(BENCH) --subscribers 20000 --latency-ms 10 --concurrency 16 --in-flight 2

bench-import: install
	$(PY) bench/import_bench.py --rows 100000

# The fault campaign of issue 10 (bench/chaos): a table of duplicates and lost messages per
# scenario; exits non-zero on any. `make chaos CHAOS_ARGS=--quick` for small counts.
# Debian's faketime skews one sender's clock; without it that scenario says "needs hook".
CHAOS_ARGS ?=
chaos: install
	@dpkg -s faketime >/dev/null 2>&1 || { echo "installing Debian's faketime"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime \
	  >/dev/null || true; }
	$(PY) -m bench.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) demo.db demo-web.log .demo-web.pid demo.db-wal demo.db-shm outbox preview .pytest_cache test-output
