"""The pipeline's scripts against the roles their jobs assume, on the bootstrap's planned policies.

SCRIPTS below says, for every delivery script, which CI role its CircleCI job assumes and which IAM calls
each of its cloud commands implies (`aws <service> <command>`, Terraform's S3 backend, cosign with the KMS
key, docker/helm against ECR). The tests then check, with tests/infra/iam_eval.py:

* the table is the script: every cloud command found in a script is declared, and every declared one
  is in the script (a new `aws ...` call fails here until its permissions are reasoned about);
* each role allows every call its scripts make (mutation: remove one permission -> caught);
* each role allows nothing its scripts do not call: every action its own policy names is used (the
  shared guardrails and the refresh reads of plan/apply are covered by test_aws_bootstrap_iam.py and
  test_aws_stacks_iam.py);
* the CircleCI job that runs each script assumes that role (aws-role step and context).

Terraform's plan/apply of the stacks themselves (refresh reads, creates) are test_aws_stacks_iam.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import yaml

from conftest import REPO_ROOT, mutate
from test_aws_bootstrap_iam import (ACCOUNT, IAM, KEY, POINTER, REGION, RELEASE_OBJ, RELEASES, REPOS, SSE_STATE, STATE,
                                    STACK as BOOTSTRAP, TESTS as BOOTSTRAP_TESTS, Account)


@dataclass(frozen=True)
class Call:
    action: str
    resource: str
    context: tuple = ()


def call(action, resource="*", **ctx) -> Call:
    return Call(action, resource, tuple(sorted(ctx.items())))


SSE = {**SSE_STATE, "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY["state"]}
CLUSTER = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/shipshape"
VM_DOCUMENT = f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/shipshape-deploy-release"
VM_INSTANCE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
PREVIOUS = f"{RELEASES}/shipshape/previous.json"
ONCE = {"s3:if-none-match": "*", "s3:ObjectCreationOperation": "PutObject"}


def state_read(stack: str) -> list[Call]:
    # terraform init (S3 backend: lists the workspaces) and reading the state (KMS-encrypted).
    return [call("s3:ListBucket", STATE), call("s3:GetObject", f"{STATE}/{stack}/terraform.tfstate"),
            call("kms:Decrypt", KEY["state"])]


def state_lock(stack: str) -> list[Call]:
    lock = f"{STATE}/{stack}/terraform.tfstate.tflock"
    return [call("s3:PutObject", lock, **SSE), call("s3:DeleteObject", lock), call("kms:GenerateDataKey", KEY["state"])]


def state_write(stack: str) -> list[Call]:
    return [call("s3:PutObject", f"{STATE}/{stack}/terraform.tfstate", **SSE), call("kms:Encrypt", KEY["state"]),
            call("kms:GenerateDataKey", KEY["state"])]


def ecr_login() -> list[Call]:
    return [call("ecr:GetAuthorizationToken")]


def ecr_pull(repo: str) -> list[Call]:
    return [call("ecr:BatchGetImage", REPOS[repo]), call("ecr:GetDownloadUrlForLayer", REPOS[repo])]


def ecr_push(repo: str) -> list[Call]:
    return [call(a, REPOS[repo]) for a in ("ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                                           "ecr:CompleteLayerUpload", "ecr:PutImage")]


def kms_sign() -> list[Call]:
    return [call("kms:Sign", KEY["cosign"]), call("kms:GetPublicKey", KEY["cosign"]), call("kms:DescribeKey", KEY["cosign"])]


def kms_verify() -> list[Call]:
    # cosign's awskms verifier: the public key (verified locally), or KMS Verify.
    return [call("kms:GetPublicKey", KEY["cosign"]), call("kms:Verify", KEY["cosign"]), call("kms:DescribeKey", KEY["cosign"])]


def release_get(*keys: str) -> list[Call]:
    # GetObject; with s3:ListBucket on the prefix a missing key answers 404 instead of 403.
    return [call("s3:ListBucket", RELEASES, **{"s3:prefix": "shipshape/releases/x"})] + [call("s3:GetObject", k) for k in keys]


# script -> (the role its job assumes, {command found in the script: the IAM calls it implies})
SCRIPTS: dict[str, tuple[str | None, dict[str, list[Call]]]] = {
    "scripts/tf-plan.sh": ("plan", {
        "tf_init": state_read("aws/vm") + state_read("aws/eks"),
        "aws s3 cp": [call("s3:GetObject", f"{STATE}/aws/vm/terraform.tfvars"), call("s3:GetObject", f"{STATE}/aws/eks/terraform.tfvars"),
                      call("kms:Decrypt", KEY["state"])],
        # plan: takes the lock; its refresh and data source reads are test_aws_stacks_iam.py's (plan role),
        # among them the signing key's public key and the release bucket's location (infra/aws/vm).
        "terraform plan": state_lock("aws/vm") + state_lock("aws/eks") + [
            call("kms:GetPublicKey", KEY["cosign"]), call("kms:DescribeKey", KEY["cosign"]),
            call("s3:GetBucketLocation", RELEASES), call("s3:ListBucket", RELEASES)],
        "terraform show": [],
    }),
    "scripts/tf-apply.sh": ("apply", {
        "tf_init": state_read("aws/vm") + state_read("aws/eks"),
        "terraform apply": state_lock("aws/vm") + state_write("aws/vm") + state_lock("aws/eks") + state_write("aws/eks"),
    }),
    "scripts/publish.sh": ("publish", {
        "aws ecr get-login-password": ecr_login(),
        "aws ecr describe-images": [call("ecr:DescribeImages", REPOS["shipshape"]), call("ecr:DescribeImages", REPOS["charts/shipshape"])],
        "docker login": [],
        # The whole image index from the OCI archive (skopeo reads the docker login's auth file).
        "skopeo copy": ecr_push("shipshape"),
        "cosign sign": kms_sign() + ecr_push("shipshape") + ecr_push("charts/shipshape") + ecr_pull("shipshape") + ecr_pull("charts/shipshape"),
        "cosign attest": kms_sign() + ecr_push("shipshape"),
        "cosign verify": [call("kms:GetPublicKey", KEY["cosign"])] + ecr_pull("shipshape") + ecr_pull("charts/shipshape"),
        "helm package": [], "helm registry login": ecr_login(),
        "helm push": ecr_push("charts/shipshape"),
    }),
    "scripts/publish-vm.sh": ("publish", {
        "aws s3api get-object": release_get(RELEASE_OBJ, f"{RELEASE_OBJ}.sha256", f"{RELEASE_OBJ}.sig"),
        # Write-once: the bucket policy refuses a release put without If-None-Match.
        "aws s3api put-object": [call("s3:PutObject", k, **ONCE) for k in (RELEASE_OBJ, f"{RELEASE_OBJ}.sha256", f"{RELEASE_OBJ}.sig")],
        "cosign sign-blob": kms_sign(),
        "cosign verify-blob": [call("kms:GetPublicKey", KEY["cosign"])],
    }),
    "scripts/deploy-eks.sh": ("deploy", {
        "tf_output": state_read("aws/eks"),
        "aws eks describe-cluster": [call("eks:DescribeCluster", CLUSTER)],
        "aws eks update-kubeconfig": [call("eks:DescribeCluster", CLUSTER)],
        "aws ecr get-login-password": ecr_login(),
        "helm registry login": ecr_login(),
        "cosign verify": kms_verify() + ecr_pull("shipshape") + ecr_pull("charts/shipshape"),
        "aws ecr describe-images": [call("ecr:DescribeImages", REPOS["charts/shipshape"])],
        # helm pulls the chart (OCI) from ECR; the rest is Kubernetes RBAC (the deploy access entry).
        "helm upgrade": ecr_pull("charts/shipshape"),
        "helm history": [], "helm rollback": [], "helm test": [],
    }),
    "scripts/deploy-vm.sh": ("deploy", {
        "tf_output": state_read("aws/vm"),
        "aws s3api get-object": release_get(RELEASE_OBJ, f"{RELEASE_OBJ}.sha256", f"{RELEASE_OBJ}.sig", POINTER, PREVIOUS),
        "aws s3api put-object": [call("s3:PutObject", POINTER), call("s3:PutObject", PREVIOUS)],
        "cosign verify-blob": kms_verify(),
        "aws ssm send-command": [call("ssm:SendCommand", VM_DOCUMENT),
                                 call("ssm:SendCommand", VM_INSTANCE, **{"aws:ResourceTag/Project": "shipshape", "aws:ResourceTag/Stack": "aws/vm"})],
        "aws ssm list-commands": [call("ssm:ListCommands")],
        "aws ssm list-command-invocations": [call("ssm:ListCommandInvocations")],
    }),
    # The platform administrator's role runs it (infra/aws/eks README "Apply order"), never a CI role.
    "scripts/eks-platform.sh": (None, {
        "tf_output": [], "aws eks update-kubeconfig": [], "helm repo add": [], "helm upgrade": [],
        "aws secretsmanager describe-secret": [], "aws secretsmanager get-random-password": [],
        "aws secretsmanager put-secret-value": [], "aws secretsmanager rotate-secret": [],
        "aws cloudformation describe-stacks": [], "aws cloudformation describe-change-set": [],
        "aws cloudformation execute-change-set": [], "aws cloudformation wait": [],
        "aws serverlessrepo create-cloud-formation-change-set": [], "aws lambda get-function": [],
    }),
    "scripts/release-binary.sh": (None, {}),
}

AWS_SERVICES = {"s3", "s3api", "ecr", "eks", "ssm", "sts", "kms", "iam", "rds", "cloudformation", "serverlessrepo",
                "secretsmanager", "lambda", "ec2", "elbv2", "logs", "route53"}
COMMAND = re.compile(
    r"\baws (?P<svc>[a-z0-9]+) (?P<cmd>[a-z0-9-]+)"
    r"|\bcosign (?P<cosign>sign-blob|verify-blob|sign|verify|attest)\b"
    r"|\bdocker (?P<docker>push|pull|login|load|tag)\b"
    r"|\bskopeo (?P<skopeo>copy|sync)\b"
    r"|\bhelm (?P<helm>push|pull|upgrade|package|history|rollback|test|registry login|repo add)\b"
    r"|\bterraform\b[^\n|]*? (?P<tf>plan|apply|init|output|show)\b"
    r"|\b(?P<tfl>tf_init|tf_output)\b")


# Libraries a delivery script sources for its own commands (the VM release bucket of publish-vm and
# deploy-vm): their commands are the script's. scripts/delivery/lib.sh is not one: its helpers count
# where a script calls them (tf_init, tf_output).
SOURCED = re.compile(r"^source (scripts/delivery/(?!lib\.sh)[\w-]+\.sh)$")


def commands(path) -> set[str]:
    """The cloud commands of a script (comments ignored), with those of the libraries it sources."""
    found = set()
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if m := SOURCED.match(line.strip()):
            found |= commands(REPO_ROOT / m.group(1))
            continue
        for m in COMMAND.finditer(line):
            if m.group("svc"):
                if m.group("svc") in AWS_SERVICES:
                    found.add(f"aws {m.group('svc')} {m.group('cmd')}")
            elif m.group("cosign"):
                found.add(f"cosign {m.group('cosign')}")
            elif m.group("docker"):
                found.add(f"docker {m.group('docker')}")
            elif m.group("skopeo"):
                found.add(f"skopeo {m.group('skopeo')}")
            elif m.group("helm"):
                found.add(f"helm {m.group('helm')}")
            elif m.group("tf"):
                found.add(f"terraform {m.group('tf')}")
            else:
                found.add(m.group("tfl"))
    return found


@pytest.fixture(scope="session")
def account(stack_test) -> Account:
    result = stack_test(BOOTSTRAP, BOOTSTRAP_TESTS)
    assert result.ok, result.failures + result.diagnostics
    return Account.from_plan(result.plan("policies"))


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_table_is_the_script(script):
    declared = set(SCRIPTS[script][1])
    found = commands(REPO_ROOT / script)
    assert found - declared == set(), f"{script}: cloud commands not in SCRIPTS (reason about their permissions): {sorted(found - declared)}"
    assert declared - found == set(), f"{script}: SCRIPTS declares commands the script no longer runs: {sorted(declared - found)}"


def missing(a: Account, role: str, calls) -> list[str]:
    return sorted({f"{role} may not {c.action} on {c.resource} {dict(c.context) or ''}".rstrip()
                   for c in calls if not a.can(role, c.action, c.resource, **dict(c.context))})


@pytest.mark.parametrize("script", sorted(s for s, (role, _) in SCRIPTS.items() if role))
def test_role_allows_what_the_script_calls(account, script):
    role, table = SCRIPTS[script]
    holes = missing(account, role, [c for calls in table.values() for c in calls])
    assert not holes, "\n".join(holes)


# Actions a role's own policy may name although no script calls them directly, with the reason.
NOT_CALLED = {
    # Other state files of the stacks: plan/apply/deploy read every stack's state and variables.
    ("plan", "s3:GetObject"), ("apply", "s3:GetObject"), ("deploy", "s3:GetObject"),
}


def own_allows(a: Account, role: str) -> list[str]:
    doc = a.policies[f"{IAM}:policy/shipshape-ci-{role}"]
    return [act for st in doc["Statement"] if st["Effect"] == "Allow"
            for act in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]


def unused(a: Account, role: str) -> list[str]:
    from iam_eval import _glob
    used = {c.action for s, (r, table) in SCRIPTS.items() if r == role for calls in table.values() for c in calls}
    return sorted({act for act in own_allows(a, role)
                   if (role, act) not in NOT_CALLED and not any(_glob(act, u, ignore_case=True) for u in used)})


@pytest.mark.parametrize("role", ["plan", "publish", "deploy"])
def test_role_allows_nothing_its_scripts_do_not_call(account, role):
    extra = unused(account, role)
    assert not extra, f"{role} allows what none of its scripts calls: {extra}"


# Which job runs which script, with which role and context.
JOB_ROLE = {"plan": "AWS_PLAN_ROLE_ARN", "apply": "AWS_APPLY_ROLE_ARN", "publish": "AWS_PUBLISH_ROLE_ARN", "deploy": "AWS_DEPLOY_ROLE_ARN"}
JOB_SCRIPT = {"tf-plan": "scripts/tf-plan.sh", "tf-apply": "scripts/tf-apply.sh", "publish": "scripts/publish.sh",
              "publish-vm": "scripts/publish-vm.sh", "deploy-eks": "scripts/deploy-eks.sh", "deploy-vm": "scripts/deploy-vm.sh"}


def test_jobs_assume_the_role_of_their_script():
    cfg = yaml.safe_load((REPO_ROOT / ".circleci/config.yml").read_text())
    contexts = {}
    for wf in cfg["workflows"].values():
        for entry in wf.get("jobs", []):
            if isinstance(entry, dict):
                (name, params), = entry.items()
                ctx = params.get("context") or []
                contexts[name] = [ctx] if isinstance(ctx, str) else ctx
    for job, script in JOB_SCRIPT.items():
        role = SCRIPTS[script][0]
        steps = cfg["jobs"][job]["steps"]
        roles = [s["aws-role"]["role_arn"] for s in steps if isinstance(s, dict) and "aws-role" in s]
        assert roles == [f"${{{JOB_ROLE[role]}}}"], f"{job} assumes {roles}, not the {role} role"
        assert f"shipshape-aws-{role}" in contexts[job], f"{job} runs without the {role} context {contexts[job]}"
    for job in cfg["jobs"]:
        assert "eks-platform" not in str(cfg["jobs"][job]["steps"]), "the platform layer is the administrator's, not CI's"


# -------------------------------------------------------------------------------------------- mutations

BOOT_IAM = "infra/aws/bootstrap/iam.tf"
MUTATIONS = {
    "deploy cannot describe the cluster": ("deploy", 'Action   = ["eks:DescribeCluster"]', 'Action   = ["eks:ListClusters"]'),
    "deploy cannot verify signatures": ("deploy", '''Action   = ["kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"]''', '''Action   = ["kms:DescribeKey"]'''),
    # (Not kms:Sign: the cosign key's own policy grants it to the publish role, whatever IAM says.)
    "publish cannot push": ("publish", '"ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"', '"ecr:InitiateLayerUpload", "ecr:UploadLayerPart"'),
    "plan cannot take the lock": ("plan", 'Action   = ["s3:PutObject", "s3:DeleteObject"]\n        Resource = local.stack_lock_files',
                                  'Action   = ["s3:DeleteObject"]\n        Resource = local.stack_lock_files'),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_missing_permission_is_caught(terraform, tmp_path, name):
    role, old, new = MUTATIONS[name]
    root = mutate(tmp_path, {BOOT_IAM: [(old, new)]})
    result = terraform.test(root / BOOTSTRAP, filter=BOOTSTRAP_TESTS)
    a = Account.from_plan(result.plan("policies"))
    holes = [h for script, (r, table) in SCRIPTS.items() if r == role
             for h in missing(a, role, [c for calls in table.values() for c in calls])]
    assert holes, f"removing a permission of {role} ({name}) went unnoticed"


def test_mutation_extra_permission_is_caught(terraform, tmp_path):
    root = mutate(tmp_path, {BOOT_IAM: [('Action   = ["ssm:ListCommandInvocations", "ssm:ListCommands"]', 'Action   = ["ssm:GetParameter", "ssm:ListCommandInvocations", "ssm:ListCommands"]')]})
    result = terraform.test(root / BOOTSTRAP, filter=BOOTSTRAP_TESTS)
    assert "ssm:GetParameter" in unused(Account.from_plan(result.plan("policies")), "deploy")


def test_mutation_undeclared_command_is_caught(tmp_path):
    script = tmp_path / "deploy-vm.sh"
    script.write_text((REPO_ROOT / "scripts/deploy-vm.sh").read_text() + '\naws ssm start-session --target "$ID"\n')
    assert "aws ssm start-session" in commands(script) - set(SCRIPTS["scripts/deploy-vm.sh"][1])
