# cluster-inventory — every command a developer or CI needs.
# `make test` is the test command (README, .ci/run); it builds whatever is missing first.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS_ENV = eval "$$(tools/env.sh)"
# `make demo`: the dev stack (stacks/Pulumi.dev.yaml) in a local file backend, with a
# passphrase that protects nothing. A real stack gets its own backend and passphrase.
DEMO_STACK := dev
DEMO_PASSPHRASE := cluster-inventory-demo-only
DEMO_ENV = export PULUMI_BACKEND_URL="file://$(CURDIR)/.local/state" PULUMI_CONFIG_PASSPHRASE="$(DEMO_PASSPHRASE)" PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=true
DEMO_STEP = printf '\n[demo] == %s ==\n' 

.PHONY: help venv tools cluster-up cluster-down demo demo-down test test-unit lint bench-plan bench-deploy bench-reshard bench-events-limit clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
	  '{name[NR] = $$1; text[NR] = $$2; if (length($$1) > width) width = length($$1)} \
	   END {format = "  make %-" width "s  %s\n"; for (i = 1; i <= NR; i++) printf format, name[i], text[i]}'

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.stamp ## create the virtualenv with pinned dependencies

tools: ## build (or reuse from cache) pulumi, its Python language host, the kubernetes provider, kube-apiserver, kube-controller-manager, etcd, Sveltos
	@bash tools/build-tools.sh

cluster-up: venv tools ## start etcd + kube-apiserver + GC/namespace controllers on loopback with the real CRDs (SVELTOS=1: also Sveltos; WORKLOADS=N: also N workload API servers)
	@$(TOOLS_ENV); $(PY) tools/cluster.py up $(if $(filter 1,$(SVELTOS)),--sveltos) $(if $(WORKLOADS),--workloads $(WORKLOADS))

cluster-down: ## stop the local control plane and remove its data
	@$(PY) tools/cluster.py down

demo: cluster-up ## example inventory on the local control plane, then preview, up and a summary
	@$(DEMO_STEP) "example inventory (examples/inventory)"
	@echo "[demo] PULUMI_CONFIG_PASSPHRASE=$(DEMO_PASSPHRASE) -- a demo-only passphrase; state in .local/state"
	@$(DEMO_ENV); $(PY) tools/demo.py apply
	@$(TOOLS_ENV); $(DEMO_ENV); pulumi stack select --create $(DEMO_STACK) --secrets-provider passphrase
	@$(DEMO_STEP) "pulumi preview --stack $(DEMO_STACK)"
	@$(TOOLS_ENV); $(DEMO_ENV); pulumi preview --stack $(DEMO_STACK)
	@$(DEMO_STEP) "pulumi up --yes --skip-preview --stack $(DEMO_STACK)"
	@$(TOOLS_ENV); $(DEMO_ENV); pulumi up --yes --skip-preview --stack $(DEMO_STACK)
	@$(TOOLS_ENV); $(DEMO_ENV); $(PY) tools/demo.py summary --stack $(DEMO_STACK)

demo-down: venv ## destroy the demo stack, stop the local control plane, forget the demo state
	@# The control plane stops whatever the destroy says; a state without the demo stack has nothing to destroy.
	@status=0; if $(PY) tools/cluster.py status >/dev/null && [ -d .local/state ]; then \
	  $(TOOLS_ENV); $(DEMO_ENV); if pulumi stack ls --json | grep -q '"name": "$(DEMO_STACK)"'; then \
	    pulumi destroy --yes --stack $(DEMO_STACK) || status=$$?; fi; fi; \
	  $(PY) tools/cluster.py down; exit $$status
	@rm -rf .local/state .local/demo.env

test: venv tools ## run every test: unit, property, and the real CLI/provider/apiserver ones
	@$(TOOLS_ENV); $(PY) -m pytest tests

test-unit: venv ## only the fast tests that need no control plane
	@$(PY) -m pytest tests/unit

lint: venv ## ruff, mypy --strict on inventory/, actionlint on the workflows
	$(PY) -m ruff check inventory tests tools bench __main__.py
	$(PY) -m mypy --strict inventory
	@"$$(bash tools/build-actionlint.sh)" .github/workflows/*.yml

bench-plan: venv ## plan 1,000 and 10,000 clusters x 10 consumer namespaces; prints time and peak RSS
	@$(PY) bench/bench_plan.py

bench-deploy: cluster-up ## deploy 200 and 1,000 synthetic clusters (SIZE=N for your own; CONSUMERS=n; CLUSTER_MANAGER=1: feature E publishes the profiles; GRANTS=1: a ConsumerGrant per cluster and consumer, clusters on WORKLOADS=2 workload API servers) beside the API server's and Pulumi's floors
	@$(TOOLS_ENV); $(PY) bench/bench_deploy.py $(if $(SIZE),--size $(SIZE)) $(if $(CONSUMERS),--consumers $(CONSUMERS)) $(if $(CLUSTER_MANAGER),--cluster-manager) $(if $(GRANTS),--grants $(if $(WORKLOADS),--workloads $(WORKLOADS)))

bench-reshard: cluster-up ## 2 -> 3 -> 2 shard stacks of 1,000 synthetic clusters via `python -m inventory reshard`, watched for DELETEs (SIZE=N clusters; CLUSTER_MANAGER=1: feature E on)
	@$(TOOLS_ENV); $(PY) bench/bench_reshard.py --clusters $(or $(SIZE),1000) $(if $(CLUSTER_MANAGER),--cluster-manager)

bench-events-limit: venv tools ## events mode under real Sveltos: which fleets get every push Secret (CLUSTERS=a,b CONSUMERS=n)
	@$(TOOLS_ENV); $(PY) tools/cluster.py up --sveltos >/dev/null
	@$(TOOLS_ENV); $(PY) bench/bench_events_limit.py $(if $(CLUSTERS),--clusters $(CLUSTERS)) $(if $(CONSUMERS),--consumers $(CONSUMERS))

clean: cluster-down ## stop the cluster and remove the virtualenv (built tools stay cached)
	rm -rf $(VENV) .local
