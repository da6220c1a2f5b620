# Two commands matter: `make studio` (run Label Studio with the seed article ready to label)
# and `make test` (install everything from nothing, then run the whole suite).
PYTHON ?= python3.11
VENV := .venv
STUDIO_VENV := .venv-studio
LABEL_STUDIO_VERSION ?= 1.23.2
DATA_DIR ?= .studio
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: install studio studio-stop studio-status test lint bench chromium

install: $(VENV)/.installed $(STUDIO_VENV)/.installed chromium

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dask,test]'
	touch $@

$(STUDIO_VENV)/.installed:
	test -x $(STUDIO_VENV)/bin/python || $(PYTHON) -m venv $(STUDIO_VENV)
	$(STUDIO_VENV)/bin/pip install -q --upgrade pip
	$(STUDIO_VENV)/bin/pip install -q 'label-studio==$(LABEL_STUDIO_VERSION)'
	touch $@

# Debian's chromium for the browser tests (a Playwright browser download cannot work offline).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "warning: /usr/bin/chromium missing; browser tests will be skipped (apt-get install chromium)"; fi

# Start Label Studio (SQLite in $(DATA_DIR), bound to $(HOST)), push seeds/ with their
# repeated-passage pre-annotations, and say where to log in. Safe to run again.
studio: $(VENV)/.installed $(STUDIO_VENV)/.installed
	@ANNOTATE_STUDIO_DIR=$(DATA_DIR) $(VENV)/bin/annotate studio start --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)
	@ANNOTATE_STUDIO_DIR=$(DATA_DIR) $(VENV)/bin/annotate push seeds/
	@echo
	@ANNOTATE_STUDIO_DIR=$(DATA_DIR) $(VENV)/bin/annotate studio status --data-dir $(DATA_DIR)
	@echo "Log in at that URL as that username; the password is in $(DATA_DIR)/credentials.json. Stop: make studio-stop"

studio-stop:
	ANNOTATE_STUDIO_DIR=$(DATA_DIR) $(VENV)/bin/annotate studio stop --data-dir $(DATA_DIR)

studio-status:
	@ANNOTATE_STUDIO_DIR=$(DATA_DIR) $(VENV)/bin/annotate studio status --data-dir $(DATA_DIR)

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check annotate tests bench
	$(VENV)/bin/ruff format --check annotate tests bench

# Benchmarks: each script prints its figures and writes bench/out/<name>.json (slow; not in CI).
bench: $(VENV)/.installed $(STUDIO_VENV)/.installed
	@for f in bench/bench_*.py; do echo "== $$f"; $(VENV)/bin/python $$f || exit 1; done
