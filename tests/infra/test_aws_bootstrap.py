"""infra/aws/bootstrap: state bucket, CircleCI OIDC trust, least-privilege CI roles, ECR, releases.

The check_* functions take a parsed Stack and raise AssertionError; each runs on the real stack and,
in test_*_catches_*, on a mutated copy, so every check is shown to fail when it should.
"""

from __future__ import annotations

import fnmatch
import re

import pytest

from conftest import REPO_ROOT, Stack, blocks, ref

STACK_DIR = "infra/aws/bootstrap"
POLICY = "aws_iam_policy_document"

# Actions AWS offers no resource-level permission for, so "*" is the only possible resource.
NO_RESOURCE_LEVEL = {
    "ecr:GetAuthorizationToken",
    "ec2:DescribeInstances",
    "ssm:DescribeInstanceInformation",
    "ssm:GetCommandInvocation",
    "ssm:ListCommandInvocations",
    "ssm:ListCommands",
}


@pytest.fixture(scope="module")
def stack(tf_stack) -> Stack:
    return tf_stack(STACK_DIR)


def statements(stack: Stack, doc: str) -> list[dict]:
    body = stack.data[POLICY][doc]
    return blocks(body, "statement")


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def allow_statements(stack: Stack, doc: str) -> list[dict]:
    return [s for s in statements(stack, doc) if s.get("effect", "Allow") == "Allow"]


def role_trust_doc(stack: Stack, role: str) -> str:
    policy = stack.resource("aws_iam_role", role)["assume_role_policy"]
    m = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)\.json\}", policy)
    assert m, f"role {role}: assume_role_policy must be a policy document, got {policy!r}"
    return m.group(1)


# =================================================================================================
# Conventions: versions, provider tags, backend.
# =================================================================================================


def check_conventions(stack: Stack) -> None:
    tf = {k: v for block in stack.terraform for k, v in block.items()}
    assert tf.get("required_version") == ">= 1.10", "terraform >= 1.10 (S3 use_lockfile)"
    aws = tf["required_providers"]["aws"]
    assert aws == {"source": "hashicorp/aws", "version": "~> 6.0"}, aws
    backend = tf["backend"]["s3"]
    assert backend.get("use_lockfile") is True, "S3 backend must lock with use_lockfile"
    assert backend.get("encrypt") is True
    for key in ("bucket", "region", "kms_key_id", "dynamodb_table"):
        assert key not in backend, f"backend.{key} must come from -backend-config, not Git"
    (provider,) = stack.providers["aws"]
    assert provider["default_tags"]["tags"] == {
        "Project": "shipshape",
        "ManagedBy": "terraform",
        "Stack": "aws/bootstrap",
    }
    for name, var in stack.variables.items():
        assert var.get("description"), f"variable {name} needs a description"
        assert var.get("type"), f"variable {name} needs a type"


def test_conventions(stack):
    check_conventions(stack)


def test_conventions_catch_dynamodb_lock(stack):
    bad = stack.copy()
    for block in bad.terraform:
        if "backend" in block:
            block["backend"]["s3"]["use_lockfile"] = False
    with pytest.raises(AssertionError, match="use_lockfile"):
        check_conventions(bad)


def test_files_by_concern():
    names = {p.name for p in (REPO_ROOT / STACK_DIR).iterdir()}
    for f in ("versions.tf", "providers.tf", "variables.tf", "outputs.tf", "terraform.tfvars.example", "README.md"):
        assert f in names, f"{STACK_DIR}/{f} missing"


# =================================================================================================
# Buckets: every bucket private, versioned, encrypted, TLS-only; state on its own KMS key.
# =================================================================================================


def check_buckets(stack: Stack) -> None:
    buckets = stack.of_type("aws_s3_bucket")
    assert set(buckets) == {"state", "releases", "logs"}, sorted(buckets)
    for name in buckets:
        bucket_ref = ref(f"aws_s3_bucket.{name}.id")
        pab = [b for b in stack.of_type("aws_s3_bucket_public_access_block").values() if b["bucket"] == bucket_ref]
        assert len(pab) == 1, f"bucket {name}: needs one public access block"
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            assert pab[0].get(flag) is True, f"bucket {name}: {flag} must be true"
        ver = [b for b in stack.of_type("aws_s3_bucket_versioning").values() if b["bucket"] == bucket_ref]
        assert len(ver) == 1 and ver[0]["versioning_configuration"]["status"] == "Enabled", f"bucket {name}: versioning"
        sse = [b for b in stack.of_type("aws_s3_bucket_server_side_encryption_configuration").values() if b["bucket"] == bucket_ref]
        assert len(sse) == 1, f"bucket {name}: needs default encryption"
        own = [b for b in stack.of_type("aws_s3_bucket_ownership_controls").values() if b["bucket"] == bucket_ref]
        assert len(own) == 1 and own[0]["rule"]["object_ownership"] == "BucketOwnerEnforced", f"bucket {name}: ACLs off"
        pol = stack.resource("aws_s3_bucket_policy", name)
        assert pol["bucket"] == bucket_ref
        doc = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)\.json\}", pol["policy"]).group(1)
        tls = [
            s
            for s in statements(stack, doc)
            if s.get("effect") == "Deny"
            and "s3:*" in s["actions"]
            and any(c["variable"] == "aws:SecureTransport" and c["values"] == ["false"] for c in blocks(s, "condition"))
        ]
        assert tls, f"bucket {name}: bucket policy must deny non-TLS requests"
        resources = as_list(tls[0]["resources"])
        assert ref(f"aws_s3_bucket.{name}.arn") in resources and f"${{aws_s3_bucket.{name}.arn}}/*" in resources
        for s in allow_statements(stack, doc):
            principals = blocks(s, "principals")
            if any(p.get("identifiers") == ["*"] for p in principals):
                assert blocks(s, "condition"), f"bucket {name}: an Allow to '*' must be conditioned (e.g. aws:SourceVpce)"
    state_sse = stack.resource("aws_s3_bucket_server_side_encryption_configuration", "state")
    default = state_sse["rule"]["apply_server_side_encryption_by_default"]
    assert default == {"sse_algorithm": "aws:kms", "kms_master_key_id": ref("aws_kms_key.state.arn")}, default
    assert stack.resource("aws_s3_bucket", "state").get("lifecycle", {}).get("prevent_destroy") is True
    assert stack.resource("aws_kms_key", "state").get("enable_key_rotation") is True


def test_buckets(stack):
    check_buckets(stack)


def test_buckets_catch_public_access(stack):
    bad = stack.copy()
    bad.resources["aws_s3_bucket_public_access_block"]["releases"]["block_public_policy"] = False
    with pytest.raises(AssertionError, match="block_public_policy"):
        check_buckets(bad)


def test_buckets_catch_missing_tls_deny(stack):
    bad = stack.copy()
    bad.data[POLICY]["state_bucket"]["statement"] = [
        s for s in blocks(bad.data[POLICY]["state_bucket"], "statement") if s.get("sid") != "DenyInsecureTransport"
    ]
    with pytest.raises(AssertionError, match="non-TLS"):
        check_buckets(bad)


def test_buckets_catch_unconditioned_public_read(stack):
    bad = stack.copy()
    rel = bad.data[POLICY]["releases_bucket"]
    dyn = rel.pop("dynamic")["statement"]["content"]
    dyn.pop("condition")
    rel["statement"] = blocks(rel, "statement") + [dyn]
    with pytest.raises(AssertionError, match="conditioned"):
        check_buckets(bad)


# =================================================================================================
# ECR: the two repositories, immutable, scanned, encrypted, with a lifecycle policy.
# =================================================================================================


def check_ecr(stack: Stack) -> None:
    assert stack.locals["ecr_repositories"] == {"image": "shipshape", "chart": "charts/shipshape"}
    repo = stack.resource("aws_ecr_repository", "this")
    assert repo["for_each"] == ref("local.ecr_repositories") and repo["name"] == ref("each.value")
    assert repo["image_tag_mutability"] == "IMMUTABLE", "tags must be immutable"
    assert repo["image_scanning_configuration"]["scan_on_push"] is True
    assert repo["encryption_configuration"]["encryption_type"] == "KMS"
    lifecycle = stack.resource("aws_ecr_lifecycle_policy", "this")
    assert lifecycle["for_each"] == ref("aws_ecr_repository.this")
    assert lifecycle["policy"] == ref("local.ecr_lifecycle_policy")


def test_ecr(stack):
    check_ecr(stack)


def test_ecr_catches_mutable_tags(stack):
    bad = stack.copy()
    bad.resources["aws_ecr_repository"]["this"]["image_tag_mutability"] = "MUTABLE"
    with pytest.raises(AssertionError, match="immutable"):
        check_ecr(bad)


# =================================================================================================
# OIDC trust: project-only for plan; project + repository + deploy branch for apply and deploy.
# =================================================================================================

ORG = "00000000-0000-4000-8000-000000000000"
PROJECT = "11111111-1111-4111-8111-111111111111"
USER = "22222222-2222-4222-8222-222222222222"
ORIGIN = "github.com/acme/shipshape"


def render(stack: Stack, expr: str, branch: str = "main") -> str:
    """Evaluate the stack's sub-pattern locals for test values (join of literal parts)."""
    values = {
        "${var.circleci_org_id}": ORG,
        "${var.circleci_project_id}": PROJECT,
        "${var.vcs_origin}": ORIGIN,
        "${var.deploy_branch}": branch,
    }
    wildcard = stack.locals["uuid_wildcard"]
    m = re.fullmatch(r'\$\{join\("",\[for i in range\((\d+)\) : "(.)"\]\)\}', wildcard)
    assert m, f"uuid_wildcard must be a run of single-character wildcards, got {wildcard!r}"
    values["${local.uuid_wildcard}"] = m.group(2) * int(m.group(1))
    join = re.fullmatch(r'\$\{join\("(.)",\[(.*)\]\)\}', expr)
    if join:
        parts = re.findall(r"'([^']*)'", join.group(2))
        sep = join.group(1)
    else:
        parts, sep = [expr], ""
    out = []
    for part in parts:
        for k, v in values.items():
            part = part.replace(k, v)
        out.append(part)
    return sep.join(out)


def sub(branch: str, origin: str = ORIGIN, project: str = PROJECT, v2: bool = True) -> str:
    base = f"org/{ORG}/project/{project}/user/{USER}"
    return f"{base}/vcs-origin/{origin}/vcs-ref/refs/heads/{branch}" if v2 else base


def string_like(pattern: str, value: str) -> bool:
    # IAM StringLike: '*' any run of characters, '?' exactly one; no character classes.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def trust_pattern(stack: Stack, doc: str) -> str:
    (st,) = statements(stack, doc) if isinstance(stack.data[POLICY][doc]["statement"], list) else [stack.data[POLICY][doc]["statement"]]
    assert st["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert st["principals"]["identifiers"] == [ref("aws_iam_openid_connect_provider.circleci.arn")]
    conds = {(c["test"], c["variable"]): c["values"] for c in blocks(st, "condition")}
    assert conds.get(("StringEquals", "${local.oidc_host}:aud")) == ["${var.circleci_org_id}"], "audience = org id"
    (pattern,) = conds[("StringLike", "${local.oidc_host}:sub")]
    local = re.fullmatch(r"\$\{local\.([a-z_]+)\}", pattern).group(1)
    return render(stack, stack.locals[local])


def check_trust(stack: Stack) -> None:
    provider = stack.resource("aws_iam_openid_connect_provider", "circleci")
    assert provider["url"] == "https://${local.oidc_host}"
    assert stack.locals["oidc_host"] == "oidc.circleci.com/org/${var.circleci_org_id}"
    assert provider["client_id_list"] == ["${var.circleci_org_id}"]
    assert role_trust_doc(stack, "plan") == "trust_any_branch"
    assert role_trust_doc(stack, "apply") == "trust_deploy_branch"
    assert role_trust_doc(stack, "deploy") == "trust_deploy_branch"

    plan = trust_pattern(stack, "trust_any_branch")
    assert string_like(plan, sub("feature/x")) and string_like(plan, sub("main", v2=False)), plan
    assert not string_like(plan, sub("main", project="33333333-3333-4333-8333-333333333333")), "plan: other project"

    deploy = trust_pattern(stack, "trust_deploy_branch")
    assert string_like(deploy, sub("main")), f"deploy trust must admit main: {deploy}"
    for bad, why in (
        (sub("feature/x"), "another branch"),
        (sub("main", v2=False), "a V1 token without the ref"),
        (sub("main", origin="github.com/evil/shipshape"), "another repository"),
        (sub("main", project="33333333-3333-4333-8333-333333333333"), "another project"),
        (sub(f"x/vcs-origin/{ORIGIN}/vcs-ref/refs/heads/main"), "a branch name smuggling the pattern"),
        (sub("main-evil"), "a branch with main as prefix"),
    ):
        assert not string_like(deploy, bad), f"deploy trust admits {why}: {bad}"


def test_trust(stack):
    check_trust(stack)


def test_trust_catches_any_branch_deploy(stack):
    bad = stack.copy()
    bad.resources["aws_iam_role"]["deploy"]["assume_role_policy"] = "${data.aws_iam_policy_document.trust_any_branch.json}"
    with pytest.raises(AssertionError):
        check_trust(bad)


def test_trust_catches_star_user_wildcard(stack):
    bad = stack.copy()
    bad.locals["sub_deploy_branch"] = bad.locals["sub_deploy_branch"].replace("'${local.uuid_wildcard}'", "'*'")
    with pytest.raises(AssertionError, match="smuggling"):
        check_trust(bad)


def test_trust_catches_missing_audience(stack):
    bad = stack.copy()
    st = bad.data[POLICY]["trust_any_branch"]["statement"]
    st["condition"] = [c for c in blocks(st, "condition") if not c["variable"].endswith(":aud")]
    with pytest.raises(AssertionError, match="audience"):
        check_trust(bad)


# =================================================================================================
# Least privilege.
# =================================================================================================


def check_no_wildcards(stack: Stack) -> None:
    for name in stack.data.get(POLICY, {}):
        for s in allow_statements(stack, name):
            actions = as_list(s.get("actions"))
            for a in actions:
                assert a != "*" and not a.startswith("*"), f"{name}: allows {a}"
                assert a != "iam:*", f"{name}: allows iam:*"
            if as_list(s.get("resources")) == ["*"] and not blocks(s, "condition"):
                extra = set(actions) - NO_RESOURCE_LEVEL
                assert not extra, f"{name}/{s.get('sid')}: {sorted(extra)} on '*' without a condition"


def test_no_wildcards(stack):
    check_no_wildcards(stack)


def test_no_wildcards_catches_star(stack):
    bad = stack.copy()
    blocks(bad.data[POLICY]["deploy"], "statement")[0]["actions"] = ["*"]
    with pytest.raises(AssertionError, match="allows"):
        check_no_wildcards(bad)


def test_no_wildcards_catches_unconditioned_service_wildcard(stack):
    bad = stack.copy()
    for s in blocks(bad.data[POLICY]["apply"], "statement"):
        if s.get("sid") == "RegionalInfrastructure":
            s.pop("condition")
    with pytest.raises(AssertionError, match="without a condition"):
        check_no_wildcards(bad)


def check_plan_is_read_only(stack: Stack) -> None:
    attachments = [a for a in stack.of_type("aws_iam_role_policy_attachment").values() if a["role"] == ref("aws_iam_role.plan.name")]
    assert [a["policy_arn"] for a in attachments] == [ref("local.read_only_policy_arn")], "plan: only ReadOnlyAccess"
    assert stack.locals["read_only_policy_arn"] == "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
    inline = [p for p in stack.of_type("aws_iam_role_policy").values() if p["role"] == ref("aws_iam_role.plan.id")]
    assert [p["policy"] for p in inline] == ["${data.aws_iam_policy_document.plan_state.json}"]
    for s in allow_statements(stack, "plan_state"):
        writes = [a for a in as_list(s["actions"]) if a in ("s3:PutObject", "s3:DeleteObject")]
        if writes:
            assert s["resources"] == ref("local.stack_lock_arns"), f"plan may write only lock files, not {s['resources']}"
        for a in as_list(s["actions"]):
            assert a in ("s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "kms:Decrypt", "kms:GenerateDataKey"), a
    assert stack.locals["stack_lock_arns"].endswith('/*.tflock"]}'), stack.locals["stack_lock_arns"]


def test_plan_is_read_only(stack):
    check_plan_is_read_only(stack)


def test_plan_catches_state_write(stack):
    bad = stack.copy()
    for s in blocks(bad.data[POLICY]["plan_state"], "statement"):
        if s.get("sid") == "StateLockFile":
            s["resources"] = ref("local.stack_state_arns")
    with pytest.raises(AssertionError, match="lock files"):
        check_plan_is_read_only(bad)


def check_apply_guards(stack: Stack) -> None:
    sts = statements(stack, "apply")
    deny = [s for s in sts if s.get("effect") == "Deny" and "iam:*" in as_list(s["actions"])]
    assert deny and ref("local.ci_role_arn_prefix") in as_list(deny[0]["resources"]), "apply must be denied the CI roles"
    assert stack.locals["ci_role_arn_prefix"].endswith(":role/${var.name_prefix}-ci-*")
    for s in allow_statements(stack, "apply"):
        iam = [a for a in as_list(s["actions"]) if a.startswith("iam:")]
        if iam and iam != ["iam:CreateServiceLinkedRole"]:
            assert s["resources"] == ref("local.managed_name_arns"), f"apply: IAM only on name-prefixed ARNs, not {s['resources']}"
        if iam == ["iam:CreateServiceLinkedRole"]:
            assert blocks(s, "condition")[0]["variable"] == "iam:AWSServiceName"
    admin = [s for s in sts if s.get("effect") == "Deny" and "iam:AttachRolePolicy" in as_list(s["actions"])]
    assert admin, "apply must be denied attaching AWS admin policies"


def test_apply_guards(stack):
    check_apply_guards(stack)


def test_apply_catches_iam_on_everything(stack):
    bad = stack.copy()
    for s in blocks(bad.data[POLICY]["apply"], "statement"):
        if s.get("sid") == "StackIamByNamePrefix":
            s["resources"] = ["*"]
    with pytest.raises(AssertionError, match="name-prefixed"):
        check_apply_guards(bad)


def check_deploy_scope(stack: Stack) -> None:
    for s in allow_statements(stack, "deploy"):
        actions = as_list(s["actions"])
        assert not any(a.startswith("iam:") for a in actions), "deploy needs no IAM"
        assert not any(a.endswith(":*") for a in actions), f"deploy: service wildcard {actions}"
        if "ecr:PutImage" in actions:
            assert s["resources"] == "${[for r in aws_ecr_repository.this : r.arn]}", "push only to the two repositories"
        if "ssm:SendCommand" in actions:
            res = as_list(s["resources"])
            tagged = {c["variable"]: c["values"] for c in blocks(s, "condition")}
            if any(":instance/" in r for r in res):
                assert tagged.get("aws:ResourceTag/Project") == ["shipshape"], "SendCommand only on shipshape instances"
            else:
                assert res == ["arn:${local.partition}:ssm:${var.region}:${local.account_id}:document/${var.vm_deploy_document_name}"], res
        if any(a.startswith("kms:") for a in actions):
            assert as_list(s["resources"]) in (
                [ref("aws_kms_key.cosign.arn")],
                [ref("aws_kms_key.state.arn")],
            ), f"deploy: KMS only on the cosign key (sign) and state key (decrypt): {s['resources']}"
        if "kms:Sign" in actions:
            assert s["resources"] == [ref("aws_kms_key.cosign.arn")]


def test_deploy_scope(stack):
    check_deploy_scope(stack)


def test_deploy_catches_untagged_send_command(stack):
    bad = stack.copy()
    for s in blocks(bad.data[POLICY]["deploy"], "statement"):
        if s.get("sid") == "SsmRunOnShipshapeVms":
            s.pop("condition")
    with pytest.raises(AssertionError, match="shipshape instances"):
        check_deploy_scope(bad)


# =================================================================================================
# Outputs the pipeline and the other stacks consume; documented checkov skips.
# =================================================================================================


def test_outputs(stack):
    for name in (
        "state_bucket", "state_kms_key_arn", "backend_config", "oidc_provider_arn", "plan_role_arn",
        "apply_role_arn", "deploy_role_arn", "ecr_registry", "ecr_image_repository_url",
        "ecr_chart_repository_url", "release_bucket", "release_prefix", "release_base_url", "cosign_key_uri",
        "circleci_context_env",
    ):
        assert name in stack.outputs, f"output {name} missing"
        assert stack.outputs[name].get("description"), f"output {name} needs a description"


def test_checkov_skips_have_reasons():
    skips = 0
    for f in (REPO_ROOT / STACK_DIR).glob("*.tf"):
        for line in f.read_text().splitlines():
            if "checkov:skip=" in line:
                skips += 1
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+:\S.{15,}", line), f"{f.name}: skip without a reason: {line.strip()}"
    assert skips, "expected the documented skips"
