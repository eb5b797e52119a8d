"""infra/aws/eks (+ deploy/eks): the EKS platform's safety properties, read from the configuration.

Each check_* function takes a parsed Stack (and, where it matters, the rendered deploy/eks manifests)
and raises AssertionError. The tests run it on the real stack and, in test_*_catches, on mutated
copies, so every check is shown to fail on the mistake it exists for.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conftest import REPO_ROOT, Stack, blocks, ref, variable_default

STACK_DIR = "infra/aws/eks"
MANIFEST_DIR = REPO_ROOT / "deploy/eks"
CHART_VALUES = REPO_ROOT / "deploy/helm/shipshape/values.yaml"

PRIVATE_IDS = ref("aws_subnet.private[*].id")
PUBLIC_IDS = ref("aws_subnet.public[*].id")
CLUSTER_SG = ref("aws_eks_cluster.this.vpc_config[0].cluster_security_group_id")
DB_SG = ref("aws_security_group.db.id")
CONTROL_PLANE_LOGS = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}


@pytest.fixture(scope="module")
def stack(tf_stack) -> Stack:
    return tf_stack(STACK_DIR)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# =================================================================================================
# deploy/eks templates: rendered the way templatefile() does for plain ${name} interpolations.
# =================================================================================================

_INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render(template: str, variables: dict[str, str]) -> list[dict]:
    """Substitute ${name}; any other template syntax, or a name the stack does not pass, fails."""
    missing = sorted(set(_INTERP.findall(template)) - set(variables))
    assert not missing, f"template uses variables the stack does not pass: {missing}"
    text = _INTERP.sub(lambda m: str(variables[m.group(1)]), template)
    assert "${" not in text and "%{" not in text, "template has interpolation the test cannot render"
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _template_keys(expr: str) -> set[str]:
    """Keys of the object literal passed to templatefile() in an output expression."""
    return set(re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)':", expr))


def platform_vars(stack: Stack) -> dict[str, str]:
    keys = set(stack.locals["manifest_vars"])
    sample = {
        "name": variable_default(stack, "name"),
        "region": variable_default(stack, "region"),
        "app_namespace": variable_default(stack, "app_namespace"),
        "external_secrets_namespace": stack.locals["external_secrets_namespace"],
        "external_dns_namespace": stack.locals["external_dns_namespace"],
        "node_role_name": "shipshape-eks-node",
        "cluster_security_group_id": "sg-0123456789abcdef0",
        "node_architectures": '["amd64"]',
        "azs": '["us-east-1a", "us-east-1b", "us-east-1c"]',
        "certificate_arn": "arn:aws:acm:us-east-1:111122223333:certificate/abc",
    }
    assert keys == set(sample), f"manifest_vars changed: {sorted(keys ^ set(sample))}"
    return sample


def database_secret_vars(stack: Stack) -> dict[str, str]:
    keys = _template_keys(stack.outputs["database_secret_manifests"]["value"])
    sample = {
        "region": "us-east-1",
        "app_namespace": variable_default(stack, "app_namespace"),
        "secret_name": stack.locals["db_secret_name"],
        "secret_key": stack.locals["db_secret_key"],
        "db_host": "shipshape-postgres.abc.us-east-1.rds.amazonaws.com",
        "db_port": "5432",
        "db_name": variable_default(stack, "db_name"),
        "db_query": "sslmode=verify-full&sslrootcert=/etc/shipshape/db-ca/ca.pem",
        "db_secret_arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-1",
    }
    assert keys == set(sample), f"database_secret_manifests passes {sorted(keys)}"
    return sample


@pytest.fixture(scope="module")
def platform(stack) -> list[dict]:
    return render((MANIFEST_DIR / "platform.yaml.tftpl").read_text(), platform_vars(stack))


@pytest.fixture(scope="module")
def db_secret_docs(stack) -> list[dict]:
    return render((MANIFEST_DIR / "database-secret.yaml.tftpl").read_text(), database_secret_vars(stack))


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


# =================================================================================================
# Nodes and the database live only in private subnets.
# =================================================================================================


def check_private_placement(stack: Stack, platform_docs: list[dict]) -> None:
    cluster = stack.resource("aws_eks_cluster", "this")
    vpc = blocks(cluster, "vpc_config")[0]
    # The default NodeClass of the built-in pools places nodes in the cluster's subnets.
    assert vpc.get("subnet_ids") == PRIVATE_IDS, f"cluster subnets are {vpc.get('subnet_ids')}, not the private ones"
    assert stack.resource("aws_db_subnet_group", "this").get("subnet_ids") == PRIVATE_IDS, "DB subnet group is not private"

    private_tags = stack.locals["private_subnet_tags"]
    public_tags = stack.locals["public_subnet_tags"]
    assert "local.private_subnet_tags" in stack.resource("aws_subnet", "private")["tags"]
    assert "local.public_subnet_tags" in stack.resource("aws_subnet", "public")["tags"]
    assert stack.resource("aws_subnet", "public").get("map_public_ip_on_launch") is False

    node_classes = by_kind(platform_docs, "NodeClass")
    assert node_classes, "deploy/eks has no NodeClass"
    for nc in node_classes:
        terms = nc["spec"].get("subnetSelectorTerms") or []
        assert terms, f"NodeClass {nc['metadata']['name']} selects no subnets (would use any)"
        for term in terms:
            assert "id" not in term, "NodeClass selects a subnet by ID; select by the private tier tag"
            tags = {k: v for k, v in (term.get("tags") or {}).items() if not k.startswith("kubernetes.io/cluster/")}
            assert tags, "a subnet selector term without tags matches every subnet"
            # Every selected tag must be a private-subnet tag with the same value, and the term must
            # contradict the public subnets' tags (so no public subnet can ever match).
            for k, v in tags.items():
                assert private_tags.get(k) == v, f"NodeClass selects {k}={v}, which private subnets do not carry"
            assert any(public_tags.get(k) != v for k, v in tags.items()), "NodeClass selector also matches public subnets"
    for pool in by_kind(platform_docs, "NodePool"):
        ref_name = pool["spec"]["template"]["spec"]["nodeClassRef"]["name"]
        assert ref_name in {nc["metadata"]["name"] for nc in node_classes}, f"NodePool uses NodeClass {ref_name} not defined here"


def test_nodes_and_database_are_private(stack, platform):
    check_private_placement(stack, platform)


def _public_nodeclass(docs: list[dict]) -> list[dict]:
    docs = yaml.safe_load(yaml.safe_dump(docs))
    for nc in by_kind(docs, "NodeClass"):
        nc["spec"]["subnetSelectorTerms"] = [{"tags": {"shipshape.io/subnet-tier": "public"}}]
    return docs


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s, d: (blocks(s.resource("aws_eks_cluster", "this"), "vpc_config")[0].update(subnet_ids=PUBLIC_IDS), d)[1],
        lambda s, d: (s.resource("aws_db_subnet_group", "this").update(subnet_ids=PUBLIC_IDS), d)[1],
        lambda s, d: _public_nodeclass(d),
        lambda s, d: (s.resource("aws_subnet", "public").update(map_public_ip_on_launch=True), d)[1],
    ],
    ids=["cluster-in-public", "db-in-public", "nodeclass-public", "public-ip-on-launch"],
)
def test_private_placement_check_catches(stack, platform, mutate):
    s = stack.copy()
    docs = mutate(s, platform)
    with pytest.raises(AssertionError):
        check_private_placement(s, docs)


# =================================================================================================
# The database: not public, encrypted, TLS-only, reachable only from the cluster security group.
# =================================================================================================


def check_database(stack: Stack) -> None:
    db = stack.resource("aws_db_instance", "this")
    assert db.get("engine") == "postgres"
    assert db.get("publicly_accessible") is False, "DB publicly accessible"
    assert db.get("storage_encrypted") is True, "DB storage not encrypted"
    assert str(db.get("kms_key_id", "")).startswith("${aws_kms_key."), "DB not encrypted with the stack's KMS key"
    assert db.get("manage_master_user_password") is True, "master password not managed by RDS"
    for leak in ("password", "password_wo"):
        assert leak not in db, f"a literal/variable {leak} puts the DB password into state or tfvars"
    assert db.get("vpc_security_group_ids") == [DB_SG], f"DB security groups are {db.get('vpc_security_group_ids')}"
    assert db.get("performance_insights_enabled") is True
    assert db.get("deletion_protection") == ref("var.db_deletion_protection")
    assert variable_default(stack, "db_deletion_protection") is True
    assert db.get("skip_final_snapshot") == ref("var.db_skip_final_snapshot")
    assert variable_default(stack, "db_skip_final_snapshot") is False
    assert db.get("final_snapshot_identifier"), "no final snapshot name"
    assert variable_default(stack, "db_backup_retention_days") >= 7
    assert db.get("multi_az") == ref("var.db_multi_az")
    assert re.fullmatch(r"1[6-9]", variable_default(stack, "postgres_major_version"))

    pg = stack.resource("aws_db_parameter_group", "this")
    params = {p["name"]: str(p["value"]) for p in blocks(pg, "parameter")}
    assert params.get("rds.force_ssl") == "1", "rds.force_ssl is not 1: plaintext connections accepted"
    assert db.get("parameter_group_name") == ref("aws_db_parameter_group.this.name")

    # Reachability: the DB's security group admits 5432 from the cluster security group and nothing else.
    sg = stack.resource("aws_security_group", "db")
    assert "ingress" not in sg and "egress" not in sg, "inline rules on the DB security group"
    assert not stack.of_type("aws_security_group_rule"), "legacy aws_security_group_rule resources present"
    rules = [(n, b) for n, b in stack.of_type("aws_vpc_security_group_ingress_rule").items() if b.get("security_group_id") == DB_SG]
    assert len(rules) == 1, f"DB security group has {len(rules)} ingress rules"
    name, rule = rules[0]
    for key in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id"):
        assert key not in rule, f"{name}: DB reachable from {key}={rule[key]}"
    assert rule.get("referenced_security_group_id") == CLUSTER_SG, f"{name}: source is not the cluster security group"
    assert (rule.get("ip_protocol"), rule.get("from_port"), rule.get("to_port")) == ("tcp", 5432, 5432)
    egress = [n for n, b in stack.of_type("aws_vpc_security_group_egress_rule").items() if b.get("security_group_id") == DB_SG]
    assert not egress, f"DB security group has egress rules {egress}"


def test_database(stack):
    check_database(stack)


def _add_db_rule(s: Stack, **source) -> None:
    s.resources["aws_vpc_security_group_ingress_rule"]["db_from_vpc"] = {
        "security_group_id": DB_SG,
        "ip_protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
        **source,
    }


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.resource("aws_db_instance", "this").update(publicly_accessible=True),
        lambda s: s.resource("aws_db_instance", "this").update(storage_encrypted=False),
        lambda s: s.resource("aws_db_instance", "this").pop("kms_key_id"),
        lambda s: s.resource("aws_db_instance", "this").update(manage_master_user_password=False),
        lambda s: s.resource("aws_db_instance", "this").update(password="${var.db_password}"),
        lambda s: s.variables["db_deletion_protection"].update(default=False),
        lambda s: s.variables["db_skip_final_snapshot"].update(default=True),
        lambda s: s.resource("aws_db_parameter_group", "this").update(parameter=[{"name": "rds.force_ssl", "value": "0"}]),
        lambda s: _add_db_rule(s, cidr_ipv4="10.40.0.0/16"),
        lambda s: _add_db_rule(s, cidr_ipv4="0.0.0.0/0"),
        lambda s: s.resource("aws_vpc_security_group_ingress_rule", "db_from_cluster").update(
            referenced_security_group_id=ref("aws_security_group.endpoints.id")
        ),
        lambda s: s.resource("aws_vpc_security_group_ingress_rule", "db_from_cluster").update(to_port=65535),
    ],
    ids=[
        "public",
        "unencrypted",
        "default-kms",
        "own-password",
        "password-in-state",
        "no-deletion-protection",
        "no-final-snapshot",
        "ssl-optional",
        "vpc-cidr",
        "world",
        "other-sg",
        "port-range",
    ],
)
def test_database_check_catches(stack, mutate):
    s = stack.copy()
    mutate(s)
    with pytest.raises(AssertionError):
        check_database(s)


# =================================================================================================
# Cluster: API endpoint, secrets encryption, control-plane logs, Auto Mode, add-ons, access.
# =================================================================================================


def check_api_endpoint(stack: Stack) -> None:
    default = variable_default(stack, "cluster_public_access_cidrs")
    assert default == [], f"cluster_public_access_cidrs defaults to {default}: public API open by default"
    vpc = blocks(stack.resource("aws_eks_cluster", "this"), "vpc_config")[0]
    assert vpc.get("endpoint_private_access") is True, "private endpoint off"
    public = vpc.get("endpoint_public_access")
    assert public is not True, "public endpoint unconditionally on"
    if public is not False:
        assert "var.cluster_public_access_cidrs" in str(public), f"public endpoint switch is {public}"
        cidrs = vpc.get("public_access_cidrs")
        assert cidrs is not None and "var.cluster_public_access_cidrs" in str(cidrs), "public endpoint without a CIDR limit (AWS default is 0.0.0.0/0)"
        assert not any(c in str(cidrs) for c in OPEN_CIDRS), f"public_access_cidrs contains an open range: {cidrs}"


def test_api_endpoint_not_open_by_default(stack):
    check_api_endpoint(stack)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.variables["cluster_public_access_cidrs"].update(default=["0.0.0.0/0"]),
        lambda s: blocks(s.resource("aws_eks_cluster", "this"), "vpc_config")[0].update(endpoint_public_access=True),
        lambda s: blocks(s.resource("aws_eks_cluster", "this"), "vpc_config")[0].pop("public_access_cidrs"),
        lambda s: blocks(s.resource("aws_eks_cluster", "this"), "vpc_config")[0].update(endpoint_private_access=False),
    ],
    ids=["open-default", "always-public", "no-cidr-limit", "no-private"],
)
def test_api_endpoint_check_catches(stack, mutate):
    s = stack.copy()
    mutate(s)
    with pytest.raises(AssertionError):
        check_api_endpoint(s)


def check_encryption_and_logging(stack: Stack) -> None:
    cluster = stack.resource("aws_eks_cluster", "this")
    enc = blocks(cluster, "encryption_config")
    assert enc, "no encryption_config: Kubernetes Secrets are not envelope-encrypted"
    assert "secrets" in _as_list(enc[0].get("resources")), "encryption_config does not cover secrets"
    key = blocks(enc[0], "provider")[0].get("key_arn")
    assert key == ref("aws_kms_key.eks.arn"), f"secrets key is {key}"
    assert stack.resource("aws_kms_key", "eks").get("enable_key_rotation") is True

    logs = set(_as_list(cluster.get("enabled_cluster_log_types")))
    assert logs >= CONTROL_PLANE_LOGS, f"control-plane logs missing: {sorted(CONTROL_PLANE_LOGS - logs)}"
    group = stack.resource("aws_cloudwatch_log_group", "cluster")
    assert group.get("name") == "/aws/eks/${var.name}/cluster", "log group is not the one EKS writes to"
    assert group.get("retention_in_days") == ref("var.log_retention_days")
    assert variable_default(stack, "log_retention_days") >= 365
    assert str(group.get("kms_key_id", "")).startswith("${aws_kms_key.")
    assert ref("aws_cloudwatch_log_group.cluster") in " ".join(_as_list(cluster.get("depends_on"))), (
        "cluster does not wait for its log group (EKS would create one with no retention)"
    )


def test_secrets_encryption_and_control_plane_logs(stack):
    check_encryption_and_logging(stack)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.resource("aws_eks_cluster", "this").pop("encryption_config"),
        lambda s: blocks(s.resource("aws_eks_cluster", "this"), "encryption_config")[0].update(resources=[]),
        lambda s: s.resource("aws_eks_cluster", "this").update(enabled_cluster_log_types=[]),
        lambda s: s.resource("aws_eks_cluster", "this").update(enabled_cluster_log_types=["api"]),
        lambda s: s.resource("aws_cloudwatch_log_group", "cluster").pop("retention_in_days"),
    ],
    ids=["no-encryption", "encrypts-nothing", "no-logs", "api-log-only", "logs-forever"],
)
def test_encryption_and_logging_check_catches(stack, mutate):
    s = stack.copy()
    mutate(s)
    with pytest.raises(AssertionError):
        check_encryption_and_logging(s)


def check_auto_mode_and_addons(stack: Stack) -> None:
    cluster = stack.resource("aws_eks_cluster", "this")
    assert blocks(cluster, "compute_config")[0].get("enabled") is True, "Auto Mode compute off"
    assert blocks(blocks(cluster, "storage_config")[0], "block_storage")[0].get("enabled") is True
    net = blocks(cluster, "kubernetes_network_config")[0]
    assert blocks(net, "elastic_load_balancing")[0].get("enabled") is True
    assert cluster.get("bootstrap_self_managed_addons") is False, "self-managed add-ons would run beside Auto Mode's"
    assert re.fullmatch(r"1\.\d+", variable_default(stack, "kubernetes_version"))

    addons = {b.get("addon_name"): b for b in stack.of_type("aws_eks_addon").values()}
    assert "metrics-server" in addons, "no metrics-server add-on: the chart's HPA never scales"
    version = addons["metrics-server"].get("addon_version")
    assert version, "metrics-server add-on version not pinned"
    if version.startswith("${var."):
        version = variable_default(stack, version[len("${var.") : -1])
    assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", str(version)), f"metrics-server version {version} is not exact"
    # Auto Mode has these built in; a second copy as an add-on would fight it.
    doubled = set(addons) & {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver", "eks-pod-identity-agent"}
    assert not doubled, f"add-ons duplicating Auto Mode capabilities: {sorted(doubled)}"


def test_auto_mode_and_metrics_server(stack):
    check_auto_mode_and_addons(stack)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.resources.pop("aws_eks_addon"),
        lambda s: s.resource("aws_eks_addon", "metrics_server").update(addon_name="kube-state-metrics"),
        lambda s: s.resource("aws_eks_addon", "metrics_server").pop("addon_version"),
        lambda s: s.variables["metrics_server_addon_version"].update(default="latest"),
        lambda s: blocks(s.resource("aws_eks_cluster", "this"), "compute_config")[0].update(enabled=False),
    ],
    ids=["no-addons", "no-metrics-server", "unpinned", "floating-version", "auto-mode-off"],
)
def test_auto_mode_check_catches(stack, mutate):
    s = stack.copy()
    mutate(s)
    with pytest.raises(AssertionError):
        check_auto_mode_and_addons(s)


def check_access(stack: Stack) -> None:
    cluster = stack.resource("aws_eks_cluster", "this")
    access = blocks(cluster, "access_config")[0]
    assert access.get("authentication_mode") == "API", "aws-auth ConfigMap still in play"
    assert access.get("bootstrap_cluster_creator_admin_permissions") is False, "terraform's caller gets hidden admin"
    deploy = stack.resource("aws_eks_access_policy_association", "deploy")
    assert deploy.get("policy_arn", "").endswith("/AmazonEKSEditPolicy"), f"deploy role gets {deploy.get('policy_arn')}"
    scope = blocks(deploy, "access_scope")[0]
    assert scope.get("type") == "namespace" and scope.get("namespaces") == [ref("var.app_namespace")], "deploy role not limited to the app namespace"
    assert stack.resource("aws_eks_access_entry", "deploy").get("principal_arn") == ref("var.deploy_role_arn")
    admin = stack.resource("aws_eks_access_policy_association", "cluster_admin")
    assert "local.cluster_admin_principals" in admin.get("for_each", "")
    principals = stack.locals["cluster_admin_principals"]
    assert "var.deploy_role_arn" not in str(principals), "the every-commit deploy role must not be cluster admin"


def test_access_entries(stack):
    check_access(stack)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: blocks(s.resource("aws_eks_cluster", "this"), "access_config")[0].update(authentication_mode="API_AND_CONFIG_MAP"),
        lambda s: blocks(s.resource("aws_eks_cluster", "this"), "access_config")[0].update(bootstrap_cluster_creator_admin_permissions=True),
        lambda s: blocks(s.resource("aws_eks_access_policy_association", "deploy"), "access_scope")[0].update(type="cluster"),
        lambda s: s.resource("aws_eks_access_policy_association", "deploy").update(
            policy_arn="${local.eks_access_policy}/AmazonEKSClusterAdminPolicy"
        ),
        lambda s: s.locals.update(cluster_admin_principals="${merge({'admin': var.admin_role_arn, 'ci': var.deploy_role_arn})}"),
    ],
    ids=["config-map", "creator-admin", "deploy-cluster-scope", "deploy-admin", "deploy-in-admins"],
)
def test_access_check_catches(stack, mutate):
    s = stack.copy()
    mutate(s)
    with pytest.raises(AssertionError):
        check_access(s)


# =================================================================================================
# Subnet tags the load-balancing capability needs.
# =================================================================================================


def check_subnet_tags(stack: Stack) -> None:
    for name, key in (("public", "kubernetes.io/role/elb"), ("private", "kubernetes.io/role/internal-elb")):
        subnet = stack.resource("aws_subnet", name)
        assert subnet.get("count") == 3, f"aws_subnet.{name}: not one per AZ"
        tags_local = f"{name}_subnet_tags"
        assert f"local.{tags_local}" in str(subnet.get("tags")), f"aws_subnet.{name} does not carry local.{tags_local}"
        assert stack.locals[tags_local].get(key) == "1", f"{name} subnets lack {key}=1"
        assert "local.cluster_tag" in str(subnet.get("tags"))
    assert stack.locals["cluster_tag"] == {"kubernetes.io/cluster/${var.name}": "shared"}


def test_subnets_have_load_balancer_tags(stack):
    check_subnet_tags(stack)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.locals["public_subnet_tags"].pop("kubernetes.io/role/elb"),
        lambda s: s.locals["private_subnet_tags"].pop("kubernetes.io/role/internal-elb"),
        lambda s: s.resource("aws_subnet", "public").update(tags="${merge(local.cluster_tag, {'Name': 'x'})}"),
    ],
    ids=["public-untagged", "private-untagged", "tags-not-applied"],
)
def test_subnet_tag_check_catches(stack, mutate):
    s = stack.copy()
    mutate(s)
    with pytest.raises(AssertionError):
        check_subnet_tags(s)


# =================================================================================================
# IAM: no "*" on "*", every policy is a policy document the check can read.
# =================================================================================================

FORBIDDEN_MANAGED = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def check_iam(stack: Stack) -> None:
    docs = stack.data.get("aws_iam_policy_document", {})
    assert docs, "no aws_iam_policy_document: policies must be readable here"
    for name, doc in docs.items():
        for st in blocks(doc, "statement"):
            assert "not_actions" not in st and "not_resources" not in st, f"{name}: NotAction/NotResource grants everything else"
            actions = _as_list(st.get("actions"))
            resources = _as_list(st.get("resources"))
            if st.get("effect", "Allow") != "Allow":
                continue
            assert actions, f"{name}: statement without actions"
            if any(a in ("*", "*:*") for a in actions):
                raise AssertionError(f"{name}: statement allows every action")
            # A service wildcard on every resource in an IAM policy (kms:* in a key policy is scoped
            # to the key itself and is only allowed for the account root principal).
            for a in actions:
                if a.endswith(":*") and "*" in resources:
                    principals = [p for b in blocks(st, "principals") for p in _as_list(b.get("identifiers"))]
                    assert principals and all(p.endswith(":root}") or p.endswith(":root") for p in principals), (
                        f"{name}: {a} on * outside a key policy's account-root statement"
                    )
    for rtype in ("aws_iam_role_policy", "aws_iam_policy"):
        for name, body in stack.of_type(rtype).items():
            assert str(body.get("policy", "")).startswith("${data.aws_iam_policy_document."), f"{rtype}.{name}: policy not a readable document"
    for name, body in stack.of_type("aws_iam_role_policy_attachment").items():
        assert not any(m in str(body.get("policy_arn")) for m in FORBIDDEN_MANAGED), f"{name}: broad managed policy"

    # The ESO role reads exactly the RDS secret.
    eso = docs["external_secrets"]
    for st in blocks(eso, "statement"):
        if any(a.startswith("secretsmanager:") for a in _as_list(st.get("actions"))):
            assert _as_list(st.get("resources")) == [ref("local.db_secret_arn")], f"ESO reads {st.get('resources')}"
    assert stack.locals["db_secret_arn"] == ref("aws_db_instance.this.master_user_secret[0].secret_arn")


def test_iam_least_privilege(stack):
    check_iam(stack)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.data["aws_iam_policy_document"]["external_dns"]["statement"].append({"actions": ["*"], "resources": ["*"]}),
        lambda s: s.data["aws_iam_policy_document"]["external_dns"]["statement"].append({"actions": ["route53:*"], "resources": ["*"]}),
        lambda s: s.data["aws_iam_policy_document"]["flow_logs"].update(statement={"not_actions": ["iam:*"], "resources": ["*"]}),
        lambda s: s.resource("aws_iam_role_policy", "external_dns").update(policy='{"Statement":[{"Action":"*"}]}'),
        lambda s: s.resource("aws_iam_role_policy_attachment", "rds_monitoring").update(
            policy_arn="arn:aws:iam::aws:policy/AdministratorAccess"
        ),
        lambda s: s.data["aws_iam_policy_document"]["external_secrets"]["statement"][0].update(resources=["*"]),
    ],
    ids=["star-on-star", "service-star", "not-action", "inline-json", "admin-managed", "eso-any-secret"],
)
def test_iam_check_catches(stack, mutate):
    s = stack.copy()
    mutate(s)
    with pytest.raises(AssertionError):
        check_iam(s)


def test_pod_identity_bindings_match_controllers(stack):
    assocs = stack.of_type("aws_eks_pod_identity_association")
    assert set(assocs) == {"external_secrets", "external_dns"}
    for name, body in assocs.items():
        assert body["namespace"] == ref(f"local.{name}_namespace")
        assert body["service_account"] == ref(f"local.{name}_service_account")
        assert body["role_arn"] == ref(f"aws_iam_role.{name}.arn")
    trust = stack.data["aws_iam_policy_document"]["pod_identity_trust"]
    st = blocks(trust, "statement")[0]
    variables = {c["variable"] for c in blocks(st, "condition")}
    assert {"aws:SourceAccount", "aws:SourceArn", "aws:RequestTag/kubernetes-namespace", "aws:RequestTag/kubernetes-service-account"} <= variables


# =================================================================================================
# deploy/eks manifests and the chart values this stack outputs.
# =================================================================================================


def test_platform_manifests(platform):
    kinds = [d["kind"] for d in platform]
    for kind in ("Namespace", "ConfigMap", "NodeClass", "NodePool", "StorageClass", "IngressClassParams", "IngressClass"):
        assert kind in kinds, f"deploy/eks/platform.yaml.tftpl has no {kind}"
    ic = by_kind(platform, "IngressClass")[0]
    assert ic["metadata"]["name"] == "alb" and ic["spec"]["controller"] == "eks.amazonaws.com/alb"
    params = ic["spec"]["parameters"]
    assert (params["apiGroup"], params["kind"]) == ("eks.amazonaws.com", "IngressClassParams")
    assert params["name"] in {p["metadata"]["name"] for p in by_kind(platform, "IngressClassParams")}
    cm = [c for c in by_kind(platform, "ConfigMap") if c["metadata"]["name"] == "amazon-vpc-cni"]
    assert cm and cm[0]["data"]["enable-network-policy-controller"] == "true", "NetworkPolicy would not be enforced"
    assert all(nc["spec"].get("networkPolicy") in ("DefaultAllow", "DefaultDeny") for nc in by_kind(platform, "NodeClass"))
    sc = by_kind(platform, "StorageClass")[0]
    assert sc["provisioner"] == "ebs.csi.eks.amazonaws.com" and sc["parameters"]["encrypted"] == "true"
    app_ns = [n for n in by_kind(platform, "Namespace") if n["metadata"]["name"] == "shipshape"][0]
    assert app_ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_database_secret_manifests(stack, db_secret_docs):
    store = by_kind(db_secret_docs, "SecretStore")[0]
    assert store["spec"]["provider"]["aws"]["service"] == "SecretsManager"
    assert "auth" not in store["spec"]["provider"]["aws"], "static credentials instead of Pod Identity"
    es = by_kind(db_secret_docs, "ExternalSecret")[0]
    assert es["metadata"]["name"] == es["spec"]["target"]["name"] == "shipshape-database"
    url = es["spec"]["target"]["template"]["data"]["DATABASE_URL"]
    assert url.startswith("postgres://") and "sslmode=verify-full&sslrootcert=/etc/shipshape/db-ca/ca.pem" in url
    # The query string the stack puts there: TLS always, verify-full with the chart's mount path.
    assert stack.locals["db_ca_path"] == "/etc/shipshape/db-ca/${local.db_ca_key}"
    assert "sslmode=require" in stack.locals["db_query"] and "sslmode=verify-full" in stack.locals["db_query"]
    assert set(re.findall(r"'([a-z-]+)'", stack.variables["db_sslmode"]["validation"]["condition"])) == {"verify-full", "require"}


def _paths(d: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(d, dict) and d:
        return [p for k, v in d.items() for p in _paths(v, prefix + (k,))]
    return [prefix]


def check_helm_values_match_chart(stack: Stack, chart_values: dict) -> None:
    values = stack.locals["helm_values"]
    for path in _paths(values):
        node: Any = chart_values
        for key in path:
            assert isinstance(node, dict) and key in node, f"helm_values sets {'.'.join(path)}, which the chart does not have"
            node = node[key]
    flat = {".".join(p) for p in _paths(values)}
    for key in ("database.mode", "database.existingSecret", "ingress.className", "ingress.host", "ingress.certificateArn"):
        assert key in flat, f"helm_values lacks {key} (the contract in CONTEXT)"
    assert values["database"]["mode"] == "postgres" and values["ingress"]["className"] == "alb"
    assert values["database"]["existingSecret"] == ref("local.db_secret_name")
    assert stack.locals["db_secret_name"] == "shipshape-database"


def test_helm_values_match_the_chart(stack):
    chart_values = yaml.safe_load(CHART_VALUES.read_text())
    check_helm_values_match_chart(stack, chart_values)
    # The chart mounts the CA bundle where DATABASE_URL's sslrootcert points.
    helpers = (REPO_ROOT / "deploy/helm/shipshape/templates/_helpers.tpl").read_text()
    assert "mountPath: /etc/shipshape/db-ca" in helpers


def test_helm_values_check_catches_unknown_key(stack):
    s = stack.copy()
    s.locals["helm_values"]["ingress"]["tlsCertArn"] = "x"
    with pytest.raises(AssertionError):
        check_helm_values_match_chart(s, yaml.safe_load(CHART_VALUES.read_text()))


# =================================================================================================
# Conventions shared with the other stacks.
# =================================================================================================


def test_versions_backend_and_default_tags(stack):
    tf = stack.terraform
    versions = [t for t in tf if "required_version" in t][0]
    assert versions["required_version"] == ">= 1.10"
    assert versions["required_providers"]["aws"]["version"] == "~> 6.0"
    backend = [t["backend"] for t in tf if "backend" in t][0]["s3"]
    assert backend.get("use_lockfile") is True and backend.get("encrypt") is True
    assert backend.get("key") == "aws/eks/terraform.tfstate"
    assert "bucket" not in backend, "backend must be partial: the bucket comes from -backend-config"
    tags = stack.providers["aws"][0]["default_tags"]["tags"]
    for k, v in (("Project", "shipshape"), ("ManagedBy", "terraform"), ("Stack", "aws/eks")):
        assert f"'{k}': '{v}'" in tags, f"default tag {k}={v} missing"


def test_every_variable_is_described_typed_and_validated_where_free_form(stack):
    for name, var in stack.variables.items():
        assert var.get("description"), f"variable {name} has no description"
        assert var.get("type"), f"variable {name} has no type"
        if var.get("type") in ("${string}", "${list(string)}", "${number}"):
            assert blocks(var, "validation"), f"variable {name} has no validation"


def test_tfvars_example_sets_only_declared_variables(stack):
    text = (REPO_ROOT / STACK_DIR / "terraform.tfvars.example").read_text()
    names = set(re.findall(r"^([a-z][a-z0-9_]*)\s*=", text, flags=re.M))
    assert names, "terraform.tfvars.example sets nothing"
    assert names <= set(stack.variables), f"undeclared: {sorted(names - set(stack.variables))}"
    required = {n for n, v in stack.variables.items() if "default" not in v}
    assert required <= names, f"the example misses required variables {sorted(required - names)}"


# =================================================================================================
# The variable validation really refuses an open API endpoint (a real, offline terraform plan).
# =================================================================================================


def _tf_plan_offline() -> Path | None:
    for base in (os.environ.get("TF_OFFLINE_DIR"), REPO_ROOT.parent / "shared/tools/tf-offline", Path("/work/shared/tools/tf-offline")):
        if base and (Path(base) / "tf-plan-offline").exists():
            return Path(base) / "tf-plan-offline"
    return None


@pytest.mark.parametrize("cidrs", ['["0.0.0.0/0"]', '["203.0.113.0/24", "10.0.0.0/4"]'])
def test_plan_refuses_open_or_bad_api_cidrs(cidrs):
    tool = _tf_plan_offline()
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("tf-plan-offline not found (shared/tools/tf-offline beside the repo)")
        pytest.skip("tf-plan-offline not found outside CI")
    run = subprocess.run(
        [str(tool), str(REPO_ROOT / STACK_DIR), "--", "-var-file=terraform.tfvars.example", f"-var=cluster_public_access_cidrs={cidrs}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = run.stdout + run.stderr
    assert run.returncode != 0, f"plan accepted cluster_public_access_cidrs={cidrs}"
    assert "cluster_public_access_cidrs must" in out, out[-2000:]
