# okx_hft.infra — every entry point a user or CI needs.
#   make lab          build the all-in-one lab host and deploy the platform on it
#   make test         lint + unit + molecule (what .ci/run runs)
# Every target installs what it needs: a project virtualenv, Docker Engine and
# debootstrap from Debian's packages, and starts dockerd when nothing runs it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      ?= python3
BIN         := $(CURDIR)/$(VENV)/bin
COLL_LINK   := .collections/ansible_collections/okx_hft/infra
# Debian versions the scenarios run on; `make molecule DISTROS="12 13"` runs both.
DISTROS     ?= 12
# Scenarios to run; default: every directory under molecule/ with a molecule.yml (but
# `default`, which only silences a molecule warning).
SCENARIOS   ?= $(filter-out default,$(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))))
# Scenarios that `make molecule` also runs on Debian 13 when DISTROS leaves it out, so
# that every `make test` proves both releases without doubling its time: common, and
# ingestor, whose C extension the role compiles against the host's Python (3.13 there).
SCENARIOS_D13 ?= common ingestor

export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help venv host images lab lab-destroy lint unit schema-dev quality molecule test build clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# The ingestor's C extension is built in place by the editable install above; rebuild
# it when its source changes (pip does not notice).
$(VENV)/.speedups: $(VENV)/.installed ingestor/src/okx_ingestor/_speedups.c ingestor/setup.py
	$(BIN)/pip install -q --no-deps -e ./ingestor
	touch $@

$(COLL_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

venv: $(VENV)/.installed $(VENV)/.speedups $(COLL_LINK) ## project virtualenv with the pinned tooling

host: ## Docker Engine + debootstrap installed, dockerd running
	bash scripts/host-setup.sh

images: host ## systemd base images for Debian 12 and 13 (rebuilt only when inputs change)
	for d in $(sort $(DISTROS) 12 $(if $(SCENARIOS_D13),13)); do bash scripts/build-image.sh $$d; done

lab: venv images ## deploy the all-in-one lab host hft-lab
	ansible-playbook playbooks/lab_host.yml
	ansible-playbook -i inventories/lab site.yml

lab-destroy: venv ## remove the lab host
	ansible-playbook playbooks/lab_host.yml -e lab_host_state=absent

lint: venv ## ansible-lint, yamllint, ruff, syntax check, ansible-test sanity, collection build
	yamllint -s .
	ruff check .
	ruff format --check .
	ansible-lint --profile production
	ansible-playbook -i inventories/lab site.yml --syntax-check
	ansible-playbook -i inventories/example site.yml --syntax-check
	antsibull-changelog lint
	bash scripts/sanity.sh
	bash scripts/build-collection.sh

unit: venv ## pytest unit and integration tests
	bash scripts/ensure-test-deps.sh
	pytest
	# The ingestor once more on the Python twin of its C loops (speedups.py).
	OKX_INGESTOR_PURE_PYTHON=1 pytest -q -p no:cacheprovider ingestor/tests

schema-dev: venv ## apply files/sql to an embedded ClickHouse (chdb) at DB=PATH
	@test -n "$(DB)" || { echo 'usage: make schema-dev DB=PATH' >&2; exit 2; }
	python scripts/schema-dev.py --db "$(DB)"

# The data-quality checks (files/sql/checks): on a chdb directory with DB=PATH, else on
# the ClickHouse of INVENTORY (playbooks/quality.yml). ARGS are passed on.
INVENTORY ?= inventories/lab
quality: venv ## data-quality checks: DB=PATH (chdb) or the ClickHouse of INVENTORY
	@if [ -n "$(DB)" ]; then python scripts/quality-check.py --db "$(DB)" $(ARGS); \
	else ansible-playbook -i "$(INVENTORY)" playbooks/quality.yml $(ARGS); fi

molecule: venv images ## every molecule scenario, on Debian $(DISTROS) (+ SCENARIOS_D13 on 13)
	bash scripts/molecule-all.sh "$(strip $(foreach d,$(DISTROS),$(foreach s,$(SCENARIOS),$(d):$(s))) \
	  $(if $(filter 13,$(DISTROS)),,$(foreach s,$(SCENARIOS_D13),13:$(s))))"

# Each stage timed, so a CI log shows where the time goes (molecule-all.sh also times
# each scenario).
test: ## everything CI runs
	@t0=$$(date +%s); $(MAKE) --no-print-directory lint; \
	t1=$$(date +%s); $(MAKE) --no-print-directory unit; \
	t2=$$(date +%s); $(MAKE) --no-print-directory molecule; \
	t3=$$(date +%s); \
	echo "make test: lint $$((t1 - t0)) s, unit $$((t2 - t1)) s, molecule $$((t3 - t2)) s, total $$((t3 - t0)) s"

build: venv ## the collection tarball, installed and resolved in a temporary path
	bash scripts/build-collection.sh

clean: ## remove the virtualenv, caches and built tarballs (not the images)
	rm -rf $(VENV) .collections .cache okx_hft-infra-*.tar.gz
