# credinet-ops — every entry point an operator or CI needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CREDINET_CACHE ?= /var/cache/credinet-ops
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
# module_utils/credinet_ops is copied to the hosts: no bytecode may be written into it.
export PYTHONDONTWRITEBYTECODE := 1

PLAYBOOKS := $(wildcard playbooks/*.yml)
# make test runs the checks side by side: lint's apt-get may meet harness/engine.sh's (which
# waits the same way) at dpkg's lock; apt-get fails at once on it unless told to wait.
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
ENVIRONMENTS := prod dev sandbox
# Every Molecule scenario; `make molecule SCENARIOS=security` runs one.
# Scenarios run in parallel lanes (scripts/molecule-lanes.py); MOLECULE_LANES=1 runs them one by one.
MOLECULE_LANES ?= 2
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

# promtool of the Prometheus image role monitoring runs (a stand-in in the local mirror).
PROM_IMAGE = 127.0.0.1:5000/$(shell sed -n 's|^  prometheus: \(prom/prometheus:.*\)|\1|p' roles/monitoring/defaults/main.yml)

.PHONY: help venv collections outer lint syntax unit rules-test checks molecule test sandbox sandbox-destroy bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

venv: $(VENV)/.installed $(VENV)/.linked ## Python toolchain (pinned, requirements.txt) + the runtime package
$(VENV)/.installed: requirements.txt
	@echo "==> Python venv $(VENV) from requirements.txt"
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@
# credinet_ops importable by the venv as the hosts and Ansible import it (symlinks to this checkout).
$(VENV)/.linked: $(VENV)/.installed scripts/link-runtime-package.py
	$(BIN)/python scripts/link-runtime-package.py
	touch $@

collections: venv ## Ansible collections of requirements.yml (offline when bundled)
	$(BIN)/python scripts/ensure-collections.py

outer: ## Outer machine: Docker engine, image mirror, sandbox images, fixture repo
	@bash harness/up.sh

lint: venv collections ## pre-commit hooks on every file: yamllint, ansible-lint, ruff, shellcheck, detect-secrets
	@command -v shellcheck >/dev/null || { echo "==> installing shellcheck (Debian)"; $(APT_GET) install -y -qq shellcheck >/dev/null \
	  || { $(APT_GET) update -qq && $(APT_GET) install -y -qq shellcheck >/dev/null; }; }
	pre-commit run --all-files --show-diff-on-failure

# One ansible-playbook per inventory for all the playbooks (it names the file at fault): a
# start-up per playbook cost ~1 s each, 24 of them.
syntax: venv collections ## --syntax-check of every playbook against every inventory
	@for inv in $(ENVIRONMENTS); do \
	  echo "==> syntax-check $(PLAYBOOKS) (inventories/$$inv)"; \
	  ansible-playbook -i inventories/$$inv --syntax-check $(PLAYBOOKS) >/dev/null; \
	done

unit: venv ## Unit tests of the plugins and scripts, inventory and repository checks
	pytest

rules-test: outer ## promtool unit tests of every alert rule (tests/promtool)
	docker run --rm --network none --user "$$(id -u):$$(id -g)" -v "$(CURDIR):/repo:ro" -w /repo/tests/promtool \
	  --entrypoint promtool $(PROM_IMAGE) test rules $(notdir $(wildcard tests/promtool/*.test.yml))

molecule: venv collections outer ## Every Molecule scenario (create, converge, idempotence, verify, destroy), MOLECULE_LANES side by side
	$(BIN)/python scripts/molecule-lanes.py --lanes $(MOLECULE_LANES) $(SCENARIOS)

checks: lint syntax unit rules-test ## Everything but Molecule: lint, syntax checks, unit tests, alert rule tests

# The checks run before the Molecule lanes, not beside them: measured on 2 cores, running them
# side by side slowed the first two scenarios by about 190 s each (more than the checks take).
# Among themselves they run side by side (lint, syntax and unit are each mostly one process);
# each one's output is printed whole when it ends. Recipe lines with $(MAKE) run even under
# `make -n`: a dry run of `test` runs the checks and the suite.
test: ## Everything CI runs
	@$(MAKE) --no-print-directory -j4 --output-sync=target checks
	@$(MAKE) --no-print-directory molecule
	@echo "==> make test: all checks passed"

sandbox: venv collections outer ## Boot sandbox prod+dev hosts and converge site.yml on them
	@echo "==> Sandbox hosts (molecule create -s sandbox)"
	@# Engine volumes left by an interrupted scenario run hold its containers, which would start
	@# again inside new hosts: new hosts start with new volumes.
	@docker inspect sandbox-prod >/dev/null 2>&1 || docker volume rm -f credinet-molecule-sandbox-prod-docker credinet-molecule-sandbox-dev-docker >/dev/null
	@mkdir -p .cache
	@docker inspect sandbox-prod >/dev/null 2>&1 && echo existing >.cache/sandbox-hosts.kind || echo new >.cache/sandbox-hosts.kind
	molecule create -s sandbox
	@echo "==> ansible-playbook -i inventories/sandbox playbooks/site.yml"
	@# The first converge's duration is a bench row (bench/converge-bench.sh): kept with its log.
	@rm -f .cache/sandbox-converge.seconds
	@start=$$(date +%s); ansible-playbook -i inventories/sandbox playbooks/site.yml | tee .cache/sandbox-last.log; \
	  echo "$$(( $$(date +%s) - start )) $$(cat .cache/sandbox-hosts.kind)" > .cache/sandbox-converge.seconds
	@$(BIN)/python scripts/sandbox-summary.py .cache/sandbox-last.log

sandbox-destroy: venv ## Remove the sandbox hosts and their Docker volumes
	molecule destroy -s sandbox
	docker volume rm -f credinet-molecule-sandbox-prod-docker credinet-molecule-sandbox-dev-docker >/dev/null

bench: venv collections ## Benchmarks on the sandbox (make sandbox first): tables printed and saved to docs/BENCHMARKS.md (BENCHES=bench/x.sh: only those)
	@BENCHES="$(BENCHES)" bash scripts/bench-report.sh

clean: ## Remove the venv and local caches (not the image cache in $(CREDINET_CACHE))
	rm -rf $(VENV) .cache .pytest_cache
