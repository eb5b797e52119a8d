"""Escalation probes over the bootstrap's *planned* IAM documents (terraform test + mock provider, run
"policies" of infra/aws/bootstrap/tests/policies.tftest.hcl): trust policies, the CI roles' managed policies,
the stack boundary, bucket and key policies, evaluated by tests/infra/iam_eval.py. Each probe lists the
holes it finds; the tests assert there are none, and each probe's mutation test re-opens its hole in the
Terraform of a copied repository and asserts the probe finds it. parliament and cloudsplaining run over
the same documents."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import mutate
from iam_eval import Principal, Request, decide

STACK = "infra/aws/bootstrap"
TESTS = "tests/policies.tftest.hcl"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ORG = "00000000-0000-4000-8000-000000000000"
PROJECT = "11111111-1111-4111-8111-111111111111"
USER = "22222222-2222-4222-8222-222222222222"
ORIGIN = "github.com/acme/shipshape"
CONTEXTS = {
    "plan": "aaaaaaaa-0000-4000-8000-000000000001",
    "apply": "aaaaaaaa-0000-4000-8000-000000000002",
    "publish": "aaaaaaaa-0000-4000-8000-000000000003",
    "deploy": "aaaaaaaa-0000-4000-8000-000000000004",
}
IAM = f"arn:aws:iam::{ACCOUNT}"
HOST = f"oidc.circleci.com/org/{ORG}"
OIDC_ARN = f"{IAM}:oidc-provider/{HOST}"
STATE = f"arn:aws:s3:::shipshape-tfstate-{ACCOUNT}-{REGION}"
RELEASES = f"arn:aws:s3:::shipshape-releases-{ACCOUNT}-{REGION}"
LOGS = f"arn:aws:s3:::shipshape-s3-logs-{ACCOUNT}-{REGION}"
KEY = {k: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-00000000000{c}" for k, c in (("state", "a"), ("artifacts", "b"), ("cosign", "c"))}
STACK_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-0000-4000-8000-000000000000"
REPOS = {n: f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{n}" for n in ("shipshape", "charts/shipshape")}
CI_ROLES = ("plan", "apply", "publish", "deploy")
POINTER = f"{RELEASES}/shipshape/current.json"
# What Terraform's S3 backend sends with every put (encrypt = true, kms_key_id = the state key).
SSE_STATE = {"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": None}
RELEASE_OBJ = f"{RELEASES}/shipshape/releases/1.4.0/shipshape-linux-amd64"
BOUNDARY = f"{IAM}:policy/shipshape-ci-stack-boundary"


# ---------------------------------------------------------------------------------- the planned account


def _resources(plan: dict):
    """Managed resources of a plan as {address, type, values} (the test_plan message carries
    resource_changes; their "after" is the planned value)."""
    for rc in plan["resource_changes"]:
        if rc["mode"] == "managed" and rc["change"]["after"] is not None:
            yield {"address": rc["address"], "type": rc["type"], "values": rc["change"]["after"]}


@dataclass
class Account:
    """The planned IAM of the bootstrap, queryable like the real account would be."""

    roles: dict = field(default_factory=dict)  # role name -> planned aws_iam_role values
    policies: dict = field(default_factory=dict)  # policy ARN -> document
    attached: dict = field(default_factory=dict)  # role name -> [policy ARN]
    buckets: dict = field(default_factory=dict)  # bucket ARN -> bucket policy document
    keys: dict = field(default_factory=dict)  # key ARN -> key policy document
    ecr: dict = field(default_factory=dict)  # repository name -> planned values

    @classmethod
    def from_plan(cls, plan: dict) -> "Account":
        acct = cls()
        res = list(_resources(plan))
        bucket_of_module = {r["address"].rsplit(".aws_s3_bucket.", 1)[0]: r["values"]["bucket"] for r in res if r["type"] == "aws_s3_bucket"}
        for r in res:
            v = r["values"]
            if r["type"] == "aws_iam_role":
                acct.roles[v["name"]] = v
            elif r["type"] == "aws_iam_policy":
                acct.policies[f"{IAM}:policy/{v['name']}"] = json.loads(v["policy"])
            elif r["type"] == "aws_iam_role_policy_attachment":
                acct.attached.setdefault(v["role"], []).append(v["policy_arn"])
            elif r["type"] == "aws_iam_role_policy":
                raise AssertionError(f"{r['address']}: CI roles use managed policies only (inline ones escape the policy probes)")
            elif r["type"] == "aws_s3_bucket_policy":
                module = r["address"].rsplit(".aws_s3_bucket_policy.", 1)[0]
                acct.buckets[f"arn:aws:s3:::{bucket_of_module[module]}"] = json.loads(v["policy"])
            elif r["type"] == "aws_kms_key":
                acct.keys[v["arn"]] = json.loads(v["policy"])
            elif r["type"] == "aws_ecr_repository":
                acct.ecr[v["name"]] = v
        return acct

    def role_arn(self, role: str) -> str:
        return f"{IAM}:role/shipshape-ci-{role}"

    def identity(self, role: str) -> list:
        name = f"shipshape-ci-{role}"
        arns = self.attached.get(name, [])
        missing = [a for a in arns if a not in self.policies]
        assert not missing, f"{name} attaches policies this stack does not define (AWS-managed?): {missing}"
        return [self.policies[a] for a in arns]

    def resource_policy(self, resource: str) -> list:
        for bucket, doc in self.buckets.items():
            if resource == bucket or resource.startswith(bucket + "/"):
                return [doc]
        return []

    def decide(self, principal_arn: str, identity: list, action: str, resource: str, context=None, boundary=None) -> str:
        ctx = {"aws:PrincipalArn": principal_arn, "aws:RequestedRegion": REGION, **(context or {})}
        req = Request(action, resource, ctx, Principal(principal_arn))
        if resource in self.keys:
            return self._kms(req, identity, boundary)
        return decide(req, identity, boundary=boundary, resource=self.resource_policy(resource))

    def _kms(self, req: Request, identity: list, boundary) -> str:
        """KMS: the key policy must allow the principal itself, or allow the account root (delegating
        to IAM) and then IAM must allow it; an explicit deny anywhere wins."""
        key_policy = self.keys[req.resource]
        own = decide(req, identity, boundary=boundary, resource=[key_policy])
        if own == "ExplicitDeny":
            return own
        direct = decide(req, resource=[key_policy]) == "Allow"
        root = Request(req.action, req.resource, req.context, Principal(f"{IAM}:root"))
        delegated = decide(root, resource=[key_policy]) == "Allow" and decide(req, identity, boundary=boundary) == "Allow"
        return "Allow" if direct or delegated else "ImplicitDeny"

    def can(self, role: str, action: str, resource: str, **context) -> bool:
        return self.decide(self.role_arn(role), self.identity(role), action, resource, context) == "Allow"

    def stack_role_can(self, action: str, resource: str, identity=None, **context) -> bool:
        """A role the stacks create: whatever identity policy apply gives it, capped by the boundary."""
        identity = identity or [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
        return self.decide(f"{IAM}:role/shipshape-eks-node", identity, action, resource, context, boundary=self.policies[BOUNDARY]) == "Allow"

    def assumes(self, role: str, claims: dict) -> bool:
        trust = json.loads(self.roles[f"shipshape-ci-{role}"]["assume_role_policy"])
        ctx = {f"{HOST}:{k}": v for k, v in claims.items() if v is not None}
        req = Request("sts:AssumeRoleWithWebIdentity", self.role_arn(role), ctx, Principal(OIDC_ARN, "Federated"))
        return decide(req, resource=[trust]) == "Allow"


def load(terraform, root: Path | None = None) -> Account:
    directory = (root / STACK) if root else STACK
    result = terraform.test(directory, filter=TESTS)
    assert result.ok, f"terraform test failed: {result.failures}\n" + "\n".join(result.diagnostics)
    return Account.from_plan(result.plan("policies"))


@pytest.fixture(scope="session")
def account(stack_test) -> Account:
    result = stack_test(STACK, TESTS)
    assert result.ok, f"terraform test failed: {result.failures}\n" + "\n".join(result.diagnostics)
    return Account.from_plan(result.plan("policies"))


# ------------------------------------------------------------------------------------------- probes
# Each probe returns the holes it finds, as readable sentences; [] means closed.


def token(ref="refs/heads/main", context=None, ssh_rerun=False, origin=ORIGIN, project=PROJECT, v2=True, sub=None):
    base = f"org/{ORG}/project/{project}/user/{USER}"
    return {
        "aud": ORG,
        "sub": sub or (f"{base}/vcs-origin/{origin}/vcs-ref/{ref}" if v2 else base),
        "oidc.circleci.com/project-id": project,
        "oidc.circleci.com/vcs-origin": origin,
        "oidc.circleci.com/vcs-ref": ref,
        "oidc.circleci.com/context-ids": [] if context is None else context,
        "oidc.circleci.com/ssh-rerun": ssh_rerun,
    }


def probe_trust(a: Account) -> list[str]:
    holes = []
    for role in CI_ROLES:
        ctx = [CONTEXTS[role]]
        if not a.assumes(role, token(context=ctx)):
            holes.append(f"{role}: a job on main in its context cannot assume it (the pipeline is broken)")
        bad = {
            "without the role's context": token(context=[]),
            "in another role's context": token(context=[CONTEXTS["plan" if role != "plan" else "apply"]]),
            "from an SSH rerun": token(context=ctx, ssh_rerun=True),
            "without the ssh-rerun claim": token(context=ctx, ssh_rerun=None),
            "from another project": token(context=ctx, project="33333333-3333-4333-8333-333333333333"),
            "with another audience": {**token(context=ctx), "aud": "sts.amazonaws.com"},
        }
        if role != "plan":
            bad |= {
                "from another branch": token(ref="refs/heads/feature/x", context=ctx),
                "from a branch named like main": token(ref="refs/heads/main-evil", context=ctx),
                "from another repository": token(context=ctx, origin="github.com/evil/shipshape"),
                "from a V1 token (no ref in sub)": token(context=ctx, v2=False),
                "from a branch smuggling the pattern into sub": token(
                    ref="refs/heads/x", context=ctx,
                    sub=f"org/{ORG}/project/{PROJECT}/user/{USER}/vcs-origin/{ORIGIN}/vcs-ref/refs/heads/x/vcs-origin/{ORIGIN}/vcs-ref/refs/heads/main"),
                "from a pull request ref": token(ref="refs/pull/7/head", context=ctx),
            }
        if role == "apply":
            bad["from a release tag"] = token(ref="refs/tags/v1.0.0", context=ctx)
        if role in ("publish", "deploy"):
            if not a.assumes(role, token(ref="refs/tags/v1.0.0", context=ctx)):
                holes.append(f"{role}: a release tag v1.0.0 cannot assume it (release tags never deploy)")
            bad["from a tag that is not a release"] = token(ref="refs/tags/nightly", context=ctx)
        if role == "plan" and not a.assumes("plan", token(ref="refs/heads/feature/x", context=ctx)):
            holes.append("plan: a feature branch cannot plan")
        holes += [f"{role}: trust admits a token {why}" for why, claims in bad.items() if a.assumes(role, claims)]
    return holes


CI_IDENTITY = [f"{IAM}:role/shipshape-ci-{r}" for r in CI_ROLES] + [
    f"{IAM}:policy/shipshape-ci-{p}" for p in ("plan", "apply", "publish", "deploy", "guardrails", "stack-read", "stack-boundary")
] + [OIDC_ARN]
IAM_WRITES = [
    "iam:AttachRolePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PassRole",
    "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:SetDefaultPolicyVersion", "iam:TagRole",
    "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider",
]


def probe_pipeline_identity(a: Account) -> list[str]:
    """No CI role may write its own (or another CI role's) role, policies, the boundary or the OIDC trust."""
    holes = []
    for role in CI_ROLES:
        for target in CI_IDENTITY:
            for action in IAM_WRITES:
                for ctx in ({}, {"iam:PermissionsBoundary": BOUNDARY, "iam:PassedToService": "ec2.amazonaws.com"}):
                    if a.can(role, action, target, **ctx):
                        holes.append(f"{role} may {action} on {target.split(':', 5)[5]}")
                        break
    return sorted(set(holes))


def probe_boundary_required(a: Account) -> list[str]:
    holes = []
    role = f"{IAM}:role/shipshape-x"
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:DeleteRolePolicy"):
        if not a.can("apply", action, role, **{"iam:PermissionsBoundary": BOUNDARY}):
            holes.append(f"apply cannot {action} with the stack boundary (the stacks cannot be applied)")
        for boundary in (None, f"arn:aws:iam::aws:policy/AdministratorAccess", f"{IAM}:policy/shipshape-x"):
            ctx = {} if boundary is None else {"iam:PermissionsBoundary": boundary}
            for r in CI_ROLES:
                if a.can(r, action, role, **ctx):
                    holes.append(f"{r} may {action} on a role {'without a boundary' if boundary is None else 'bounded by ' + boundary}")
    for r in CI_ROLES:
        if a.can(r, "iam:DeleteRolePermissionsBoundary", role):
            holes.append(f"{r} may remove a stack role's boundary")
        if a.can(r, "iam:PutRolePermissionsBoundary", role, **{"iam:PermissionsBoundary": f"{IAM}:policy/shipshape-x"}):
            holes.append(f"{r} may replace a stack role's boundary")
    return holes


def probe_pass_role(a: Account) -> list[str]:
    holes = []
    role = f"{IAM}:role/shipshape-x"
    if not a.can("apply", "iam:PassRole", role, **{"iam:PassedToService": "ec2.amazonaws.com"}):
        holes.append("apply cannot pass a stack role to EC2 (the VM and EKS stacks cannot be applied)")
    for svc in ("lambda.amazonaws.com", "cloudformation.amazonaws.com", "codebuild.amazonaws.com", "ecs-tasks.amazonaws.com", "glue.amazonaws.com"):
        for r in CI_ROLES:
            if a.can(r, "iam:PassRole", role, **{"iam:PassedToService": svc}):
                holes.append(f"{r} may pass a role to {svc}")
    for r in CI_ROLES:
        if a.can(r, "iam:PassRole", f"{IAM}:role/admin", **{"iam:PassedToService": "ec2.amazonaws.com"}):
            holes.append(f"{r} may pass a role outside the stacks' names")
    return holes


def probe_role_chaining(a: Account) -> list[str]:
    return [f"{r} may sts:AssumeRole into {t}" for r in CI_ROLES for t in (f"{IAM}:role/shipshape-x", f"{IAM}:role/admin") if a.can(r, "sts:AssumeRole", t)]


def probe_stack_boundary(a: Account) -> list[str]:
    """A stack role given Allow *:* by apply: what the boundary still refuses, and what workloads need."""
    holes = []
    never = [
        ("iam:CreateRole", f"{IAM}:role/shipshape-y"), ("iam:PutRolePolicy", f"{IAM}:role/shipshape-eks-node"),
        ("iam:AttachRolePolicy", f"{IAM}:role/shipshape-eks-node"), ("iam:CreatePolicyVersion", f"{IAM}:policy/shipshape-x"),
        ("iam:UpdateAssumeRolePolicy", f"{IAM}:role/shipshape-x"), ("iam:CreateAccessKey", f"{IAM}:user/x"),
        ("iam:PassRole", f"{IAM}:role/shipshape-ci-apply"), ("iam:PassRole", f"{IAM}:role/admin"),
        ("sts:AssumeRole", f"{IAM}:role/admin"), ("kms:Sign", KEY["cosign"]), ("kms:PutKeyPolicy", KEY["state"]),
        ("kms:Decrypt", KEY["state"]), ("s3:GetObject", f"{STATE}/aws/eks/terraform.tfstate"), ("s3:PutObject", POINTER),
        ("s3:PutObject", RELEASE_OBJ), ("s3:DeleteObject", RELEASE_OBJ), ("s3:PutBucketPolicy", RELEASES),
        ("s3:DeleteObject", f"{LOGS}/state/x"), ("ecr:PutImage", REPOS["shipshape"]), ("ecr:BatchDeleteImage", REPOS["shipshape"]),
        ("ecr:PutImageTagMutability", REPOS["shipshape"]), ("organizations:LeaveOrganization", "*"),
    ]
    holes += [f"a stack role may {act} on {res}" for act, res in never if a.stack_role_can(act, res, **{"iam:PassedToService": "ec2.amazonaws.com"})]
    needed = [
        ("ec2:RunInstances", "*"), ("elasticloadbalancing:CreateLoadBalancer", "*"), ("s3:GetObject", RELEASE_OBJ),
        ("s3:GetObject", POINTER), ("secretsmanager:GetSecretValue", "*"), ("ssmmessages:OpenDataChannel", "*"),
        ("logs:PutLogEvents", "*"), ("route53:ChangeResourceRecordSets", "*"), ("ecr:BatchGetImage", REPOS["shipshape"]),
        ("eks-auth:AssumeRoleForPodIdentity", "*"), ("iam:CreateInstanceProfile", "*"),
    ]
    holes += [f"the boundary refuses {act} that a stack role needs" for act, res in needed if not a.stack_role_can(act, res)]
    if not a.stack_role_can("iam:PassRole", f"{IAM}:role/shipshape-eks-node", **{"iam:PassedToService": "ec2.amazonaws.com"}):
        holes.append("the EKS cluster role cannot pass the node role to EC2 (Auto Mode nodes never launch)")
    return holes


def probe_web_identity_in_stack_roles(a: Account) -> list[str]:
    """A stack role whose trust policy a CircleCI token could meet is still powerless in that session."""
    ctx = {"aws:FederatedProvider": OIDC_ARN}
    return [f"a stack role assumed with a CircleCI token may {act}" for act, res in (
        ("ec2:RunInstances", "*"), ("secretsmanager:GetSecretValue", "*"), ("s3:GetObject", RELEASE_OBJ),
    ) if a.stack_role_can(act, res, **ctx)]


def probe_plan_reads(a: Account) -> list[str]:
    holes = []
    never = [
        ("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/payroll.csv"), ("s3:GetObject", RELEASE_OBJ),
        ("s3:GetObject", f"{LOGS}/state/2026-01-01"), ("s3:GetObjectVersion", "arn:aws:s3:::other/x"),
        ("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/db-password"),
        ("ssm:GetParametersByPath", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app"),
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-1"),
        ("logs:GetLogEvents", "*"), ("logs:FilterLogEvents", "*"), ("logs:StartQuery", "*"),
        ("ec2:GetConsoleOutput", "*"), ("ec2:GetPasswordData", "*"), ("ec2:GetLaunchTemplateData", "*"),
        ("rds:DownloadDBLogFilePortion", "*"), ("aps:QueryMetrics", "*"),
        ("s3:PutObject", f"{STATE}/aws/vm/terraform.tfstate"), ("s3:PutObject", f"{STATE}/aws/vm/terraform.tfvars"),
        ("ec2:RunInstances", "*"), ("kms:Sign", KEY["cosign"]), ("kms:Decrypt", KEY["artifacts"]),
    ]
    holes += [f"plan may {act} on {res}" for act, res in never if a.can("plan", act, res)]
    needed = [
        ("s3:GetObject", f"{STATE}/aws/vm/terraform.tfstate"), ("s3:GetObject", f"{STATE}/aws/eks/terraform.tfvars"),
        ("kms:Decrypt", KEY["state"]),
        ("ssm:GetParameter", f"arn:aws:ssm:{REGION}::parameter/aws/service/debian/release/13/latest/amd64"),
        ("ec2:DescribeInstances", "*"), ("iam:GetRole", f"{IAM}:role/shipshape-eks-node"), ("kms:GetKeyPolicy", STACK_KEY),
        ("kms:GetPublicKey", KEY["cosign"]), ("eks:DescribeCluster", "*"), ("rds:DescribeDBInstances", "*"),
        ("s3:GetBucketPolicy", RELEASES), ("secretsmanager:DescribeSecret", "*"), ("wafv2:GetWebACL", "*"),
    ]
    holes += [f"plan cannot {act} on {res} (a refresh needs it)" for act, res in needed if not a.can("plan", act, res)]
    sse = {**SSE_STATE, "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY["state"]}
    if not a.can("plan", "s3:PutObject", f"{STATE}/aws/vm/terraform.tfstate.tflock", **sse):
        holes.append("plan cannot take the state lock")
    if a.can("plan", "s3:PutObject", f"{STATE}/aws/vm/terraform.tfstate", **sse):
        holes.append("plan may write the state")
    return holes


def probe_signing(a: Account) -> list[str]:
    holes = [f"{r} may sign with the cosign key" for r in ("plan", "apply", "deploy") if a.can(r, "kms:Sign", KEY["cosign"])]
    if not a.can("publish", "kms:Sign", KEY["cosign"]):
        holes.append("publish cannot sign (releases and images go unsigned)")
    admin = [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
    if a.decide(f"{IAM}:role/admin", admin, "kms:Sign", KEY["cosign"]) == "Allow":
        holes.append("an IAM policy alone (an administrator's) may sign with the cosign key: the key policy delegates Sign")
    for act in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CreateGrant", "kms:DisableKey", "kms:ReplicateKey"):
        for k in KEY.values():
            if a.can("apply", act, k):
                holes.append(f"apply may {act} on bootstrap key {k[-1]}")
    for alias in ("cosign", "state", "artifacts"):
        if a.can("apply", "kms:UpdateAlias", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/shipshape-{alias}"):
            holes.append(f"apply may re-point alias/shipshape-{alias}")
    if not a.can("apply", "kms:PutKeyPolicy", STACK_KEY) or not a.can("apply", "kms:CreateKey", "*"):
        holes.append("apply cannot manage the stacks' own keys")
    if not a.can("deploy", "kms:GetPublicKey", KEY["cosign"]):
        holes.append("deploy cannot read the public key to verify signatures")
    return holes


def probe_ecr(a: Account) -> list[str]:
    holes = []
    for repo in REPOS.values():
        for r in ("plan", "apply", "deploy"):
            for act in ("ecr:PutImage", "ecr:BatchDeleteImage", "ecr:InitiateLayerUpload", "ecr:PutImageTagMutability", "ecr:DeleteRepository", "ecr:SetRepositoryPolicy"):
                if a.can(r, act, repo):
                    holes.append(f"{r} may {act} on {repo.rsplit('/', 1)[-1]}")
        for act in ("ecr:BatchDeleteImage", "ecr:PutImageTagMutability", "ecr:DeleteRepository", "ecr:SetRepositoryPolicy", "ecr:DeleteLifecyclePolicy"):
            if a.can("publish", act, repo):
                holes.append(f"publish may {act}")
        if not a.can("publish", "ecr:PutImage", repo):
            holes.append("publish cannot push")
        if not a.can("deploy", "ecr:BatchGetImage", repo):
            holes.append("deploy cannot pull to verify")
    # Tags are immutable except cosign's signature/attestation tags (so a re-run can re-sign).
    from iam_eval import _glob  # the same wildcard semantics as ECR's WILDCARD filter
    for name, repo in a.ecr.items():
        if repo["image_tag_mutability"] not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
            holes.append(f"{name}: tags are mutable ({repo['image_tag_mutability']})")
            continue
        filters = [f["filter"] for f in repo.get("image_tag_mutability_exclusion_filter") or []]
        mutable = lambda tag: repo["image_tag_mutability"] == "IMMUTABLE_WITH_EXCLUSION" and any(_glob(f, tag) for f in filters)
        for tag in ("0a1b2c3d4e5f", "1.4.0", "0.1.0-g0a1b2c3d4e5f", "latest", "sha256-abc.sig.bak", "v1"):
            if mutable(tag):
                holes.append(f"{name}: release tag {tag!r} is mutable")
        for tag in ("sha256-" + "ab" * 32 + ".sig", "sha256-" + "ab" * 32 + ".att"):
            if not mutable(tag):
                holes.append(f"{name}: cosign tag {tag[:14]}... is immutable, so a re-run of publish cannot re-sign")
    return holes


def probe_releases(a: Account) -> list[str]:
    holes = []
    once = {"s3:if-none-match": "*", "s3:ObjectCreationOperation": "PutObject"}
    if not a.can("publish", "s3:PutObject", RELEASE_OBJ, **once):
        holes.append("publish cannot upload a new release")
    if a.can("publish", "s3:PutObject", RELEASE_OBJ, **{"s3:ObjectCreationOperation": "PutObject"}):
        holes.append("publish may overwrite an existing release (no If-None-Match)")
    for key in (POINTER, f"{RELEASES}/shipshape/previous.json"):
        if a.can("publish", "s3:PutObject", key, **once):
            holes.append(f"publish (the signer) may move the release pointer {key.rsplit('/', 1)[-1]}")
        if not a.can("deploy", "s3:PutObject", key):
            holes.append(f"deploy cannot write {key.rsplit('/', 1)[-1]}")
    if a.can("deploy", "s3:PutObject", RELEASE_OBJ, **once):
        holes.append("deploy (the pointer writer) may upload a release")
    if a.can("deploy", "s3:PutObject", f"{RELEASE_OBJ}.sig", **once):
        holes.append("deploy may replace a signature")
    for r in CI_ROLES:
        for act in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
            if a.can(r, act, RELEASE_OBJ):
                holes.append(f"{r} may {act} a release")
        if a.can(r, "s3:PutBucketPolicy", RELEASES):
            holes.append(f"{r} may rewrite the release bucket policy")
    # Any other principal of the account, even with s3:* in its IAM policy, is held by the bucket policy.
    admin = [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
    for key, ctx in ((POINTER, {}), (RELEASE_OBJ, once)):
        if a.decide(f"{IAM}:role/shipshape-vm-instance", admin, "s3:PutObject", key, ctx) == "Allow":
            holes.append(f"a role other than publish/deploy may write {key.rsplit('/', 1)[-1]}")
    return holes


def probe_state(a: Account) -> list[str]:
    holes = []
    sse = {**SSE_STATE, "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY["state"]}
    if a.can("apply", "s3:PutObject", f"{STATE}/aws/vm/terraform.tfvars", **sse):
        holes.append("apply may rewrite a stack's variables (terraform.tfvars)")
    if not a.can("apply", "s3:PutObject", f"{STATE}/aws/vm/terraform.tfstate", **sse):
        holes.append("apply cannot write the state")
    if a.can("apply", "s3:PutObject", f"{STATE}/aws/vm/terraform.tfstate"):
        holes.append("state may be written without the state key (bucket policy)")
    if a.can("apply", "s3:PutObject", f"{STATE}/aws/vm/terraform.tfstate", **{**sse, "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY["artifacts"]}):
        holes.append("state may be written with another key")
    for r in ("publish", "deploy"):
        if a.can(r, "s3:PutObject", f"{STATE}/aws/vm/terraform.tfstate"):
            holes.append(f"{r} may write state")
    if a.can("deploy", "s3:GetObject", f"{STATE}/aws/bootstrap/terraform.tfstate") or a.can("plan", "s3:GetObject", f"{STATE}/aws/bootstrap/terraform.tfstate"):
        holes.append("CI may read the bootstrap's own state")
    return holes


def probe_cluster_access(a: Account) -> list[str]:
    holes = []
    for r in ("plan", "apply", "publish"):
        entry = f"arn:aws:eks:{REGION}:{ACCOUNT}:access-entry/shipshape/role/{ACCOUNT}/shipshape-ci-{r}/0ec7a1f2-0000-4000-8000-000000000000"
        if a.can("apply", "eks:CreateAccessEntry", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/shipshape", **{"eks:principalArn": a.role_arn(r)}):
            holes.append(f"apply may create a cluster access entry for the {r} role")
        for act in ("eks:AssociateAccessPolicy", "eks:UpdateAccessEntry"):
            if a.can("apply", act, entry):
                holes.append(f"apply may {act} for the {r} role (Kubernetes admin for CI)")
    if not a.can("apply", "eks:CreateAccessEntry", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/shipshape", **{"eks:principalArn": a.role_arn("deploy")}):
        holes.append("apply cannot create the deploy role's access entry")
    return holes


PROBES = {
    "trust": probe_trust,
    "pipeline_identity": probe_pipeline_identity,
    "boundary_required": probe_boundary_required,
    "pass_role": probe_pass_role,
    "role_chaining": probe_role_chaining,
    "stack_boundary": probe_stack_boundary,
    "web_identity": probe_web_identity_in_stack_roles,
    "plan_reads": probe_plan_reads,
    "signing": probe_signing,
    "ecr": probe_ecr,
    "releases": probe_releases,
    "state": probe_state,
    "cluster_access": probe_cluster_access,
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe(account, name):
    holes = PROBES[name](account)
    assert not holes, f"{name}: " + "; ".join(holes)


def test_ci_roles_have_only_managed_policies_of_this_stack(account):
    for role in CI_ROLES:
        arns = account.attached[f"shipshape-ci-{role}"]
        assert f"{IAM}:policy/shipshape-ci-guardrails" in arns, f"{role} lacks the guardrails"
        assert all(a.startswith(f"{IAM}:policy/shipshape-ci-") for a in arns), arns
        assert account.roles[f"shipshape-ci-{role}"].get("permissions_boundary") in (None, ""), "CI roles are capped by their own policies"


# ---------------------------------------------------------------------------------------- mutations
# Each re-opens one probe's hole the way a plausible edit would, and the probe must find it.

F = {
    "iam": "infra/aws/bootstrap/iam.tf",
    "oidc": "infra/aws/bootstrap/oidc.tf",
    "kms": "infra/aws/bootstrap/kms.tf",
    "ecr": "infra/aws/bootstrap/ecr.tf",
    "rel": "infra/aws/bootstrap/releases.tf",
}

MUTATIONS = {
    "trust: no context requirement": ("trust", {F["oidc"]: [('"ForAnyValue:StringEquals" = { "${local.claim}/context-ids" = t.context }', "")]}),
    "trust: SSH reruns allowed": ("trust", {F["oidc"]: [('Bool                       = { "${local.claim}/ssh-rerun" = "false" }', "")]}),
    "trust: any branch for apply": ("trust", {F["oidc"]: [('apply   = { refs = ["branch"]', 'apply   = { refs = null')]}),
    "trust: '*' for the user id": ("trust", {F["oidc"]: [('"user", local.uuid_wildcard,', '"user", "*",'), ('"${local.claim}/vcs-ref" = [for r in t.refs : local.refs[r]]', '"${local.claim}/vcs-ref" = ["*"]')]}),
    # Apply writes no managed policy today; the plausible edit that gives it policy writes on "<name>-*"
    # (a stack starts using managed policies) must still never reach the CI roles' own policies.
    "apply may rewrite its own policy": ("pipeline_identity", {F["iam"]: [
        ('    "${local.iam_arn}:policy/${var.name}-ci-*",\n', ""),
        ('"iam:UntagInstanceProfile",\n        ]\n        Resource = local.stack_instance_profile_arns',
         '"iam:UntagInstanceProfile", "iam:CreatePolicyVersion",\n        ]\n        Resource = [local.stack_instance_profile_arns, "${local.iam_arn}:policy/${var.name}-*"]')]}),
    "apply may rewrite a CI role's trust": ("pipeline_identity", {F["iam"]: [('    "${local.iam_arn}:role/${var.name}-ci-*",\n', "")]}),
    "roles without the boundary": ("boundary_required", {F["iam"]: [
        ('Condition = { StringNotEquals = { "iam:PermissionsBoundary" = local.boundary_arn } }', 'Condition = { StringNotEquals = { "iam:PermissionsBoundary" = "*" } }'),
        ('Resource  = local.stack_role_arns\n        Condition = { StringEquals = { "iam:PermissionsBoundary" = local.boundary_arn } }', 'Resource  = local.stack_role_arns')]}),
    "boundary removable": ("boundary_required", {F["iam"]: [
        ('Action   = ["iam:DeleteRolePermissionsBoundary", ', 'Action   = ['),
        ('"iam:DeleteRole", "iam:TagRole",', '"iam:DeleteRole", "iam:DeleteRolePermissionsBoundary", "iam:TagRole",')]}),
    "PassRole to any service": ("pass_role", {F["iam"]: [('Resource  = local.stack_role_arns\n        Condition = { StringEquals = { "iam:PassedToService" = local.pass_role_services } }\n      },\n      # The stacks make no managed', 'Resource  = local.stack_role_arns\n      },\n      # The stacks make no managed')]}),
    "role chaining": ("role_chaining", {F["iam"]: [('Action   = ["sts:AssumeRole", "sts:GetFederationToken"]', 'Action   = ["sts:GetFederationToken"]'), ('"rds:*", "wafv2:*",', '"rds:*", "sts:*", "wafv2:*",')]}),
    "boundary grants IAM": ("stack_boundary", {F["iam"]: [('"iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile", "iam:CreateServiceLinkedRole",', '"iam:*", "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile", "iam:CreateServiceLinkedRole",')]}),
    "boundary lets web identity through": ("web_identity", {F["iam"]: [('Condition = { Null = { "aws:FederatedProvider" = "false" } }', 'Condition = { Null = { "aws:FederatedProvider" = "true" } }')]}),
    "plan reads secrets": ("plan_reads", {F["iam"]: [('"secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue",', '"secretsmanager:BatchGetSecretValue",')]}),
    "plan reads every object": ("plan_reads", {F["iam"]: [('Action      = ["s3:GetObject*"]\n        NotResource = local.stack_state_objects', 'Action      = ["s3:GetObject*"]\n        NotResource = ["arn:${local.partition}:s3:::*"]')]}),
    "key policy delegates Sign": ("signing", {F["kms"]: [('Action    = local.cosign_admin_actions', 'Action    = "kms:*"')]}),
    "apply administers bootstrap keys": ("signing", {F["iam"]: [('NotAction = ["kms:Decrypt", "kms:Describe*", "kms:Encrypt", "kms:GenerateDataKey", "kms:Get*", "kms:List*"]\n        Resource  = local.bootstrap_key_arns', 'NotAction = ["kms:*"]\n        Resource  = local.bootstrap_key_arns')]}),
    "release tags mutable": ("ecr", {F["ecr"]: [('cosign_tag_filters = ["sha256-*.sig", "sha256-*.att", "sha256-*.sbom"]', 'cosign_tag_filters = ["*"]')]}),
    "apply may push images": ("ecr", {F["iam"]: [('"rds:*", "wafv2:*",', '"ecr:*", "rds:*", "wafv2:*",')]}),
    "releases overwritable": ("releases", {F["rel"]: [('Null                    = { "s3:if-none-match" = "true" }', 'Null                    = { "s3:if-none-match" = "false" }')]}),
    "signer moves the pointer": ("releases", {F["rel"]: [('Condition = { ArnNotEquals = { "aws:PrincipalArn" = local.role_arns.deploy } }', 'Condition = { ArnNotEquals = { "aws:PrincipalArn" = [local.role_arns.deploy, local.role_arns.publish] } }')], F["iam"]: [('Action   = ["s3:GetObject", "s3:PutObject"]\n        Resource = local.release_objects_arn', 'Action   = ["s3:GetObject", "s3:PutObject"]\n        Resource = concat([local.release_objects_arn], local.release_pointer_arns)')]}),
    "apply rewrites stack variables": ("state", {F["iam"]: [('Resource = concat(local.stack_state_files, local.stack_lock_files)', 'Resource = local.stack_state_objects')]}),
    "apply makes itself cluster admin": ("cluster_access", {F["iam"]: [('Condition = { ArnLike = { "eks:principalArn" = [local.role_arns.plan, local.role_arns.apply, local.role_arns.publish] } }', 'Condition = { ArnLike = { "eks:principalArn" = ["arn:aws:iam::*:role/nobody"] } }'), ('Action   = ["eks:AssociateAccessPolicy", "eks:UpdateAccessEntry"]', 'Action   = ["eks:UpdateAccessEntry"]')]}),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_caught(terraform, tmp_path, name):
    probe, edits = MUTATIONS[name]
    root = mutate(tmp_path, edits)
    holes = PROBES[probe](load(terraform, root))
    assert holes, f"probe {probe} did not notice the mutation {name!r}"


def test_every_probe_has_a_mutation():
    assert set(PROBES) == {p for p, _ in MUTATIONS.values()}, set(PROBES) - {p for p, _ in MUTATIONS.values()}


# ------------------------------------------------------------------------ parliament and cloudsplaining
# The field's linters over the same planned documents. A finding fails the test unless it is one of the
# reviewed ones below, each with its reason; cloudsplaining's risky actions are checked with the evaluator
# above, which (unlike cloudsplaining) honours the policies' explicit denies.

PARLIAMENT_REVIEWED = {
    # Creating VPCs, instances, clusters, keys and databases has no ARN before they exist: region-bounded.
    ("shipshape-ci-apply", "RESOURCE_STAR"),
    # Refresh reads (describe/get/list) of resources whose ids the stacks create; data reads are denied.
    ("shipshape-ci-stack-read", "RESOURCE_STAR"),
    # A boundary caps, it does not grant: its "*" resources are the AWS-managed data-plane policies' own.
    ("shipshape-ci-stack-boundary", "RESOURCE_STAR"),
    # AWS documents iam:PermissionsBoundary with StringEquals/StringNotEquals (parliament expects Arn*).
    ("shipshape-ci-apply", "MISMATCHED_TYPE_BUT_USABLE"),
    ("shipshape-ci-guardrails", "MISMATCHED_TYPE_BUT_USABLE"),
    # ChangeTagsForResource takes hosted zones too; SendCommand takes instances too (parliament's data is older).
    ("shipshape-ci-apply", "RESOURCE_MISMATCH"),
    ("shipshape-ci-deploy", "RESOURCE_MISMATCH"),
}


def _policy_docs(account: Account):
    return {arn.rsplit("/", 1)[-1]: doc for arn, doc in account.policies.items()}


def test_parliament(account):
    from parliament import analyze_policy_string

    problems = []
    for name, doc in _policy_docs(account).items():
        for f in analyze_policy_string(json.dumps(doc), include_community_auditors=False).findings:
            if (name, f.issue) not in PARLIAMENT_REVIEWED:
                problems.append(f"{name}: {f.issue} {str(f.detail)[:200]}")
    assert not problems, "\n".join(problems)


def _outsider(action: str) -> str:
    """A resource of the action's service that belongs to nobody in the stacks."""
    svc = action.split(":", 1)[0]
    if svc == "iam":
        return f"{IAM}:role/outsider" if "Role" in action else f"{IAM}:policy/outsider"
    if svc == "s3":
        return "arn:aws:s3:::outsider-bucket/object"
    return f"arn:aws:{svc}:{REGION}:{ACCOUNT}:outsider/x"


def test_cloudsplaining(account):
    from cloudsplaining.scan.policy_document import PolicyDocument

    problems = []
    for role in CI_ROLES:
        statements = [st for doc in account.identity(role) for st in doc["Statement"]]
        combined = PolicyDocument({"Version": "2012-10-17", "Statement": statements})
        risky = set()
        for finding in combined.allows_privilege_escalation:
            risky.update(finding["actions"])
        risky.update(combined.allows_data_exfiltration_actions)
        risky.update(combined.permissions_management_without_constraints)
        for action in sorted(risky):
            if account.can(role, action, _outsider(action)):
                problems.append(f"{role}: {action} on a resource outside the stacks")
    assert not problems, "\n".join(problems)
