"""The seam between infra/aws/bootstrap and the stacks its apply role builds, on planned values.

For every resource infra/aws/vm and infra/aws/eks plan (their own `terraform test` runs: VM single and
scaling, EKS mock-applied in us-east-1 and in eu-west-1), ACTIONS below says which IAM actions Terraform's
create/update/replace of it calls, on which resource, with which request context (iam:PermissionsBoundary
of the planned role, iam:PassedToService, eks:principalArn, aws:RequestedRegion = the resource's own
region...). tests/infra/iam_eval.py then evaluates each call against the bootstrap's *planned* apply role
(bootstrap run "policies", or "policies_eu_west_1" for the stack planned there), and REFRESH the reads a
plan makes of each resource and data source against the plan role. So:

* every role a stack creates carries the bootstrap's boundary and a name apply may create (mutation:
  drop a boundary -> caught);
* apply covers every call the stacks imply, and nothing more: every service and every explicitly listed
  action of apply's policy is used by some planned resource (mutation: remove a permission -> caught;
  add an unused one -> caught);
* the plan role can refresh every planned resource and read every data source (mutation: a resource
  whose refresh reads a secret value -> caught);
* the two stacks' account-wide names never collide (same name prefix, same region).

A resource type missing from ACTIONS fails the test: add it after reading what its API calls need
(the "Actions, resources, and condition keys" page of the service, https://docs.aws.amazon.com/service-authorization/latest/reference/).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import REPO_ROOT, mutate
from conftest import load_stack as parse_hcl
from test_aws_bootstrap_iam import ACCOUNT, BOUNDARY, IAM, Account

BOOTSTRAP, BOOTSTRAP_TESTS = "infra/aws/bootstrap", "tests/policies.tftest.hcl"
VM, VM_TESTS = "infra/aws/vm", "tests/vm.tftest.hcl"
EKS, EKS_TESTS = "infra/aws/eks", "tests/plan.tftest.hcl"
REGIONS_TESTS = "tests/regions.tftest.hcl"  # the eu-west-1 runs of the bootstrap and of infra/aws/eks
# (stack, its test file, its run, the bootstrap run it is evaluated against, the run's region)
SCENARIOS = {
    "vm single": (VM, VM_TESTS, "single_vm", "policies", "us-east-1"),
    "vm scaling": (VM, VM_TESTS, "scaling", "policies", "us-east-1"),
    "eks us-east-1": (EKS, EKS_TESTS, "defaults", "policies", "us-east-1"),
    "eks eu-west-1": (EKS, REGIONS_TESTS, "other_region", "policies_eu_west_1", "eu-west-1"),
}


# ------------------------------------------------------------------------------------------ the stacks


@dataclass
class Resource:
    address: str
    type: str
    mode: str  # managed | data
    values: dict


@dataclass
class Stack:
    """One planned (or mock-applied) run of a stack, with lookups across its resources."""

    name: str
    region: str
    resources: list[Resource] = field(default_factory=list)
    # Planned runs: what each argument refers to (values computed at apply are unknown in a plan).
    references: dict[str, dict] = field(default_factory=dict)

    def by_address(self, address: str) -> Resource:
        hits = [r for r in self.managed() if re.sub(r"\[[^]]*\]", "", r.address) == address]
        assert hits, f"{self.name}: no planned {address}"
        return hits[0]

    def referred(self, r: Resource, *path) -> Resource | None:
        """The resource an argument (path into the values, e.g. "iam_instance_profile", 0, "arn")
        refers to: by its value when known, else by the configuration's reference."""
        value = r.values
        for p in path:
            value = (value[p] if isinstance(value, list) and len(value) > p else value.get(p)) if isinstance(value, (list, dict)) and not (isinstance(value, list) and isinstance(p, str)) else None
        node = self.references.get(re.sub(r"\[[^]]*\]", "", r.address), {})
        for p in path:
            node = (node[p] if isinstance(node, list) and isinstance(p, int) and len(node) > p else node.get(p, {}) if isinstance(node, dict) else {})
        refs = node.get("references", []) if isinstance(node, dict) else []
        for ref in refs:
            m = re.match(r"(aws_[a-z0-9_]+\.[a-z0-9_]+)", ref)
            if m and not ref.startswith(("var.", "local.", "data.")):
                return self.by_address(m.group(1))
        return value

    def managed(self) -> list[Resource]:
        return [r for r in self.resources if r.mode == "managed"]

    def data(self) -> list[Resource]:
        return [r for r in self.resources if r.mode == "data"]

    def of_type(self, rtype: str) -> list[Resource]:
        return [r for r in self.managed() if r.type == rtype]

    def region_of(self, r: Resource) -> str:
        """A resource's own region where its configuration sets one (mock providers fill an unset
        optional `region` with a random string, which is not a region name)."""
        region = r.values.get("region") or ""
        return region if re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]", region) else self.region

    def role_name(self, r: Resource) -> str:
        """The role's name as IAM will have it (name_prefix + a unique suffix)."""
        v = r.values
        return v.get("name") or v["name_prefix"] + "0123456789abcdef"

    def role(self, ref: str) -> Resource:
        """The aws_iam_role a value refers to (its id, name or ARN, as the planned values carry them)."""
        for r in self.of_type("aws_iam_role"):
            if ref in (r.values.get("id"), r.values.get("name"), r.values.get("arn")) or ref.endswith(f":role/{self.role_name(r)}"):
                return r
        raise AssertionError(f"{self.name}: no planned aws_iam_role for {ref!r}")

    def role_arn(self, ref: str | Resource) -> str:
        role = ref if isinstance(ref, Resource) else self.role(ref)
        return f"{IAM}:role/{self.role_name(role)}"

    def role_of(self, r: Resource, *path) -> Resource:
        """The aws_iam_role an argument refers to (directly, or through an instance profile)."""
        target = self.referred(r, *path)
        if isinstance(target, str):
            for p in self.of_type("aws_iam_instance_profile"):
                if target in (p.values.get("name"), p.values.get("arn"), p.values.get("id")):
                    target = p
                    break
            else:
                return self.role(target)
        assert isinstance(target, Resource), f"{r.address}: {path} refers to nothing known ({target!r})"
        if target.type == "aws_iam_instance_profile":
            return self.role_of(target, "role")
        assert target.type == "aws_iam_role", f"{r.address}: {path} refers to {target.address}"
        return target


def _from_plan(name: str, region: str, plan: dict) -> Stack:
    stack = Stack(name, region)
    for c in (plan.get("configuration") or {}).get("root_module", {}).get("resources", []):
        stack.references[c["address"]] = c.get("expressions", {})
    for rc in plan["resource_changes"]:
        if rc["change"]["actions"] == ["delete"] or rc["change"]["after"] is None:
            continue
        stack.resources.append(Resource(rc["address"], rc["type"], rc["mode"], rc["change"]["after"]))

    def walk(module):
        for r in module.get("resources", []):
            if r["mode"] == "data":
                stack.resources.append(Resource(r["address"], r["type"], "data", r.get("values", {})))
        for child in module.get("child_modules", []):
            walk(child)

    return stack


def _from_state(name: str, region: str, state: dict) -> Stack:
    stack = Stack(name, region)

    def walk(module):
        for r in module.get("resources", []):
            stack.resources.append(Resource(r["address"], r["type"], r["mode"], r.get("values", {})))
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", state)["root_module"])
    return stack


def load_stack(result, scenario: str, root: Path = REPO_ROOT) -> Stack:
    directory, _, run, _, region = SCENARIOS[scenario]
    key = [k for k in list(result.plans) + list(result.states) if k[1] == run]
    assert key, f"{directory}: no run {run!r} ({result.failures} {result.diagnostics[:3]})"
    if key[0] in result.states:
        stack = _from_state(f"{directory}/{run}", region, result.states[key[0]])
    else:
        stack = _from_plan(f"{directory}/{run}", region, result.plans[key[0]])
    # A plan's test output carries no data sources: which ones the stack reads is its configuration.
    if not stack.data():
        parsed = parse_hcl(root / directory)
        stack.resources += [Resource(f"data.{t}.{n}", t, "data", {}) for t, by_name in parsed.data.items() for n in by_name]
    return stack


# ------------------------------------------------------------------------------------ the IAM calls


@dataclass(frozen=True)
class Call:
    action: str
    resource: str
    context: tuple = ()  # sorted (key, value) pairs
    why: str = ""

    def ctx(self) -> dict:
        return dict(self.context)


def call(action: str, resource: str = "*", why: str = "", **context) -> Call:
    return Call(action, resource, tuple(sorted(context.items())), why)


def _key_arn(s: Stack, r: Resource, ref: str | None = None) -> str:
    """A stack key's ARN (mock values are not ARNs): stable per referring value, never a bootstrap key."""
    h = hashlib.sha256((ref or r.address).encode()).hexdigest()[:8]
    return f"arn:aws:kms:{s.region}:{ACCOUNT}:key/{h}-0000-4000-8000-000000000000"


def regional(*actions: str, arn: Callable[[Stack, Resource], str] | str = "*"):
    def calls(s: Stack, r: Resource) -> list[Call]:
        res = arn(s, r) if callable(arn) else arn
        return [call(a, res, r.address, **{"aws:RequestedRegion": s.region_of(r)}) for a in actions]
    return calls


def pass_role(s: Stack, r: Resource, role_arn: str, service: str) -> Call:
    return call("iam:PassRole", role_arn, r.address, **{"iam:PassedToService": service})


def service_linked(r: Resource, service: str) -> Call:
    return call("iam:CreateServiceLinkedRole", f"{IAM}:role/aws-service-role/{service}/*", r.address,
                **{"iam:AWSServiceName": service})


def key_use(s: Stack, r: Resource, key_ref: str | None, *actions: str) -> list[Call]:
    if not key_ref:
        return []
    return [call(a, _key_arn(s, r, key_ref), r.address, **{"aws:RequestedRegion": s.region_of(r)}) for a in actions]


def _iam_role(s: Stack, r: Resource) -> list[Call]:
    arn = f"{IAM}:role/{s.role_name(r)}"
    boundary = {"iam:PermissionsBoundary": r.values["permissions_boundary"]} if r.values.get("permissions_boundary") else {}
    return [
        call("iam:CreateRole", arn, r.address, **boundary),
        # Terraform sets a changed boundary with PutRolePermissionsBoundary (the guardrails admit only the stacks').
        call("iam:PutRolePermissionsBoundary", arn, r.address, **boundary),
        call("iam:TagRole", arn, r.address), call("iam:UpdateAssumeRolePolicy", arn, r.address),
        call("iam:UpdateRole", arn, r.address), call("iam:UpdateRoleDescription", arn, r.address),
        call("iam:DeleteRole", arn, r.address),
    ]


def _role_policy(s: Stack, r: Resource) -> list[Call]:
    role = s.role_of(r, "role")
    boundary = {"iam:PermissionsBoundary": role.values["permissions_boundary"]} if role.values.get("permissions_boundary") else {}
    arn = f"{IAM}:role/{s.role_name(role)}"
    return [call("iam:PutRolePolicy", arn, r.address, **boundary), call("iam:DeleteRolePolicy", arn, r.address, **boundary)]


def _role_attachment(s: Stack, r: Resource) -> list[Call]:
    role = s.role_of(r, "role")
    boundary = {"iam:PermissionsBoundary": role.values["permissions_boundary"]} if role.values.get("permissions_boundary") else {}
    arn = f"{IAM}:role/{s.role_name(role)}"
    ctx = dict(boundary, **{"iam:PolicyARN": r.values["policy_arn"]})
    return [call("iam:AttachRolePolicy", arn, r.address, **ctx), call("iam:DetachRolePolicy", arn, r.address, **ctx)]


def _instance_profile(s: Stack, r: Resource) -> list[Call]:
    name = r.values.get("name") or r.values["name_prefix"] + "0123456789abcdef"
    arn = f"{IAM}:instance-profile/{name}"
    role_arn = s.role_arn(s.role_of(r, "role"))
    return [call(a, arn, r.address) for a in ("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:TagInstanceProfile",
                                              "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile")] + [
        pass_role(s, r, role_arn, "ec2.amazonaws.com")]


def _instance(s: Stack, r: Resource) -> list[Call]:
    calls = regional("ec2:RunInstances", "ec2:CreateTags", "ec2:ModifyInstanceAttribute", "ec2:MonitorInstances",
                     "ec2:TerminateInstances", "ec2:AssociateIamInstanceProfile")(s, r)
    if r.values.get("iam_instance_profile") or s.referred(r, "iam_instance_profile"):
        calls.append(pass_role(s, r, s.role_arn(s.role_of(r, "iam_instance_profile")), "ec2.amazonaws.com"))
    return calls


def _launch_template(s: Stack, r: Resource) -> list[Call]:
    return regional("ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate",
                    "ec2:DeleteLaunchTemplate", "ec2:CreateTags")(s, r)


def _asg(s: Stack, r: Resource) -> list[Call]:
    # An ASG that launches from a template with an instance profile needs RunInstances and PassRole
    # from the caller (EC2 Auto Scaling user guide, "Launch template support").
    calls = regional("autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup", "autoscaling:StartInstanceRefresh",
                     "autoscaling:CreateOrUpdateTags", "autoscaling:EnableMetricsCollection", "autoscaling:DeleteAutoScalingGroup",
                     "ec2:RunInstances")(s, r)
    calls.append(service_linked(r, "autoscaling.amazonaws.com"))
    for lt in s.of_type("aws_launch_template"):
        if s.referred(lt, "iam_instance_profile", 0, "arn"):
            calls.append(pass_role(s, r, s.role_arn(s.role_of(lt, "iam_instance_profile", 0, "arn")), "ec2.amazonaws.com"))
    return calls


def _ebs_volume(s: Stack, r: Resource) -> list[Call]:
    # EBS with a customer managed key: the caller's own KMS permissions, through a grant for EC2.
    return regional("ec2:CreateVolume", "ec2:CreateTags", "ec2:ModifyVolume", "ec2:DeleteVolume")(s, r) + key_use(
        s, r, r.values.get("kms_key_id"), "kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext",
        "kms:Decrypt", "kms:ReEncryptFrom")


def _log_group(s: Stack, r: Resource) -> list[Call]:
    arn = f"arn:aws:logs:{s.region_of(r)}:{ACCOUNT}:log-group:{r.values['name']}"
    return regional("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:AssociateKmsKey", "logs:TagResource",
                    "logs:DeleteLogGroup", arn=arn)(s, r)


def _alarm(s: Stack, r: Resource) -> list[Call]:
    arn = f"arn:aws:cloudwatch:{s.region_of(r)}:{ACCOUNT}:alarm:{r.values['alarm_name']}"
    calls = regional("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:DeleteAlarms", arn=arn)(s, r)
    actions = (r.values.get("alarm_actions") or []) + (r.values.get("ok_actions") or [])
    if any(a.startswith("arn:aws:automate:") and ":ec2:" in a for a in actions):
        # "The iam:CreateServiceLinkedRole permission for all alarms with EC2 actions" (PutMetricAlarm API
        # reference): AWSServiceRoleForCloudWatchEvents.
        calls.append(service_linked(r, "events.amazonaws.com"))
        calls += regional("ec2:DescribeInstanceRecoveryAttribute", "ec2:RecoverInstances", "ec2:DescribeInstanceStatus")(s, r)
    return calls


def _kms_key(s: Stack, r: Resource) -> list[Call]:
    arn = _key_arn(s, r, r.values.get("arn") or r.address)
    region = {"aws:RequestedRegion": s.region_of(r)}
    return [call("kms:CreateKey", "*", r.address, **region)] + [
        call(a, arn, r.address, **region) for a in ("kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:TagResource",
                                                   "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion")]


def _kms_alias(s: Stack, r: Resource) -> list[Call]:
    region = {"aws:RequestedRegion": s.region_of(r)}
    alias = f"arn:aws:kms:{s.region_of(r)}:{ACCOUNT}:{r.values['name']}"
    key = _key_arn(s, r, next((k.values.get("arn") or k.address for k in s.of_type("aws_kms_key")
                               if r.values.get("target_key_id") in (k.values.get("key_id"), k.values.get("id"), k.values.get("arn"))), r.address))
    return [call(a, res, r.address, **region) for a in ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias") for res in (alias, key)]


def _eks_cluster(s: Stack, r: Resource) -> list[Call]:
    arn = f"arn:aws:eks:{s.region_of(r)}:{ACCOUNT}:cluster/{r.values['name']}"
    calls = regional("eks:CreateCluster", "eks:TagResource", "eks:UpdateClusterConfig", "eks:UpdateClusterVersion",
                     "eks:DeleteCluster", arn=arn)(s, r)
    calls += [pass_role(s, r, s.role_arn(s.role_of(r, "role_arn")), "eks.amazonaws.com"), service_linked(r, "eks.amazonaws.com")]
    if s.referred(r, "compute_config", 0, "node_role_arn"):
        calls.append(pass_role(s, r, s.role_arn(s.role_of(r, "compute_config", 0, "node_role_arn")), "eks.amazonaws.com"))
    for enc in r.values.get("encryption_config") or []:
        for p in enc.get("provider") or []:
            calls += key_use(s, r, p["key_arn"], "kms:CreateGrant", "kms:DescribeKey")
    return calls


def _cluster_arn(s: Stack, r: Resource) -> str:
    return f"arn:aws:eks:{s.region_of(r)}:{ACCOUNT}:cluster/{r.values['cluster_name']}"


def _access_entry(s: Stack, r: Resource) -> list[Call]:
    principal = r.values["principal_arn"]
    entry = f"arn:aws:eks:{s.region_of(r)}:{ACCOUNT}:access-entry/{r.values['cluster_name']}/role/{ACCOUNT}/{principal.split('/')[-1]}/0ec7a1f2"
    region = {"aws:RequestedRegion": s.region_of(r)}
    return [call("eks:CreateAccessEntry", _cluster_arn(s, r), r.address, **dict(region, **{"eks:principalArn": principal})),
            call("eks:TagResource", entry, r.address, **region), call("eks:DeleteAccessEntry", entry, r.address, **region)]


def _access_policy(s: Stack, r: Resource) -> list[Call]:
    principal = r.values["principal_arn"]
    entry = f"arn:aws:eks:{s.region_of(r)}:{ACCOUNT}:access-entry/{r.values['cluster_name']}/role/{ACCOUNT}/{principal.split('/')[-1]}/0ec7a1f2"
    region = {"aws:RequestedRegion": s.region_of(r)}
    return [call("eks:AssociateAccessPolicy", entry, r.address, **dict(region, **{"eks:policyArn": r.values["policy_arn"]})),
            call("eks:DisassociateAccessPolicy", entry, r.address, **region)]


def _pod_identity(s: Stack, r: Resource) -> list[Call]:
    return regional("eks:CreatePodIdentityAssociation", "eks:UpdatePodIdentityAssociation", "eks:DeletePodIdentityAssociation",
                    "eks:TagResource", arn=_cluster_arn)(s, r) + [
        pass_role(s, r, s.role_arn(s.role_of(r, "role_arn")), "pods.eks.amazonaws.com")]


def _db_instance(s: Stack, r: Resource) -> list[Call]:
    arn = f"arn:aws:rds:{s.region_of(r)}:{ACCOUNT}:db:{r.values['identifier']}"
    calls = regional("rds:CreateDBInstance", "rds:ModifyDBInstance", "rds:AddTagsToResource", "rds:DeleteDBInstance", arn=arn)(s, r)
    calls.append(service_linked(r, "rds.amazonaws.com"))
    if s.referred(r, "monitoring_role_arn"):
        calls.append(pass_role(s, r, s.role_arn(s.role_of(r, "monitoring_role_arn")), "monitoring.rds.amazonaws.com"))
    if r.values.get("manage_master_user_password"):
        # RDS creates the master secret (rds!db-...) with the caller's permissions.
        calls += regional("secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:RotateSecret",
                          arn=f"arn:aws:secretsmanager:{s.region_of(r)}:{ACCOUNT}:secret:rds!db-0123-AbCdEf")(s, r)
        calls += key_use(s, r, r.values.get("master_user_secret_kms_key_id"), "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt")
    for ref in {r.values.get("kms_key_id"), r.values.get("performance_insights_kms_key_id")} - {None}:
        calls += key_use(s, r, ref, "kms:CreateGrant", "kms:DescribeKey")
    return calls


def _secret(s: Stack, r: Resource) -> list[Call]:
    arn = f"arn:aws:secretsmanager:{s.region_of(r)}:{ACCOUNT}:secret:{r.values['name']}-AbCdEf"
    return regional("secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:UpdateSecret",
                    "secretsmanager:DeleteSecret", arn=arn)(s, r) + key_use(s, r, r.values.get("kms_key_id"), "kms:DescribeKey")


def _health_check(s: Stack, r: Resource) -> list[Call]:
    # Route 53 is global; health checks have no region.
    hc = "arn:aws:route53:::healthcheck/0123abcd-0000-4000-8000-000000000000"
    return [call("route53:CreateHealthCheck", "*", r.address)] + [
        call(a, hc, r.address) for a in ("route53:UpdateHealthCheck", "route53:ChangeTagsForResource", "route53:DeleteHealthCheck")]


def _record(s: Stack, r: Resource) -> list[Call]:
    return [call("route53:ChangeResourceRecordSets", f"arn:aws:route53:::hostedzone/{r.values['zone_id']}", r.address)]


def _flow_log(s: Stack, r: Resource) -> list[Call]:
    return regional("ec2:CreateFlowLogs", "ec2:DeleteFlowLogs", "ec2:CreateTags")(s, r) + [
        pass_role(s, r, s.role_arn(s.role_of(r, "iam_role_arn")), "vpc-flow-logs.amazonaws.com")]


def _scraper(s: Stack, r: Resource) -> list[Call]:
    return regional("aps:CreateScraper", "aps:UpdateScraper", "aps:DeleteScraper", "aps:TagResource", "eks:DescribeCluster",
                    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups")(s, r) + [service_linked(r, "scraper.aps.amazonaws.com")]


def _workspace(s: Stack, r: Resource) -> list[Call]:
    return regional("aps:CreateWorkspace", "aps:UpdateWorkspaceAlias", "aps:TagResource", "aps:DeleteWorkspace")(s, r) + key_use(
        s, r, r.values.get("kms_key_arn"), "kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt")


def _lb(s: Stack, r: Resource) -> list[Call]:
    return regional("elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets", "elasticloadbalancing:AddTags",
                    "elasticloadbalancing:DeleteLoadBalancer")(s, r) + [service_linked(r, "elasticloadbalancing.amazonaws.com")]


EC2 = lambda *a: regional(*(f"ec2:{x}" for x in a))  # noqa: E731
ELB = lambda *a: regional(*(f"elasticloadbalancing:{x}" for x in a))  # noqa: E731

# Terraform's create/update/delete of each resource type: the API calls and what they need from the caller.
ACTIONS: dict[str, Callable[[Stack, Resource], list[Call]]] = {
    "terraform_data": lambda s, r: [],
    "aws_vpc": EC2("CreateVpc", "ModifyVpcAttribute", "AssociateVpcCidrBlock", "CreateTags", "DeleteVpc"),
    "aws_subnet": EC2("CreateSubnet", "ModifySubnetAttribute", "CreateTags", "DeleteSubnet"),
    "aws_internet_gateway": EC2("CreateInternetGateway", "AttachInternetGateway", "DetachInternetGateway", "DeleteInternetGateway"),
    "aws_route_table": EC2("CreateRouteTable", "CreateTags", "DeleteRouteTable"),
    "aws_route": EC2("CreateRoute", "ReplaceRoute", "DeleteRoute"),
    "aws_route_table_association": EC2("AssociateRouteTable", "DisassociateRouteTable"),
    "aws_eip": EC2("AllocateAddress", "CreateTags", "ReleaseAddress"),
    "aws_eip_association": EC2("AssociateAddress", "DisassociateAddress"),
    "aws_nat_gateway": EC2("CreateNatGateway", "CreateTags", "DeleteNatGateway"),
    "aws_security_group": EC2("CreateSecurityGroup", "RevokeSecurityGroupEgress", "CreateTags", "DeleteSecurityGroup"),
    "aws_default_security_group": EC2("RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "CreateTags"),
    "aws_vpc_security_group_ingress_rule": EC2("AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules", "RevokeSecurityGroupIngress"),
    "aws_vpc_security_group_egress_rule": EC2("AuthorizeSecurityGroupEgress", "ModifySecurityGroupRules", "RevokeSecurityGroupEgress"),
    "aws_network_acl": EC2("CreateNetworkAcl", "ReplaceNetworkAclAssociation", "CreateTags", "DeleteNetworkAcl"),
    "aws_network_acl_rule": EC2("CreateNetworkAclEntry", "ReplaceNetworkAclEntry", "DeleteNetworkAclEntry"),
    "aws_default_network_acl": EC2("DeleteNetworkAclEntry", "CreateTags"),
    "aws_vpc_endpoint": EC2("CreateVpcEndpoint", "ModifyVpcEndpoint", "CreateTags", "DeleteVpcEndpoints"),
    "aws_flow_log": _flow_log,
    "aws_instance": _instance,
    "aws_ebs_volume": _ebs_volume,
    "aws_volume_attachment": EC2("AttachVolume", "StopInstances", "DetachVolume"),
    "aws_launch_template": _launch_template,
    "aws_autoscaling_group": _asg,
    "aws_autoscaling_policy": regional("autoscaling:PutScalingPolicy", "autoscaling:DeletePolicy"),
    "aws_lb": _lb,
    "aws_lb_target_group": ELB("CreateTargetGroup", "ModifyTargetGroup", "ModifyTargetGroupAttributes", "AddTags", "DeleteTargetGroup"),
    "aws_lb_listener": ELB("CreateListener", "ModifyListener", "AddTags", "DeleteListener"),
    "aws_lb_listener_rule": ELB("CreateRule", "ModifyRule", "AddTags", "DeleteRule"),
    "aws_wafv2_web_acl": regional("wafv2:CreateWebACL", "wafv2:UpdateWebACL", "wafv2:TagResource", "wafv2:DeleteWebACL"),
    "aws_wafv2_web_acl_association": regional("wafv2:AssociateWebACL", "elasticloadbalancing:SetWebAcl", "wafv2:DisassociateWebACL"),
    # Logging to CloudWatch Logs: the caller sets up the log delivery and the log group's resource policy.
    "aws_wafv2_web_acl_logging_configuration": regional(
        "wafv2:PutLoggingConfiguration", "wafv2:DeleteLoggingConfiguration", "logs:CreateLogDelivery", "logs:DeleteLogDelivery",
        "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"),
    "aws_cloudwatch_log_group": _log_group,
    "aws_cloudwatch_metric_alarm": _alarm,
    "aws_kms_key": _kms_key,
    "aws_kms_alias": _kms_alias,
    "aws_iam_role": _iam_role,
    "aws_iam_role_policy": _role_policy,
    "aws_iam_role_policy_attachment": _role_attachment,
    "aws_iam_instance_profile": _instance_profile,
    "aws_ssm_document": regional("ssm:CreateDocument", "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion",
                                 "ssm:AddTagsToResource", "ssm:DeleteDocument",
                                 arn=lambda s, r: f"arn:aws:ssm:{s.region_of(r)}:{ACCOUNT}:document/{r.values['name']}"),
    "aws_eks_cluster": _eks_cluster,
    "aws_eks_addon": regional("eks:CreateAddon", "eks:UpdateAddon", "eks:TagResource", "eks:DeleteAddon", arn=_cluster_arn),
    "aws_eks_access_entry": _access_entry,
    "aws_eks_access_policy_association": _access_policy,
    "aws_eks_pod_identity_association": _pod_identity,
    "aws_db_instance": _db_instance,
    "aws_db_parameter_group": regional("rds:CreateDBParameterGroup", "rds:ModifyDBParameterGroup", "rds:AddTagsToResource",
                                       "rds:DeleteDBParameterGroup"),
    "aws_db_subnet_group": regional("rds:CreateDBSubnetGroup", "rds:ModifyDBSubnetGroup", "rds:AddTagsToResource",
                                    "rds:DeleteDBSubnetGroup"),
    "aws_acm_certificate": regional("acm:RequestCertificate", "acm:AddTagsToCertificate", "acm:DeleteCertificate"),
    "aws_acm_certificate_validation": regional("acm:DescribeCertificate"),
    "aws_route53_record": _record,
    "aws_route53_health_check": _health_check,
    "aws_secretsmanager_secret": _secret,
    # A value written by Terraform (the stacks write none: infra/aws/eks roles.tf).
    "aws_secretsmanager_secret_version": regional(
        "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
        arn=lambda s, r: f"arn:aws:secretsmanager:{s.region_of(r)}:{ACCOUNT}:secret:shipshape/x-AbCdEf"),
    "aws_prometheus_workspace": _workspace,
    "aws_prometheus_scraper": _scraper,
    "aws_prometheus_rule_group_namespace": regional("aps:CreateRuleGroupsNamespace", "aps:PutRuleGroupsNamespace",
                                                    "aps:TagResource", "aps:DeleteRuleGroupsNamespace"),
    "aws_prometheus_alert_manager_definition": regional("aps:CreateAlertManagerDefinition", "aps:PutAlertManagerDefinition",
                                                        "aps:DeleteAlertManagerDefinition"),
}

# What `terraform plan` reads of each resource (refresh) and data source, for the plan role (and apply,
# which refreshes too). Types not listed refresh with Describe*/Get*/List* calls of their service,
# checked with the first of their ACTIONS' services.
REFRESH: dict[str, list[str]] = {
    "aws_iam_role": ["iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"],
    "aws_iam_role_policy": ["iam:GetRolePolicy"],
    "aws_iam_instance_profile": ["iam:GetInstanceProfile"],
    "aws_kms_key": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
    "aws_secretsmanager_secret": ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"],
    # The provider reads a secret version back with GetSecretValue.
    "aws_secretsmanager_secret_version": ["secretsmanager:GetSecretValue"],
    "aws_cloudwatch_log_group": ["logs:DescribeLogGroups", "logs:ListTagsForResource"],
    "aws_route53_record": ["route53:ListResourceRecordSets", "route53:GetChange"],
    "aws_route53_health_check": ["route53:GetHealthCheck", "route53:ListTagsForResource"],
    "aws_ssm_document": ["ssm:DescribeDocument", "ssm:GetDocument", "ssm:DescribeDocumentPermission"],
    "aws_launch_template": ["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"],
    "aws_instance": ["ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeVolumes"],
    "aws_db_instance": ["rds:DescribeDBInstances", "rds:ListTagsForResource"],
    "aws_prometheus_workspace": ["aps:DescribeWorkspace", "aps:DescribeLoggingConfiguration"],
    "aws_prometheus_rule_group_namespace": ["aps:DescribeRuleGroupsNamespace"],
    "aws_eks_cluster": ["eks:DescribeCluster"],
    "aws_wafv2_web_acl": ["wafv2:GetWebACL", "wafv2:ListTagsForResource"],
    "aws_wafv2_web_acl_logging_configuration": ["wafv2:GetLoggingConfiguration"],
    "aws_serverlessapplicationrepository_cloudformation_stack": ["cloudformation:DescribeStacks", "serverlessrepo:GetApplication"],
    # data sources
    "data.aws_caller_identity": ["sts:GetCallerIdentity"],
    "data.aws_partition": [],
    "data.aws_region": [],
    "data.aws_default_tags": [],
    "data.aws_availability_zones": ["ec2:DescribeAvailabilityZones"],
    "data.aws_ssm_parameter": ["ssm:GetParameter"],
    "data.aws_ami": ["ec2:DescribeImages"],
    # HeadBucket (s3:ListBucket) and the bucket's region (GetBucketLocation).
    "data.aws_s3_bucket": ["s3:ListBucket", "s3:GetBucketLocation"],
    "data.aws_kms_public_key": ["kms:GetPublicKey", "kms:DescribeKey"],
    "data.aws_route53_zone": ["route53:GetHostedZone", "route53:ListTagsForResource"],
    "data.aws_eks_addon_version": ["eks:DescribeAddonVersions"],
    "data.aws_secretsmanager_random_password": ["secretsmanager:GetRandomPassword"],
}


def _refresh_resource(s: Stack, r: Resource, releases_bucket: str, cosign_key: str) -> str:
    t = r.type
    if t == "aws_s3_bucket":
        return f"arn:aws:s3:::{releases_bucket}"
    if t == "aws_kms_public_key":
        return cosign_key
    if t == "aws_ssm_parameter":
        return f"arn:aws:ssm:{s.region}::parameter{r.values.get('name') or '/aws/service/x'}"
    if t == "aws_route53_zone":
        return f"arn:aws:route53:::hostedzone/{r.values.get('zone_id')}"
    return "*"


def refresh_calls(s: Stack, releases_bucket: str, cosign_key: str) -> list[Call]:
    calls = []
    for r in s.resources:
        key = f"data.{r.type}" if r.mode == "data" else r.type
        if key in REFRESH:
            actions = REFRESH[key]
        elif r.mode == "managed" and r.type in ACTIONS:
            made = ACTIONS[r.type](s, r)
            services = sorted({c.action.split(":")[0] for c in made} - {"iam"})
            actions = [f"{services[0]}:Describe{r.type.title().replace('_', '')}"] if services else []
        else:
            raise AssertionError(f"{r.address}: {key} is in neither REFRESH nor ACTIONS")
        res = _refresh_resource(s, r, releases_bucket, cosign_key) if r.mode == "data" else "*"
        calls += [call(a, res, r.address, **{"aws:RequestedRegion": s.region_of(r)}) for a in actions]
    return calls


def create_calls(s: Stack) -> list[Call]:
    calls = []
    for r in s.managed():
        assert r.type in ACTIONS, f"{r.address}: resource type {r.type} is not in ACTIONS (tests/infra/test_aws_stacks_iam.py): add what its create/update calls need"
        calls += ACTIONS[r.type](s, r)
    return calls


# ---------------------------------------------------------------------------------------- the probes


def probe_roles(s: Stack, bootstrap_name: str = "shipshape") -> list[str]:
    """Every role the stack plans carries the bootstrap's boundary and a name under "<name>-" (not "-ci-")."""
    holes = []
    for r in s.of_type("aws_iam_role"):
        name = s.role_name(r)
        if r.values.get("permissions_boundary") != BOUNDARY:
            holes.append(f"{r.address}: permissions_boundary is {r.values.get('permissions_boundary')!r}, not the bootstrap's {BOUNDARY}")
        if not name.startswith(f"{bootstrap_name}-") or name.startswith(f"{bootstrap_name}-ci-"):
            holes.append(f"{r.address}: name {name} is outside the {bootstrap_name}-* names apply manages")
        for st in json.loads(r.values["assume_role_policy"])["Statement"]:
            principal = st.get("Principal", {})
            if "Federated" in principal or "sts:AssumeRoleWithWebIdentity" in json.dumps(st.get("Action")):
                holes.append(f"{r.address}: trusts a web identity (IRSA); the boundary denies such sessions, use EKS Pod Identity")
    return holes


def probe_apply(a: Account, s: Stack) -> list[str]:
    """Every call of every planned resource, evaluated for the planned apply role."""
    return sorted({f"apply may not {c.action} on {c.resource} ({c.why}, {c.ctx() or 'no context'})"
                   for c in create_calls(s) if not a.can("apply", c.action, c.resource, **c.ctx())})


def probe_refresh(a: Account, s: Stack, releases_bucket: str, cosign_key: str) -> list[str]:
    holes = set()
    for c in refresh_calls(s, releases_bucket, cosign_key):
        for role in ("plan", "apply"):
            if not a.can(role, c.action, c.resource, **c.ctx()):
                holes.add(f"{role} may not {c.action} on {c.resource} ({c.why}): `terraform plan` refreshes it")
    return sorted(holes)


def probe_stack_role_policies(a: Account, s: Stack) -> list[str]:
    """What the stack gives its roles inline is within the boundary (else the role silently lacks it)."""
    holes = []
    for p in s.of_type("aws_iam_role_policy"):
        role = s.role_of(p, "role")
        doc = json.loads(p.values["policy"])
        for st in doc["Statement"]:
            if st["Effect"] != "Allow":
                continue
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            for act in actions:
                for res in resources:
                    probe_res = res.replace("*", "x") if res != "*" else "*"
                    ctx = {k: (v if isinstance(v, str) else v[0]) for op in (st.get("Condition") or {}).values() for k, v in op.items()
                           if not k.startswith("ForAllValues")}
                    if a.decide(f"{IAM}:role/{s.role_name(role)}", [doc], act, probe_res, ctx, boundary=a.policies[BOUNDARY]) != "Allow":
                        holes.append(f"{p.address}: {act} on {res} is outside the stack boundary (the role never gets it)")
    return holes


# Account-wide (per region) names: two stacks with the same name prefix must not both want one.
UNIQUE_NAMES = {
    "aws_iam_role": "name", "aws_kms_alias": "name", "aws_cloudwatch_log_group": "name", "aws_ssm_document": "name",
    "aws_cloudwatch_metric_alarm": "alarm_name", "aws_lb": "name", "aws_db_instance": "identifier",
    "aws_db_parameter_group": "name", "aws_db_subnet_group": "name", "aws_secretsmanager_secret": "name",
    "aws_eks_cluster": "name", "aws_wafv2_web_acl": "name", "aws_iam_instance_profile": "name",
}


def probe_names(stacks: list[Stack]) -> list[str]:
    seen: dict[tuple, str] = {}
    holes = []
    for s in stacks:
        for r in s.managed():
            field_name = UNIQUE_NAMES.get(r.type)
            if not field_name or not r.values.get(field_name):
                continue
            scope = "global" if r.type.startswith("aws_iam_") else s.region_of(r)
            key = (r.type, scope, r.values[field_name])
            directory = s.name.rsplit("/", 1)[0]  # configurations of one stack never coexist
            if key in seen and seen[key][0] != directory:
                holes.append(f"{r.type} {r.values[field_name]!r}: made by both {seen[key][1]} and {s.name}/{r.address}")
            seen.setdefault(key, (directory, f"{s.name}/{r.address}"))
    return holes


# ------------------------------------------------------------------------------------------- fixtures


def _account(result, run: str) -> Account:
    assert result.ok, f"bootstrap: {result.failures} {result.diagnostics[:3]}"
    return Account.from_plan(result.plan(run))


@pytest.fixture(scope="session")
def world(stack_test):
    accounts = {"policies": _account(stack_test(BOOTSTRAP, BOOTSTRAP_TESTS), "policies"),
                "policies_eu_west_1": _account(stack_test(BOOTSTRAP, REGIONS_TESTS), "policies_eu_west_1")}
    stacks = {}
    for name, (d, tests, *_) in SCENARIOS.items():
        result = stack_test(d, tests)
        assert result.ok, f"{d}/{tests}: {result.failures} {result.diagnostics[:3]}"
        stacks[name] = load_stack(result, name)
    return accounts, stacks


def _release_facts(a: Account) -> tuple[str, str]:
    bucket = next(arn for arn in a.buckets if "releases" in arn).split(":::")[1]
    cosign = next(arn for arn, doc in a.keys.items() if any("kms:Sign" in json.dumps(st) for st in doc["Statement"]))
    return bucket, cosign


def run_probes(accounts: dict, stacks: dict) -> dict[str, list[str]]:
    found = {}
    for name, (_, _, _, boot_run, _) in SCENARIOS.items():
        a, s = accounts[boot_run], stacks[name]
        bucket, cosign = _release_facts(a)
        found[f"{name}: roles"] = probe_roles(s)
        found[f"{name}: apply"] = probe_apply(a, s)
        found[f"{name}: refresh"] = probe_refresh(a, s, bucket, cosign)
        found[f"{name}: role policies"] = probe_stack_role_policies(a, s)
    found["names"] = probe_names([stacks["vm single"], stacks["vm scaling"], stacks["eks us-east-1"]])
    return found


@pytest.fixture(scope="session")
def found(world):
    return run_probes(*world)


@pytest.mark.parametrize("probe", ["roles", "apply", "refresh", "role policies"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_stack_against_bootstrap(found, scenario, probe):
    holes = found[f"{scenario}: {probe}"]
    assert not holes, "\n".join(holes)


def test_stack_names_do_not_collide(found):
    holes = found["names"]
    assert not holes, "\n".join(holes)


# -------------------------------------------------------------------------------------- nothing more
# Every service, and every action apply's policy names explicitly, is used by some planned resource (or is
# a documented part of a used one's lifecycle): apply has what the stacks need and nothing more.

LIFECYCLE = {
    # Same resources' other lifecycle calls: cancel a scheduled deletion, disable/enable rotation or the key,
    # re-encrypt and encrypt for data keys of the stacks' own keys, retire grants EC2/EBS made.
    "kms:CancelKeyDeletion", "kms:DisableKeyRotation", "kms:EnableKey", "kms:Encrypt", "kms:ReEncrypt*",
    "kms:RetireGrant", "kms:UntagResource", "kms:GenerateDataKey*",
    "secretsmanager:UntagResource", "ssm:RemoveTagsFromResource", "iam:UntagRole", "iam:UntagInstanceProfile",
    "cloudwatch:UntagResource",
}


def _apply_allows(a: Account) -> list[str]:
    doc = a.policies[f"{IAM}:policy/shipshape-ci-apply"]
    out = []
    for st in doc["Statement"]:
        if st["Effect"] == "Allow" and "Action" in st:
            out += st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    return out


STATE_ACTIONS = {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}


def check_nothing_more(a: Account, stacks: list[Stack]) -> list[str]:
    from iam_eval import _glob

    used = {c.action for s in stacks for c in create_calls(s)}
    used_services = {u.split(":")[0] for u in used}
    extra = []
    for action in _apply_allows(a):
        if action in STATE_ACTIONS or action in LIFECYCLE:
            continue
        svc, name = action.split(":", 1)
        if name == "*":
            if svc not in used_services:
                extra.append(f"apply allows {action}, but no planned resource uses {svc}")
        elif not any(_glob(action, u, ignore_case=True) for u in used):
            extra.append(f"apply allows {action}, which no planned resource calls")
    # The services apply may create service-linked roles for, and pass stack roles to.
    doc = a.policies[f"{IAM}:policy/shipshape-ci-apply"]
    for key in ("iam:AWSServiceName", "iam:PassedToService"):
        allowed = {v for st in doc["Statement"] if st["Effect"] == "Allow"
                   for v in ((st.get("Condition") or {}).get("StringEquals") or {}).get(key, [])}
        wanted = {c.ctx()[key] for s in stacks for c in create_calls(s) if key in c.ctx()}
        extra += [f"apply allows {key} {v}, which no planned resource needs" for v in sorted(allowed - wanted)]
    return extra


def test_apply_has_nothing_more(world):
    accounts, stacks = world
    extra = check_nothing_more(accounts["policies"], list(stacks.values()))
    assert not extra, "\n".join(extra)


# ------------------------------------------------------------------------------------------- mutations
# Each re-opens a seam in a copy of the repository; the probe must see it.

F = {
    "vm": "infra/aws/vm/security.tf", "eks_iam": "infra/aws/eks/iam.tf", "eks_roles": "infra/aws/eks/roles.tf",
    "boot": "infra/aws/bootstrap/iam.tf",
}
BOUNDARY_LINE = "  permissions_boundary = var.stack_permissions_boundary_arn\n"


def _stack_after(terraform, root: Path, scenario: str) -> Stack:
    d, tests = SCENARIOS[scenario][:2]
    return load_stack(terraform.test(root / d, filter=tests), scenario, root)


def _account_after(terraform, root: Path, run: str = "policies") -> Account:
    result = terraform.test(root / BOOTSTRAP, filter=BOOTSTRAP_TESTS)
    return _account(result, run)


def test_mutation_role_without_boundary_is_caught(terraform, tmp_path, world):
    accounts, _ = world
    text = (REPO_ROOT / F["vm"]).read_text()
    # Drop the boundary of the flow-log role only (the instance role keeps it).
    i = text.index('resource "aws_iam_role" "flow_logs"')
    j = text.index(BOUNDARY_LINE, i)
    root = mutate(tmp_path, {})
    (root / F["vm"]).write_text(text[:j] + text[j + len(BOUNDARY_LINE):])
    s = _stack_after(terraform, root, "vm single")
    assert any("flow_logs" in h and "permissions_boundary" in h for h in probe_roles(s))
    assert any("iam:CreateRole" in h and "flowlogs" in h for h in probe_apply(accounts["policies"], s)), \
        "the apply role would create a role without the boundary"


def test_mutation_irsa_trust_is_caught(terraform, tmp_path):
    root = mutate(tmp_path, {F["eks_iam"]: [('Principal = { Service = "pods.eks.amazonaws.com" }',
                                             'Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X" }')]})
    s = _stack_after(terraform, root, "eks us-east-1")
    assert any("web identity" in h for h in probe_roles(s))


def test_mutation_apply_without_a_needed_permission_is_caught(terraform, tmp_path, world):
    _, stacks = world
    root = mutate(tmp_path, {F["boot"]: [('Action   = ["route53:CreateHealthCheck"]', 'Action   = ["route53:GetHealthCheck"]')]})
    a = _account_after(terraform, root)
    assert any("route53:CreateHealthCheck" in h for h in probe_apply(a, stacks["eks us-east-1"]))


def test_mutation_apply_with_an_unused_service_is_caught(terraform, tmp_path, world):
    _, stacks = world
    root = mutate(tmp_path, {F["boot"]: [('"rds:*", "wafv2:*",', '"rds:*", "sns:*", "wafv2:*",')]})
    a = _account_after(terraform, root)
    assert any("sns:*" in h for h in check_nothing_more(a, list(stacks.values())))


def test_mutation_refresh_reading_a_secret_value_is_caught(terraform, tmp_path, world):
    accounts, _ = world
    root = mutate(tmp_path, {F["eks_roles"]: [(
        '# The rotation function (AWS\'s alternating-users template, deployed by `make eks-platform`)',
        'resource "aws_secretsmanager_secret_version" "initial" {\n  secret_id     = aws_secretsmanager_secret.db_role["app"].id\n'
        '  secret_string = "x"\n}\n\n# The rotation function (AWS\'s alternating-users template, deployed by `make eks-platform`)')]})
    s = _stack_after(terraform, root, "eks us-east-1")
    bucket, cosign = _release_facts(accounts["policies"])
    holes = probe_refresh(accounts["policies"], s, bucket, cosign) + probe_apply(accounts["policies"], s)
    assert any("GetSecretValue" in h for h in holes), holes


def test_mutation_rotation_through_cloudformation_is_caught(terraform, tmp_path, world):
    """The rotation template deployed by the pipeline's apply (the option this stack rejected)."""
    accounts, _ = world
    root = mutate(tmp_path, {F["eks_roles"]: [(
        '# The rotation function (AWS\'s alternating-users template, deployed by `make eks-platform`)',
        'resource "aws_serverlessapplicationrepository_cloudformation_stack" "rotation" {\n'
        '  name             = local.rotation_function_name\n  application_id   = local.rotation_application_id\n'
        '  semantic_version = local.rotation_app_version\n  capabilities     = ["CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"]\n}\n\n'
        '# The rotation function (AWS\'s alternating-users template, deployed by `make eks-platform`)')]})
    s = _stack_after(terraform, root, "eks us-east-1")
    with pytest.raises(AssertionError, match="not in ACTIONS"):
        create_calls(s)
    # And what it would take: CloudFormation, the Serverless Application Repository and an unbounded role.
    for act, res, ctx in (("cloudformation:CreateChangeSet", "*", {}), ("serverlessrepo:CreateCloudFormationTemplate", "*", {}),
                          ("iam:CreateRole", f"{IAM}:role/serverlessrepo-shipshape-db-rotation-RotationLambdaRole-X", {}),
                          ("iam:PassRole", f"{IAM}:role/shipshape-x", {"iam:PassedToService": "lambda.amazonaws.com"})):
        assert not accounts["policies"].can("apply", act, res, **ctx), f"apply may {act}"


def test_mutation_colliding_names_is_caught(terraform, tmp_path, world):
    _, stacks = world
    root = mutate(tmp_path, {F["vm"]: [('name        = "${var.name}-vm-logs"', 'name        = "${var.name}-logs"')]})
    s = _stack_after(terraform, root, "vm single")
    assert any("alias/shipshape-logs" in h for h in probe_names([s, stacks["eks us-east-1"]]))
