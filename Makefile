# The front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell ./scripts/find-python.sh)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ENV    ?= dev

.PHONY: help openapi venv dev dev-reset test test-unit chromium lint fmt migrate build validate deploy-check restore-drill invoke token bench bench-quick bench-search soak deploy clean \
        sam-local-setup sam-local-stop sam-invoke sam-start-api sam-local-test sam-local-all

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/shared/requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

venv: $(STAMP) ## create .venv with the pinned dependencies

# --- local stack ---
# The Docker-free local stack (devstack/; README: "Walkthrough (local)"). Its state lives in
# .local/ (git-ignored): the PostgreSQL cluster, the role passwords, the token signing key.
DEVSTACK = PYTHONPATH=layers/shared $(PY) -m devstack

dev: $(STAMP) ## the local API on http://127.0.0.1:3000 (PORT=, PGPORT_DEV=, ENV_VARS=env.json, CORS_ORIGINS=)
	@$(DEVSTACK) dev $(if $(PORT),--port $(PORT)) $(if $(ENV_VARS),--env-vars $(ENV_VARS)) $(if $(CORS_ORIGINS),--cors-origins "$(CORS_ORIGINS)")

dev-reset: $(STAMP) ## stop the local cluster and delete .local/ (database, passwords, signing key)
	@$(DEVSTACK) reset

token: $(STAMP) ## print a token for the local API: SUB=<uuid> [EMAIL=...] [GROUPS=admin]
	@$(DEVSTACK) token --sub "$(SUB)" $(if $(EMAIL),--email "$(EMAIL)") $(if $(GROUPS),--groups "$(GROUPS)")

openapi: $(STAMP) ## regenerate openapi.json from the functions' routes (a test fails when it is stale)
	@$(DEVSTACK) openapi

invoke: $(STAMP) ## run one function with one event: FN=PostsFunction EVENT=events/posts/get.json
	@$(DEVSTACK) invoke "$(FN)" "$(EVENT)" $(if $(ENV_VARS),--env-vars $(ENV_VARS))
# --- end local stack ---

test: $(STAMP) chromium ## run the whole test suite against a throwaway PostgreSQL (or $$DATABASE_URL)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## the unit tier only: no database, no servers, seconds
	$(PY) -m pytest tests/unit -q -p no:cacheprovider $(PYTEST_ARGS)

# The browser end-to-end test (tests/e2e/test_browser.py) drives Debian's chromium package. Installed
# here when missing and running as root with apt-get; otherwise the test is skipped and says why.
chromium: ## install Chromium for the browser e2e test when missing (root + apt-get), or say why not
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "$$CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (apt-get) for tests/e2e/test_browser.py"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is not installed and cannot be (needs root and apt-get): tests/e2e/test_browser.py will be skipped"; fi

# The long run of the reliability suite (docs/RELIABILITY.md); `make test` runs it bounded.
soak: $(STAMP) ## reliability soak: 5 min, 32 simulated containers, more fuzzing (SOAK_SECONDS=, SOAK_CONTAINERS=, FUZZ_EXAMPLES=)
	SOAK_SECONDS=$(or $(SOAK_SECONDS),300) SOAK_CONTAINERS=$(or $(SOAK_CONTAINERS),32) FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),60) \
	  $(PY) -m pytest tests/reliability/test_soak.py tests/reliability/test_fuzz_openapi.py tests/reliability/test_fuzz_inputs.py -s -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP) ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP) ## apply migrations to $$DATABASE_URL (CMD=status|dry-run|apply)
	PYTHONPATH=layers/shared $(PY) -m shared.migrations $(or $(CMD),apply) --dir sql/migrations

# --- benchmarks (bench/; results in BENCHMARKS.md) ---
# Their extra dependencies (bench/requirements.txt) go into .venv only for these targets.
BENCH_STAMP := $(VENV)/.bench-installed
BENCH        = PYTHONPATH=.:layers/shared:functions/users:functions/posts:functions/comments $(PY) -m bench

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt -c constraints.txt
	@touch $@

bench: $(BENCH_STAMP) ## all benchmarks on 1M posts: bench/results/full.json, BENCHMARKS.md
	$(BENCH)

bench-quick: $(BENCH_STAMP) ## the same benchmarks on 10k posts, fewer samples (< 2 minutes)
	$(BENCH) --quick

bench-search: $(BENCH_STAMP) ## search on Japanese/English posts (POSTS=1000000, DSN= to reuse data): bench/results/search.json
	PYTHONPATH=.:layers/shared:functions/posts $(PY) -m bench.search $(if $(DSN),--dsn $(DSN),--posts $(or $(POSTS),1000000))
# --- end benchmarks ---

clean: ## remove build output and caches (keeps .local/)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# --- infrastructure (template.yaml) ---
# SAM CLI and cfn-lint live in .venv-sam, checkov in .venv-tools (their pins conflict); both
# are pinned in requirements-sam.txt. `sam build` needs python3.13 on PATH for the python
# functions: the directory of $(PYTHON) (scripts/find-python.sh) goes first on PATH.
SAM_VENV    := .venv-sam
SAM_STAMP   := $(SAM_VENV)/.installed
TOOLS_VENV  := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
SAM         := $(SAM_VENV)/bin/sam
SAM_RUN      = PATH="$(dir $(PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM)
PIP_FLAGS   := --quiet --disable-pip-version-check

$(SAM_STAMP): requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements-sam.txt
	@touch $@

$(TOOLS_STAMP): requirements-sam.txt
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install $(PIP_FLAGS) $$(sed -n 's/^# tools: //p' requirements-sam.txt)
	@touch $@

validate: $(SAM_STAMP) $(TOOLS_STAMP) ## sam validate --lint, cfn-lint and checkov over template.yaml
	$(SAM_RUN) validate --lint --template-file template.yaml --region us-east-1
	$(SAM_VENV)/bin/cfn-lint --include-checks I -- template.yaml
	$(TOOLS_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

build: $(SAM_STAMP) ## sam build (arm64 layer wheels, migrations bundled) into .aws-sam/build
	$(SAM_RUN) build --template-file template.yaml --parallel

# scripts/deploy.py reads the environment's overrides from samconfig.toml (sam replaces, not
# merges, them when the command line gives any), appends MigrationsHash, and refuses an unknown
# environment or a prod environment that still carries placeholders before anything is built.

deploy-check: ## print the sam deploy command of ENV without running it (ENV=dev|staging|prod)
	@PYTHONPATH=layers/shared $(PYTHON) scripts/deploy.py $(ENV) $(SAM) --print

deploy: deploy-check build ## sam deploy --config-env $(ENV) (dev, staging or prod), passing MigrationsHash
	@PATH="$(dir $(PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0 PYTHONPATH=layers/shared $(PYTHON) scripts/deploy.py $(ENV) $(SAM)

# A local restore drill: dump the dev database, restore it into a fresh throwaway cluster and
# compare every table's row count and content hash (docs/INFRASTRUCTURE.md, "Restore").
restore-drill: $(STAMP) ## dump the local dev database, restore it into a fresh cluster, compare tables
	@PYTHONPATH=layers/shared:. $(PY) scripts/restore_drill.py

# --- end infrastructure ---

# --- sam local (scripts/sam_local/; README: "The SAM way") ---
# SAM CLI's own `sam local invoke` / `start-api` on `make build`'s artifact, in containers:
# podman (its Docker-compatible API on /run/blog-sam-local/podman.sock, never a running Docker
# daemon) and Lambda python3.13 images built here from Debian and PyPI packages. The engine's
# configuration, image store and caches live in ~/.cache/blog-sam-local. ARCHES= picks the
# images (default both); ARCH= the architecture to run (default arm64, the artifact's own,
# under qemu on an x86_64 machine; x86_64 runs a copy of the artifact rebuilt for x86_64).
SAM_LOCAL_PY = PYTHONPATH=layers/shared $(PY) -m

sam-local-setup: $(STAMP) ## install podman and build the Lambda python3.13 images, once (ARCHES="arm64 x86_64")
	@$(SAM_LOCAL_PY) scripts.sam_local.setup $(foreach a,$(ARCHES),--arch $(a))

sam-local-stop: $(STAMP) ## stop the podman API service that sam-local-setup started
	@$(SAM_LOCAL_PY) scripts.sam_local.setup --stop

sam-invoke: $(STAMP) $(SAM_STAMP) ## sam local invoke on .aws-sam/build: FN=PostsFunction EVENT=events/posts/get.json [ARCH=x86_64] [ENV_VARS=env.json]
	@$(SAM_LOCAL_PY) scripts.sam_local.invoke "$(FN)" "$(EVENT)" $(if $(ARCH),--arch $(ARCH)) $(if $(ENV_VARS),--env-vars $(ENV_VARS))

sam-start-api: $(STAMP) $(SAM_STAMP) ## sam local start-api on .aws-sam/build, http://127.0.0.1:3001 (PORT=, ARCH=, ENV_VARS=); public routes only
	@$(SAM_LOCAL_PY) scripts.sam_local.invoke --start-api --port $(or $(PORT),3001) $(if $(ARCH),--arch $(ARCH)) $(if $(ENV_VARS),--env-vars $(ENV_VARS))

# CI runs this: one sample per route on x86_64, and one per function on the arm64 artifact itself
# (under qemu a cold start takes minutes: README, "The SAM way", for the times).
sam-local-test: $(STAMP) $(SAM_STAMP) ## sam local invoke vs make invoke: each route (x86_64), each function (arm64)
	SAM_LOCAL_REQUIRED=1 SAM_LOCAL_EVENTS=routes SAM_LOCAL_ARCH=x86_64 \
	  $(PY) -m pytest tests/samlocal -p no:cacheprovider $(PYTEST_ARGS)
	SAM_LOCAL_REQUIRED=1 SAM_LOCAL_EVENTS=functions SAM_LOCAL_ARCH=arm64 \
	  $(PY) -m pytest tests/samlocal -p no:cacheprovider -k sam_local_invoke_answers $(PYTEST_ARGS)

sam-local-all: $(STAMP) $(SAM_STAMP) ## sam local invoke vs make invoke, every sample event (ARCH=arm64|x86_64)
	SAM_LOCAL_REQUIRED=1 SAM_LOCAL_EVENTS=all SAM_LOCAL_ARCH=$(or $(ARCH),arm64) \
	  $(PY) -m pytest tests/samlocal -p no:cacheprovider $(PYTEST_ARGS)
# --- end sam local ---
