# Every check and delivery step, written once. .ci/run, CircleCI and GitHub Actions call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help lint test pg-start coverage chart-check tf-check image-test vm-boot-test pipeline-check bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

lint: ## cargo fmt --check and clippy -D warnings
	scripts/lint.sh

test: ## cargo test (PostgreSQL half too when TEST_DATABASE_URL is set)
	scripts/test.sh

pg-start: ## Start a local PostgreSQL with TLS for the tests; prints TEST_DATABASE_URL
	scripts/pg-start.sh

chart-check: ## Lint, render, schema-validate and policy-scan the Helm chart
	scripts/chart-check.sh

tf-check: ## fmt, offline validate, tests and checkov for every Terraform stack
	scripts/tf-check.sh

image-test: ## Build the Dockerfile daemonless with podman and run it as users will
	scripts/image-test.sh

vm-boot-test: ## Boot the VM's cloud-init and systemd unit in systemd-nspawn
	scripts/vm-boot-test.sh

pipeline-check: ## Validate the CircleCI and GitHub Actions configs offline
	scripts/pipeline-check.sh

bench: ## Loopback load test against shipshape (and the baselines); prints numbers
	scripts/bench.sh
