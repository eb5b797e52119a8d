"""infra/aws/bootstrap on planned values (terraform test, run "policies"): the buckets made with
modules/s3-bucket, the ECR repositories and the log bucket's writers. IAM is in test_aws_bootstrap_iam.py."""

from __future__ import annotations

import json

import pytest
from conftest import mutate

STACK = "infra/aws/bootstrap"
ACCOUNT = "123456789012"
STATE_KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-00000000000a"


def planned(terraform, root=None) -> dict[str, dict]:
    result = terraform.test((root / STACK) if root else STACK, filter="tests/policies.tftest.hcl")
    assert result.ok, result.failures + result.diagnostics
    return {rc["address"]: rc["change"]["after"] for rc in result.plan("policies")["resource_changes"] if rc["mode"] == "managed"}


@pytest.fixture(scope="session")
def plan(stack_test):
    result = stack_test(STACK, "tests/policies.tftest.hcl")
    assert result.ok, result.failures + result.diagnostics
    return {rc["address"]: rc["change"]["after"] for rc in result.plan("policies")["resource_changes"] if rc["mode"] == "managed"}


def check_buckets(p: dict) -> list[str]:
    holes = []
    for b in ("state_bucket", "releases_bucket", "logs_bucket"):
        m = f"module.{b}"
        if p[f"{m}.aws_s3_bucket_versioning.this"]["versioning_configuration"][0]["status"] != "Enabled":
            holes.append(f"{b}: not versioned")
        pab = p[f"{m}.aws_s3_bucket_public_access_block.this"]
        holes += [f"{b}: {k} off" for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets") if pab[k] is not True]
        policy = json.loads(p[f"{m}.aws_s3_bucket_policy.this"]["policy"])
        tls = [s for s in policy["Statement"] if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        if not tls:
            holes.append(f"{b}: non-TLS requests are not denied")
        if any(s["Effect"] == "Allow" and s.get("Principal") == "*" for s in policy["Statement"]):
            holes.append(f"{b}: allows anyone")
    enc = p["module.state_bucket.aws_s3_bucket_server_side_encryption_configuration.this"]["rule"][0]["apply_server_side_encryption_by_default"][0]
    if enc["sse_algorithm"] != "aws:kms" or enc["kms_master_key_id"] != STATE_KEY:
        holes.append("state: not encrypted with the state key")
    for b, prefix in (("state_bucket", "state/"), ("releases_bucket", "releases/")):
        log = p.get(f"module.{b}.aws_s3_bucket_logging.this[0]")
        if not log or log["target_bucket"] != f"shipshape-s3-logs-{ACCOUNT}-us-east-1" or log["target_prefix"] != prefix:
            holes.append(f"{b}: access logs do not reach the log bucket")
    logs = json.loads(p["module.logs_bucket.aws_s3_bucket_policy.this"]["policy"])
    writers = [s for s in logs["Statement"] if s["Effect"] == "Allow"]
    if [s["Principal"] for s in writers] != [{"Service": "logging.s3.amazonaws.com"}] or "aws:SourceAccount" not in writers[0]["Condition"].get("StringEquals", {}):
        holes.append("logs: writers other than S3 log delivery of this account")
    return holes


def check_ecr(p: dict) -> list[str]:
    holes = []
    for name in ("image", "chart"):
        r = p[f'aws_ecr_repository.this["{name}"]']
        if r["image_scanning_configuration"][0]["scan_on_push"] is not True:
            holes.append(f"{name}: not scanned on push")
        if r["encryption_configuration"][0]["encryption_type"] != "KMS":
            holes.append(f"{name}: not KMS-encrypted")
        lifecycle = json.loads(p[f'aws_ecr_lifecycle_policy.this["{name}"]']["policy"])
        kept = [rule["selection"]["countNumber"] for rule in lifecycle["rules"] if rule["selection"]["countType"] == "imageCountMoreThan"]
        if kept != [50]:
            holes.append(f"{name}: keeps {kept} tagged images, not 50")
    return holes


def test_buckets(plan):
    assert check_buckets(plan) == []


def test_ecr(plan):
    assert check_ecr(plan) == []


@pytest.mark.parametrize(
    "edit,check",
    [
        ((["infra/modules/s3-bucket/main.tf"], "  restrict_public_buckets = true", "  restrict_public_buckets = false"), check_buckets),
        ((["infra/aws/bootstrap/state.tf"], "  kms_key_arn             = aws_kms_key.state.arn\n", ""), check_buckets),
        ((["infra/aws/bootstrap/logs.tf"], 'Principal = { Service = "logging.s3.amazonaws.com" }', 'Principal = "*"'), check_buckets),
        ((["infra/aws/bootstrap/ecr.tf"], "scan_on_push = true", "scan_on_push = false"), check_ecr),
    ],
    ids=["public bucket", "state without KMS", "log bucket writable by anyone", "no scan on push"],
)
def test_mutations_are_caught(terraform, tmp_path, edit, check):
    (files, old, new) = edit
    root = mutate(tmp_path, {f: [(old, new)] for f in files})
    assert check(planned(terraform, root)), "the check did not notice the mutation"
