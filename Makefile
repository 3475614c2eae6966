# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= .data
export QUANT_DATA_DIR ?= $(abspath $(DATA_DIR))
# QUANT_ENV=PROD (docs/deployment.md) takes its own instance: Postgres, from orchestration/instance/prod/.
PROD := $(filter PROD,$(QUANT_ENV))
export DAGSTER_HOME ?= $(abspath $(DATA_DIR))/dagster_home$(if $(PROD),_prod,)
INSTANCE_YAML := orchestration/instance/$(if $(PROD),prod/,)dagster.yaml
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
STAMP := $(VENV)/.installed

.PHONY: setup run dev live materialize test bench lint chain-fixtures browser clean-data prod-services prod-test prod-test-default prod-worker

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

# torch first and pinned, so pip takes the CPU wheel on disk instead of several GB of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: $(INSTANCE_YAML)
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

# Test fixtures from npm (real contracts and an EVM node), when the chain tests declare them.
chain-fixtures:
	@if [ -f tests/chains/package.json ]; then \
		cd tests/chains && { [ -d node_modules ] && [ node_modules -nt package.json ] || npm install --no-audit --no-fund --silent; }; \
	fi

# Headless Chromium for the status page's browser test (Debian's package; skipped where it is present).
browser:
	@command -v chromium >/dev/null || { apt-get install -y -q chromium >/dev/null || \
		{ apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }

# dagster dev and the live runtime at once, with everything missing built beside them; Ctrl-C stops all.
run: setup
	$(BIN)/python -m orchestration.serve

# The live runtime alone, on the simulated market run forward, with the champions `make materialize` made.
live: setup
	$(BIN)/python -m live_runtime run

dev: setup
	$(BIN)/dagster dev -w workspace.yaml

materialize: setup
	$(BIN)/python -m orchestration.materialize

test: setup chain-fixtures browser prod-services
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

# PostgreSQL and Redis from Debian's packages, for the PROD profile's integration test (tests/prod), installed
# when missing. Never fails: without apt-get (or root) the test skips and prints why.
APT := DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo -n) apt-get
prod-services:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "prod-services: installing postgresql and redis-server from Debian's packages"; \
		{ $(APT) install -y -q postgresql redis-server >/dev/null 2>&1 \
		  || { $(APT) update -q >/dev/null 2>&1 && $(APT) install -y -q postgresql redis-server >/dev/null 2>&1; }; } \
		|| echo "prod-services: apt-get could not install them; the PROD profile test will skip"; \
	else echo "prod-services: no PostgreSQL/Redis and no apt-get; the PROD profile test will skip"; fi

# The PROD profile on loopback: Postgres, Redis, a Chroma server, two Celery workers (a few minutes).
prod-test: setup prod-services
	$(BIN)/pytest -q tests/prod

# The same test on the default world (eight days; tens of minutes on 2 cores, so not part of `make test`).
prod-test-default: setup prod-services
	QUANT_PROD_WORLD=default $(BIN)/pytest -q tests/prod

# One Celery worker of the PROD profile (start as many as you like, on any machine with the code and the
# environment of .env.example); one step at a time per worker process.
prod-worker: setup
	$(BIN)/dagster-celery worker start -A dagster_celery.app -y orchestration/instance/prod/celery.yaml \
		-i orchestration.definitions

bench: setup
	$(BIN)/python -m benchmarks --all --write BENCHMARKS.md

lint: setup
	$(BIN)/ruff check .

clean-data:
	rm -rf $(DATA_DIR)
