# Every check and delivery step, written once. .ci/run, CircleCI and GitHub Actions call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help lint test pg-start coverage chart-check tf-check image-test vm-boot-test pipeline-check clean-clone-check bench profile api-fuzz arm64-build

# Targets that need a whole machine with root: a container engine (podman, Docker with BuildKit) or
# systemd-nspawn. CI runs them on machine executors / the runner VM, never inside a container;
# `make pipeline-check` enforces it.
MACHINE_TARGETS := image-test vm-boot-test image publish

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

lint: ## cargo fmt --check and clippy -D warnings
	scripts/lint.sh

test: ## cargo test (PostgreSQL half too when TEST_DATABASE_URL is set)
	scripts/test.sh

pg-start: ## Start a local PostgreSQL with TLS for the tests; prints TEST_DATABASE_URL
	scripts/pg-start.sh

api-fuzz: ## schemathesis against the real server's /openapi.json (fixed seed); fails on any finding
	scripts/api-fuzz.sh

chart-check: ## Lint, render, schema-validate and policy-scan the Helm chart
	scripts/chart-check.sh

tf-check: ## fmt, offline validate, tests and checkov for every Terraform stack
	scripts/tf-check.sh

.PHONY: refdocs
refdocs: ## Regenerate the READMEs' Terraform inputs/outputs and Helm values tables (tf-check and chart-check fail when stale)
	source scripts/lib/venv.sh && python scripts/refdocs.py

image-test: ## Provision, then build the Dockerfile and run the image as users will (tests/e2e/image; E2E_ARGS="-k NAME")
	scripts/provision.sh image-test
	scripts/e2e.sh image

arm64-build: ## Cross-compile the release binary for aarch64 (static glibc) and check it with `file`
	scripts/provision.sh arm64-build
	scripts/arm64-build.sh

vm-boot-test: ## Boot the VM's boot configuration in systemd-nspawn: pytest tests/e2e/vm (JUnit in out/junit)
	scripts/provision-vm-test.sh
	cargo build --release --locked --bin shipshape
	source scripts/lib/venv.sh && pytest -p no:cacheprovider --junitxml=out/junit/vm-boot-test.xml tests/e2e/vm

clean-clone-check: ## Every .ci/run step from a fresh clone with nothing beside it: passes or names what is missing
	scripts/e2e.sh clone

pipeline-check: ## Validate the CI configs, Renovate and pre-commit configs offline, with mutation self-tests
	scripts/pipeline-check.sh

bench: ## Loopback load test against shipshape (and the baselines); prints numbers
	scripts/bench.sh

profile: ## perf flamegraphs and callgrind instructions per request (/hello, the users list); out/profile/
	scripts/profile.sh

# --- delivery pipeline (.circleci/config.yml, docs/pipeline.md) ----------------------------------------
.PHONY: test-postgres deny secret-scan policy image release-binary publish publish-vm deploy-eks eks-platform load deploy-vm smoke tf-plan tf-apply

test-postgres: ## The tests with the PostgreSQL half: pg-start (TLS, own CA), then scripts/test.sh
	scripts/test-postgres.sh

coverage: ## cargo-llvm-cov over the tests (nextest, JUnit), lcov + HTML, fails under the line threshold
	scripts/coverage.sh

deny: ## cargo deny check: advisories, licenses, bans, sources (deny.toml)
	scripts/deny.sh

secret-scan: ## Scan the working tree for committed secrets (detect-secrets)
	scripts/secret-scan.sh

policy: ## hadolint and checkov on the Dockerfile
	scripts/policy.sh

image: ## BuildKit: amd64+arm64 index (cross-compiled, file-checked), pinned bases, Trivy CRITICAL gate, SBOMs (needs Docker)
	scripts/image.sh

release-binary: ## cargo build --release; binary + sha256 into out/release/
	scripts/release-binary.sh

publish: ## Push the image (short-SHA tag) and chart to ECR, cosign-sign (needs AWS + Docker)
	scripts/publish.sh

deploy-eks: ## cosign verify, helm upgrade --install --rollback-on-failure --wait by digest, helm test, smoke (needs AWS + EKS)
	scripts/deploy-eks.sh

eks-platform: ## Cluster layer after infra/aws/eks apply: manifests, RDS CA, controllers, DB secret (admin role)
	scripts/eks-platform.sh

load: ## Bounded 30 s load test of BASE_URL; summary in out/load/
	scripts/load.sh

publish-vm: ## Upload the VM release once and sign it, publish identity (DEPLOY_VM_CLOUD=aws|gcp; needs the cloud)
	scripts/publish-vm.sh

deploy-vm: ## Verify a published VM release, move the release pointer, roll out and await (needs the cloud)
	scripts/deploy-vm.sh

smoke: ## shipshape smoke --base-url BASE_URL
	scripts/smoke.sh

tf-plan: ## terraform plan of every stack to a saved plan file + summary (needs AWS)
	scripts/tf-plan.sh

tf-apply: ## terraform apply of exactly the saved plans from tf-plan (needs AWS)
	scripts/tf-apply.sh
