"""infra/aws/eks (+ deploy/eks): probes on the planned and mock-applied values of
infra/aws/eks/tests/plan.tftest.hcl, and mutation tests that plant the classic mistakes in a copy of
the stack and show that each check fails on them.

Each check_* takes the mock-applied values (`Values`) of the `defaults` run and raises
AssertionError. Nothing here reads HCL text.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, mutate

STACK = "infra/aws/eks"
TEST_FILE = "tests/plan.tftest.hcl"
WARNING_DAYS = 60
READINESS_GATE_LABEL = "eks.amazonaws.com/pod-readiness-gate-inject"
# What EKS Pod Identity puts on the AssumeRole request (pod-id-role.html); nothing else can match.
POD_IDENTITY_TAGS = {f"aws:RequestTag/{t}" for t in (
    "eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account",
    "kubernetes-pod-name", "kubernetes-pod-uid")}


@dataclass
class Values:
    """Resources (by address) and outputs of one mock-applied run."""

    resources: dict[str, dict]
    outputs: dict[str, object]

    @classmethod
    def from_state(cls, state: dict) -> "Values":
        res: dict[str, dict] = {}

        def walk(module: dict) -> None:
            for r in module.get("resources", []):
                res[r["address"]] = r.get("values", {})
            for child in module.get("child_modules", []):
                walk(child)

        doc = state.get("values", state)  # `terraform show -json` nests it; the test stream does not
        walk(doc["root_module"])
        outs = {k: v["value"] for k, v in doc.get("outputs", {}).items()}
        return cls(res, outs)

    def one(self, address: str) -> dict:
        assert address in self.resources, f"no {address} (have {sorted(a for a in self.resources if a.split('.')[0] in address)})"
        return self.resources[address]

    def of_type(self, rtype: str) -> dict[str, dict]:
        return {a: v for a, v in self.resources.items() if a.split("[")[0].rsplit(".", 1)[0] == rtype}

    def manifests(self, output: str) -> list[dict]:
        return [d for d in yaml.safe_load_all(self.outputs[output]) if d]


def run_defaults(terraform, root: Path | None = None) -> Values:
    directory = (root or REPO_ROOT) / STACK
    result = terraform.test(directory, filter=TEST_FILE)
    state = result.states.get((TEST_FILE, "defaults"))
    assert state is not None, "the defaults run produced no state:\n" + "\n".join(result.diagnostics)
    return Values.from_state(state)


@pytest.fixture(scope="module")
def values(stack_test) -> Values:
    result = stack_test(STACK, TEST_FILE)
    assert result.ok, "terraform test failed: " + "; ".join(result.failures + result.diagnostics)
    return Values.from_state(result.states[(TEST_FILE, "defaults")])


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


# =================================================================================================
# The checks.
# =================================================================================================


def check_private_placement(v: Values) -> None:
    private = {v.one(f"module.network.aws_subnet.private[{i}]")["id"] for i in range(3)}
    public = {v.one(f"module.network.aws_subnet.public[{i}]")["id"] for i in range(3)}
    assert set(v.one("aws_eks_cluster.this")["vpc_config"][0]["subnet_ids"]) == private, "cluster not in the private subnets"
    assert set(v.one("aws_db_subnet_group.this")["subnet_ids"]) == private, "database subnet group not private"
    assert not set(v.one("aws_db_subnet_group.this")["subnet_ids"]) & public
    assert v.one("aws_db_instance.this")["publicly_accessible"] is False, "database publicly accessible"
    for i in range(3):
        assert v.one(f"module.network.aws_subnet.public[{i}]")["map_public_ip_on_launch"] is False
    # The NodeClass selects the private tier only, by a tag the public subnets do not carry.
    (nc,) = by_kind(v.manifests("platform_manifests"), "NodeClass")
    for term in nc["spec"]["subnetSelectorTerms"]:
        tags = {k: val for k, val in term["tags"].items() if not k.startswith("kubernetes.io/cluster/")}
        assert tags, "a subnet selector without a tier tag matches every subnet"
        for i in range(3):
            assert all(v.one(f"module.network.aws_subnet.private[{i}]")["tags"].get(k) == val for k, val in tags.items())
            assert not all(v.one(f"module.network.aws_subnet.public[{i}]")["tags"].get(k) == val for k, val in tags.items())


def check_network(v: Values) -> None:
    vpc = ipaddress.ip_network(v.one("module.network.aws_vpc.this")["cidr_block"])
    subnets = {}
    for tier in ("private", "public"):
        for i in range(3):
            subnets[f"{tier}{i}"] = ipaddress.ip_network(v.one(f"module.network.aws_subnet.{tier}[{i}]")["cidr_block"])
    for name, net in subnets.items():
        assert net.subnet_of(vpc), f"{name} {net} is outside the VPC {vpc}"
    nets = list(subnets.items())
    for i, (a, na) in enumerate(nets):
        for b, nb in nets[i + 1:]:
            assert not na.overlaps(nb), f"{a} {na} overlaps {b} {nb}"
    for i in range(3):
        # Pods take VPC addresses: the private subnets must be large.
        assert subnets[f"private{i}"].prefixlen <= 20, f"private subnet {subnets[f'private{i}']} too small for pods"
    azs = {v.one(f"module.network.aws_subnet.private[{i}]")["availability_zone"] for i in range(3)}
    assert len(azs) == 3, "private subnets not spread over three AZs"


def check_database(v: Values) -> None:
    db = v.one("aws_db_instance.this")
    assert db["storage_encrypted"] is True and db["kms_key_id"] == v.one("aws_kms_key.rds")["arn"]
    assert db["manage_master_user_password"] is True, "master password not managed by RDS"
    assert db["deletion_protection"] is True and db["skip_final_snapshot"] is False
    assert db["backup_retention_period"] >= 7
    params = {p["name"]: p["value"] for p in v.one("aws_db_parameter_group.this")["parameter"]}
    assert params.get("rds.force_ssl") == "1", "plaintext connections accepted"
    db_sg = v.one("aws_security_group.db")["id"]
    allowed = {v.one("aws_eks_cluster.this")["vpc_config"][0]["cluster_security_group_id"], v.one("aws_security_group.rotation")["id"]}
    rules = [r for r in v.of_type("aws_vpc_security_group_ingress_rule").values() if r["security_group_id"] == db_sg]
    assert rules, "nothing may reach the database"
    for r in rules:
        assert not r.get("cidr_ipv4") and not r.get("cidr_ipv6") and not r.get("prefix_list_id"), f"database open to {r}"
        assert r["referenced_security_group_id"] in allowed, f"database reachable from {r['referenced_security_group_id']}"
        assert (r["ip_protocol"], r["from_port"], r["to_port"]) == ("tcp", 5432, 5432)
    assert not [r for r in v.of_type("aws_vpc_security_group_egress_rule").values() if r["security_group_id"] == db_sg]


def check_api_endpoint(v: Values) -> None:
    vpc = v.one("aws_eks_cluster.this")["vpc_config"][0]
    assert vpc["endpoint_private_access"] is True, "private endpoint off"
    if vpc["endpoint_public_access"]:
        cidrs = vpc["public_access_cidrs"] or []
        assert cidrs, "public endpoint without a CIDR list (AWS's default is 0.0.0.0/0)"
        for c in cidrs:
            net = ipaddress.ip_network(c)
            assert net.prefixlen >= 24 and net.is_global, f"public endpoint admits {c}"


def check_pipeline_agrees(v: Values, circleci: dict) -> None:
    """The deploy job runs from CircleCI's IP ranges exactly when the stack admits them."""
    job = circleci["jobs"]["deploy-eks"]
    vpc = v.one("aws_eks_cluster.this")["vpc_config"][0]
    cidrs = set(vpc["public_access_cidrs"] or []) if vpc["endpoint_public_access"] else set()
    assert job.get("circleci_ip_ranges") is True, "deploy-eks does not run from CircleCI's published IP ranges"
    assert "docker" in job or job.get("executor") == "deploy", "IP ranges work only on the Docker executor"
    assert len(cidrs) >= 21, "the stack does not admit CircleCI's job IP ranges to the API endpoint"


def check_pod_identity(v: Values) -> None:
    roles = {"external_secrets": ("external-secrets", "external-secrets"), "external_dns": ("external-dns", "external-dns")}
    cluster_arn = v.one("aws_eks_cluster.this")["arn"]
    for name, (ns, sa) in roles.items():
        assoc = v.one(f"aws_eks_pod_identity_association.{name}")
        assert (assoc["namespace"], assoc["service_account"]) == (ns, sa)
        assert assoc["role_arn"] == v.one(f"aws_iam_role.{name}")["arn"]
        (st,) = json.loads(v.one(f"aws_iam_role.{name}")["assume_role_policy"])["Statement"]
        assert st["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert sorted(st["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
        keys = {k for op in st["Condition"].values() for k in op}
        assert keys <= POD_IDENTITY_TAGS, f"{name}: condition on {sorted(keys - POD_IDENTITY_TAGS)}, which Pod Identity does not send"
        eq = st["Condition"]["StringEquals"]
        assert eq["aws:RequestTag/kubernetes-namespace"] == ns and eq["aws:RequestTag/kubernetes-service-account"] == sa
        assert eq["aws:RequestTag/eks-cluster-arn"] == cluster_arn


def check_platform(v: Values) -> None:
    docs = v.manifests("platform_manifests")
    for nc in by_kind(docs, "NodeClass"):
        assert "tags" not in nc["spec"], "NodeClass tags: Auto Mode's managed policies refuse them, no node would launch"
    for p in by_kind(docs, "IngressClassParams"):
        assert "tags" not in p["spec"], "IngressClassParams tags need tagging permissions the cluster role lacks"
    ns = [n for n in by_kind(docs, "Namespace") if n["metadata"]["name"] == "shipshape"][0]
    labels = ns["metadata"]["labels"]
    assert labels.get(READINESS_GATE_LABEL) == "enabled", "no Auto Mode readiness gate injection on the app namespace"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    (ic,) = by_kind(docs, "IngressClass")
    assert ic["spec"]["controller"] == "eks.amazonaws.com/alb"
    cm = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == "amazon-vpc-cni"]
    assert cm and cm[0]["data"]["enable-network-policy-controller"] == "true"
    binding = by_kind(docs, "ClusterRoleBinding")[0]
    assert binding["subjects"][0]["name"] == v.one("aws_eks_access_entry.scraper")["user_name"]


def check_database_credentials(v: Values) -> None:
    master = v.one("aws_db_instance.this")["master_user_secret"][0]["secret_arn"]
    app_arn = v.one('aws_secretsmanager_secret.db_role["app"]')["arn"]
    # The app's Secret is built from the app login, never the master.
    app_docs = v.manifests("database_secret_manifests")
    for es in by_kind(app_docs, "ExternalSecret"):
        keys = {d["remoteRef"]["key"] for d in es["spec"]["data"]}
        assert master not in keys, f"{es['metadata']['name']} copies the master into the app namespace"
        assert es["spec"]["target"]["template"]["data"]["DATABASE_URL"].startswith("postgres://")
    (app_es,) = [e for e in by_kind(app_docs, "ExternalSecret") if e["metadata"]["name"] == "shipshape-database"]
    assert {d["remoteRef"]["key"] for d in app_es["spec"]["data"]} == {app_arn}
    owner = [e for e in by_kind(app_docs, "ExternalSecret") if e["metadata"]["name"] == "shipshape-database-owner"][0]
    assert "options=-c%20role%3Dshipshape_owner" in owner["spec"]["target"]["template"]["data"]["DATABASE_URL"]
    # The master goes only to the setup namespace.
    setup = v.manifests("database_setup_manifests")
    assert {d["metadata"]["namespace"] for d in setup} == {"shipshape-db-admin"}
    # The logins' values and their rotation are the platform administrator's (make eks-platform), from
    # output db_logins; Terraform holds no password and deploys nothing that creates unbounded roles.
    logins = v.outputs["db_logins"]
    assert logins["secrets"] == {"app": {"arn": app_arn, "username": "shipshape_app"},
                                 "owner": {"arn": v.one('aws_secretsmanager_secret.db_role["owner"]')["arn"], "username": "shipshape_owner"}}
    assert logins["connection"] == {"engine": "postgres", "host": v.one("aws_db_instance.this")["address"], "port": 5432,
                                    "dbname": "shipshape", "masterarn": master}
    rot = logins["rotation"]
    assert rot["application_id"].endswith(":applications/SecretsManagerRDSPostgreSQLRotationMultiUser")
    assert rot["parameters"]["masterSecretArn"] == master
    assert rot["parameters"]["vpcSecurityGroupIds"] == v.one("aws_security_group.rotation")["id"]
    assert set(rot["parameters"]["vpcSubnetIds"].split(",")) == {v.one(f"module.network.aws_subnet.private[{i}]")["id"] for i in range(3)}
    assert rot["days"] >= 1
    for rtype in ("aws_serverlessapplicationrepository_cloudformation_stack", "aws_cloudformation_stack", "aws_lambda_function",
                  "aws_secretsmanager_secret_version", "aws_secretsmanager_secret_rotation"):
        assert not v.of_type(rtype), f"{rtype}: not the pipeline's (no unbounded roles; no secret value in state or read on refresh)"
    assert not any(a.startswith("data.aws_secretsmanager_random_password") for a in v.resources), "a password in Terraform state"
    # ESO may read exactly the three database secrets.
    pol = json.loads(v.one("aws_iam_role_policy.external_secrets")["policy"])
    sm = [s for s in pol["Statement"] if any(a.startswith("secretsmanager:") for a in s["Action"])]
    assert len(sm) == 1 and set(sm[0]["Resource"]) == {master, app_arn, v.one('aws_secretsmanager_secret.db_role["owner"]')["arn"]}


def check_helm_values(v: Values) -> None:
    hv = yaml.safe_load(v.outputs["helm_values"])
    chart_readme = (REPO_ROOT / "deploy/helm/shipshape/README.md").read_text()
    assert "autoscaling: {enabled: true, minReplicas: 3, maxReplicas: 12}" in chart_readme
    assert (hv["autoscaling"]["minReplicas"], hv["autoscaling"]["maxReplicas"]) == (3, 12), "production replicas are not the README's 3..12"
    assert hv["topologySpread"]["zoneWhenUnsatisfiable"] == "DoNotSchedule"
    assert hv["database"]["existingSecret"] == "shipshape-database"
    assert hv["database"]["migrations"] == {"existingSecret": "shipshape-database-owner", "grantTo": "shipshape_app"}
    private = [v.one(f"module.network.aws_subnet.private[{i}]")["cidr_block"] for i in range(3)]
    assert hv["networkPolicy"]["database"]["cidrs"] == private


def check_support(windows: dict, today: dt.date) -> None:
    for what, w in windows.items():
        assert w["end_of_standard_support"], f"{what} {w['version']} has no dated support entry"
        end = dt.date.fromisoformat(w["end_of_standard_support"])
        left = (end - today).days
        assert left > WARNING_DAYS, (
            f"{what} {w['version']} leaves AWS standard support on {end} ({left} days): upgrade it ({w['source']})")


def check_alarms(v: Values) -> None:
    db_id = v.one("aws_db_instance.this")["identifier"]
    metrics = {a["metric_name"] for a in v.of_type("aws_cloudwatch_metric_alarm").values() if a["dimensions"].get("DBInstanceIdentifier") == db_id}
    assert {"CPUUtilization", "FreeStorageSpace", "FreeableMemory", "DatabaseConnections"} <= metrics
    hc = v.one("aws_route53_health_check.service")
    assert (hc["type"], hc["resource_path"], hc["fqdn"]) == ("HTTPS", "/readyz", "shipshape.example.com")
    alarm = v.one("aws_cloudwatch_metric_alarm.service_unhealthy")
    assert alarm["dimensions"] == {"HealthCheckId": hc["id"]} and alarm["region"] == "us-east-1"
    rules = v.one("aws_prometheus_rule_group_namespace.shipshape")["data"]
    assert rules == (REPO_ROOT / "deploy/helm/shipshape/files/prometheus-rules.yaml").read_text()


# =================================================================================================
# The checks on the stack as it is.
# =================================================================================================


def test_private_placement(values):
    check_private_placement(values)


def test_network(values):
    check_network(values)


def test_database(values):
    check_database(values)


def test_api_endpoint(values):
    check_api_endpoint(values)


def test_pipeline_and_stack_agree(values):
    check_pipeline_agrees(values, yaml.safe_load((REPO_ROOT / ".circleci/config.yml").read_text()))


def test_pod_identity_trust(values):
    check_pod_identity(values)


def test_platform_manifests(values):
    check_platform(values)


def test_database_credentials(values):
    check_database_credentials(values)


def test_helm_values(values):
    check_helm_values(values)


def test_alarms(values):
    check_alarms(values)


def test_pinned_versions_in_standard_support(values):
    """Fails (in CI, on every push) once a pinned version is within 60 days of its end of support."""
    check_support(values.outputs["support_windows"], dt.date.today())


def test_support_check_fails_two_months_before_the_end(values):
    # Scenario: the same pins, seen from February 2027 (1.35 ends 2027-03-27).
    with pytest.raises(AssertionError, match="kubernetes 1.35"):
        check_support(values.outputs["support_windows"], dt.date(2027, 2, 1))


# =================================================================================================
# Mutations: each plants a classic mistake in a copy of the stack; its check must fail.
# =================================================================================================

MUTATIONS = {
    "database-in-public-subnets": (check_private_placement, {
        f"{STACK}/database.tf": [("subnet_ids  = module.network.private_subnet_ids", "subnet_ids  = module.network.public_subnet_ids")]}),
    "open-api-endpoint": (check_api_endpoint, {
        f"{STACK}/cluster.tf": [("var.cluster_public_access_cidrs,\n  ))", "var.cluster_public_access_cidrs, [\"0.0.0.0/0\"],\n  ))")]}),
    "wrong-private-cidr": (check_network, {
        "infra/modules/aws-network/main.tf": [("cidrsubnet(var.vpc_cidr, 4, i)", "cidrsubnet(\"10.99.0.0/16\", 4, i)")]}),
    "database-open-to-vpc": (check_database, {
        f"{STACK}/database.tf": [("referenced_security_group_id = aws_security_group.rotation.id", "cidr_ipv4 = module.network.vpc_cidr_block")]}),
    "pod-identity-source-arn-is-cluster": (check_pod_identity, {
        f"{STACK}/iam.tf": [('"aws:RequestTag/eks-cluster-arn"            = local.cluster_arn', '"aws:SourceArn" = local.cluster_arn')]}),
    "nodeclass-tags": (check_platform, {
        "deploy/eks/platform.yaml.tftpl": [("  snatPolicy: Random\n", "  snatPolicy: Random\n  tags:\n    Project: shipshape\n")]}),
    "self-managed-readiness-label": (check_platform, {
        "deploy/eks/platform.yaml.tftpl": [("    eks.amazonaws.com/pod-readiness-gate-inject: enabled", "    elbv2.k8s.aws/pod-readiness-gate-inject: enabled")]}),
    "app-url-from-owner-login": (check_database_credentials, {
        "deploy/eks/database-secret.yaml.tftpl": [("        key: ${app_secret_arn}\n        property: username", "        key: ${owner_secret_arn}\n        property: username")]}),
    "replicas-not-promised": (check_helm_values, {
        f"{STACK}/outputs.tf": [("minReplicas = 3", "minReplicas = 2")]}),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_check_catches_mutation(terraform, tmp_path, name):
    check, edits = MUTATIONS[name]
    root = mutate(tmp_path, edits)
    mutated = run_defaults(terraform, root)
    with pytest.raises(AssertionError):
        check(mutated)


def test_support_check_catches_old_pin(terraform, tmp_path):
    # Yesterday's default (1.34 left standard support on 2026-12-02): the stack's own check block
    # fails the plan (so `terraform test` in tf-check fails), and the probe fails on its window too.
    root = mutate(tmp_path, {f"{STACK}/variables.tf": [('default     = "1.35"', 'default     = "1.34"')]})
    result = terraform.test(root / STACK, filter=TEST_FILE)
    assert not result.ok
    assert any("leaves AWS standard support within 60 days" in d and '"version":"1.34"' in d for d in result.diagnostics), result.diagnostics
    with pytest.raises(AssertionError, match="kubernetes 1.34"):
        check_support({"kubernetes": {"version": "1.34", "end_of_standard_support": "2026-12-02", "source": "x"}}, dt.date(2026, 12, 6))


def test_pipeline_check_catches_job_without_ip_ranges(values):
    circleci = yaml.safe_load((REPO_ROOT / ".circleci/config.yml").read_text())
    circleci["jobs"]["deploy-eks"].pop("circleci_ip_ranges", None)
    with pytest.raises(AssertionError):
        check_pipeline_agrees(values, circleci)
