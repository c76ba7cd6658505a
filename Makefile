# One entry point for people and CI. `make test` installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := npx --no-install cdk
CDK_FLAGS := --no-notices

# Node.js >= 22 (jsii supports ^22 and ^24): the system's, else the pinned one that
# tools/node_toolchain.sh installs into .tools/node. Its bin/ comes first on PATH for every recipe
# (the CDK CLI, jsii and the tests' `node` calls), and is ignored while it does not exist.
NODE_BIN := $(CURDIR)/.tools/node/bin
export PATH := $(NODE_BIN):$(PATH)

# No CLI telemetry, and never probe an instance-metadata endpoint for credentials.
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_EC2_METADATA_DISABLED := true

PY_STAMP := $(VENV)/.installed
# checkov pins boto3==1.35.49 and requirements.txt pins boto3==1.44.8: it gets its own venv.
CHECKOV_VENV := .tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: help install node chromium checkov synth lint test test-fast demo bench docs images clean

help:
	@echo "make demo    deploy to a local AWS emulator and run the workflow end to end"
	@echo "make test    lint + every test layer (unit, infra, lambdas, integration)"
	@echo "make synth   write the CloudFormation templates to cdk.out/ (offline, no credentials)"
	@echo "make lint    ruff on the code, cfn-lint and checkov on the templates"
	@echo "make bench   benchmarks (manifest split, manifest build, synth time)"
	@echo "make docs    regenerate docs/architecture.md's diagram and docs/cdk-json.schema.json (config schema)"
	@echo "make images  regenerate stacks/algorithm_images.json from the SageMaker Python SDK"
	@echo "make install create .venv/ and node_modules/, and .tools/node/ if node < 22 (idempotent)"
	@echo "make clean   remove build outputs (keeps .venv/ and node_modules/)"

install: node chromium $(PY_STAMP) $(NODE_STAMP)

# Debian's Chromium for the evaluation report's browser test (tests/integration/test_evaluation_report_browser.py);
# nothing to do when /usr/bin/chromium exists. See tools/chromium.sh.
chromium:
	@bash tools/chromium.sh

# Cheap (one `node --version`) when the right node is there; see tools/node_toolchain.sh.
node:
	@bash tools/node_toolchain.sh

$(PY_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json | node
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: install
	$(CDK) synth $(CDK_FLAGS) --quiet
	@$(PY) -m workflow.summary cdk.out 2>/dev/null || ls cdk.out/*.template.json

# cfn-lint 1.x has no `python -m cfnlint`: its console script. checkov: --skip-download keeps it offline
# (built-in checks only); its skips are in each resource's `checkov` metadata (docs/security-checks.md).
lint: install checkov
	$(PY) -m ruff check .
	$(CDK) synth $(CDK_FLAGS) --quiet
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --quiet --compact --skip-download \
		--file cdk.out/*.template.json

# The same template checks run as tests, over every configuration: cfn-lint and checkov in
# tests/infra/test_guards.py, cdk-nag acknowledgements in tests/infra/test_nag.py.
test: install checkov
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: install
	$(PY) -m bench.bench_split
	$(PY) -m bench.bench_manifest
	$(PY) -m bench.bench_synth

docs: install
	$(PY) -m tools.architecture --write docs/architecture.md
	$(PY) -m tools.config_schema --write docs/cdk-json.schema.json

images: install
	$(PY) tools/generate_algorithm_images.py

demo: install
	$(PY) -m demo.run $(if $(KEEP),--keep,)

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './.venv/*' -not -path './node_modules/*' -prune -exec rm -rf {} +
