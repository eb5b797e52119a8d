"""infra/aws/vm on planned values: the firewall's effective behaviour (security group and network ACL,
first-match) against probes, the scaling mode's users-API answer evaluated like the ALB does, the
instance's release permissions, and the deploy path. Each check also runs on a mutated copy of the
stack (mutate()) and must fail there.

The plans come from the stack's own `terraform test` runs (infra/aws/vm/tests/vm.tftest.hcl, mock
provider): tfrun returns each run's plan JSON.
"""
from __future__ import annotations

import ipaddress
import json

import pytest

from conftest import REPO_ROOT, mutate

STACK = "infra/aws/vm"
TEST_FILE = "tests/vm.tftest.hcl"
VPC_CIDR = "10.40.0.0/16"
INTERNET4, INTERNET6, INSIDE, GOOGLE_HOST = "203.0.113.7", "2001:db8::7", "10.40.1.20", "104.155.1.1"
PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "58": 58, "1": 1, "6": 6, "17": 17, "-1": -1}


def plans(terraform, root=None, run="single_vm"):
    result = terraform.test(root or STACK, filter=TEST_FILE)
    assert result.plans, f"no plans from terraform test: {result.diagnostics or result.log[-2000:]}"
    return result, result.plan(run)


def resources(plan: dict, rtype: str) -> list[dict]:
    """Planned resources of a type: {address, name, values} with the planned (after) values."""
    if "resource_changes" not in plan:
        raise AssertionError(f"plan has no resource_changes (keys {sorted(plan)})")
    return [{"address": rc["address"], "name": rc["name"], "values": rc["change"]["after"] or {}}
            for rc in plan["resource_changes"]
            if rc["type"] == rtype and rc["mode"] == "managed" and "delete" != rc["change"]["actions"][-1]]


# ---- the firewall, evaluated ----------------------------------------------------------------------

def sg_allows(plan: dict, direction: str, proto: str, port: int, peer: str) -> bool:
    """Security groups: allow-only, any matching rule admits."""
    ip = ipaddress.ip_address(peer)
    for r in resources(plan, f"aws_vpc_security_group_{direction}_rule"):
        v = r["values"]
        cidr = v.get("cidr_ipv4") or v.get("cidr_ipv6")
        if not cidr or ip.version != ipaddress.ip_network(cidr).version or ip not in ipaddress.ip_network(cidr):
            continue
        rp = PROTO[str(v["ip_protocol"])]
        if rp == -1:
            return True
        if rp != PROTO[proto]:
            continue
        if rp in (1, 58):
            if v["from_port"] in (-1, port):
                return True
        elif v["from_port"] <= port <= v["to_port"]:
            return True
    return False


def nacl_decides(plan: dict, egress: bool, proto: str, port: int, peer: str) -> str:
    """Network ACLs: rules in rule_number order, the first match decides; none = deny."""
    ip = ipaddress.ip_address(peer)
    rules = sorted((r["values"] for r in resources(plan, "aws_network_acl_rule") if r["values"]["egress"] == egress),
                   key=lambda v: v["rule_number"])
    numbers = [v["rule_number"] for v in rules]
    assert len(numbers) == len(set(numbers)), f"duplicate ACL rule numbers: {numbers}"
    for v in rules:
        cidr = v.get("cidr_block") or v.get("ipv6_cidr_block")
        if ip.version != ipaddress.ip_network(cidr).version or ip not in ipaddress.ip_network(cidr):
            continue
        rp = PROTO[str(v["protocol"])]
        if rp != -1 and rp != PROTO[proto]:
            continue
        if rp in (1, 58):
            if v.get("icmp_type") not in (-1, port):
                continue
        elif rp != -1 and not (v["from_port"] <= port <= v["to_port"]):
            continue
        return v["rule_action"]
    return "deny"


def effective_in(plan, proto, port, peer) -> bool:
    return sg_allows(plan, "ingress", proto, port, peer) and nacl_decides(plan, False, proto, port, peer) == "allow"


def effective_out(plan, proto, port, peer) -> bool:
    return sg_allows(plan, "egress", proto, port, peer) and nacl_decides(plan, True, proto, port, peer) == "allow"


def check_firewall(plan: dict) -> None:
    acl_subnets = resources(plan, "aws_network_acl")[0]["values"]
    assert not acl_subnets.get("ingress") and not acl_subnets.get("egress"), "inline ACL rules"
    for peer in (INTERNET4, INTERNET6, INSIDE):
        icmp = "icmpv6" if ":" in peer else "icmp"
        echo = 128 if ":" in peer else 8
        for port in (80, 443):
            assert effective_in(plan, "tcp", port, peer), f"tcp/{port} from {peer} must be open"
        assert effective_in(plan, icmp, echo, peer), f"ping from {peer} must pass"
    for peer in (INTERNET4, INTERNET6):
        for port in (22, 25, 3389, 5432, 8080, 6881, 32767):
            assert not effective_in(plan, "tcp", port, peer), f"tcp/{port} from {peer} must be closed"
        assert not effective_in(plan, "udp", 53, peer), f"udp/53 from {peer} must be closed"
        icmp, redirect = ("icmpv6", 137) if ":" in peer else ("icmp", 5)
        assert not effective_in(plan, icmp, redirect, peer), "ICMP redirects must stay closed"
    assert effective_in(plan, "tcp", 22, GOOGLE_HOST), "SSH from 104.154.0.0/15"
    assert not effective_in(plan, "tcp", 22, "104.156.0.1"), "SSH only from 104.154.0.0/15"
    for proto, port in (("tcp", 1), ("tcp", 5432), ("tcp", 65535), ("udp", 53), ("udp", 65535)):
        assert effective_in(plan, proto, port, INSIDE), f"{proto}/{port} from inside the VPC"
    # Egress: everything except TCP 6881-6889, everywhere.
    for peer in (INTERNET4, INTERNET6, INSIDE):
        for port in range(6881, 6890):
            assert not effective_out(plan, "tcp", port, peer), f"egress tcp/{port} to {peer} must be denied"
        for port in (6880, 6890, 80, 443, 53, 25):
            assert effective_out(plan, "tcp", port, peer), f"egress tcp/{port} to {peer} must be allowed"
        assert effective_out(plan, "udp", 6881, peer), "only TCP 6881-6889 is denied"
        # The stateless ACL passes the replies to the instance's own connections.
        for proto in ("tcp", "udp"):
            for port in (32768, 45000, 60999, 65535):
                assert nacl_decides(plan, False, proto, port, peer) == "allow", f"reply {proto}/{port} from {peer}"


@pytest.fixture(scope="module")
def stack_result(stack_test):
    result = stack_test(STACK, TEST_FILE)
    assert result.plans, f"no plans from terraform test: {result.diagnostics or result.log[-2000:]}"
    return result


@pytest.fixture(scope="module")
def single_vm(stack_result):
    return stack_result.plan("single_vm")


def test_firewall_is_exactly_the_specification(single_vm):
    check_firewall(single_vm)


def test_instance_and_launch_template_use_only_the_vm_group(stack_result):
    result = stack_result
    vm = resources(result.plan("single_vm"), "aws_instance")[0]["values"]
    assert len(vm["vpc_security_group_ids"]) == 1
    lt = resources(result.plan("scaling"), "aws_launch_template")[0]["values"]
    assert len(lt["network_interfaces"][0]["security_groups"]) == 1


VPC_TF, SEC_TF = "infra/aws/vm/network.tf", "infra/aws/vm/security.tf"
FIREWALL_MUTATIONS = {
    "ssh from anywhere": [('cidr = "104.154.0.0/15"', 'cidr = "0.0.0.0/0"')],
    "extra port 8080": [('    vpc_udp    = {', '    extra      = { protocol = "tcp", from = 8080, to = 8080, cidr = "0.0.0.0/0", what = "x" }\n    vpc_udp    = {')],
    "egress deny dropped": [('    deny_bittorrent_ipv4 = { number = 100, action = "deny", protocol = "tcp", from = 6881, to = 6889, cidr = "0.0.0.0/0" }\n', '')],
    "deny after the allow": [('deny_bittorrent_ipv6 = { number = 101,', 'deny_bittorrent_ipv6 = { number = 300,')],
    "ephemeral replies dropped": [('    ephemeral_tcp_ipv4 = { protocol = "tcp", from = 32768, to = 65535, cidr = "0.0.0.0/0" }\n', '')],
}


@pytest.mark.parametrize("mutation", FIREWALL_MUTATIONS, ids=list(FIREWALL_MUTATIONS))
def test_firewall_check_catches(terraform, tmp_path, mutation):
    root = mutate(tmp_path, {SEC_TF: FIREWALL_MUTATIONS[mutation]})
    result = terraform.test(root / STACK, filter=TEST_FILE)
    if not result.plans:  # the mutation broke the plan itself: caught too
        return
    with pytest.raises(AssertionError):
        check_firewall(result.plan("single_vm"))


# ---- scaling mode: the users API never reaches an instance ------------------------------------------

def alb_routes(plan: dict, path: str) -> str:
    """What the HTTPS listener does with a path: rules by priority (path patterns with * and ?),
    else the default action."""
    import fnmatch
    rules = sorted((r["values"] for r in resources(plan, "aws_lb_listener_rule")), key=lambda v: v["priority"])
    for v in rules:
        patterns = [p for c in v["condition"] for pp in c.get("path_pattern", []) for p in pp["values"]]
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            a = v["action"][0]
            if a["type"] == "fixed-response":
                fr = a["fixed_response"][0]
                return f"fixed {fr['status_code']} {fr['content_type']}"
            return a["type"]
    return "forward"


def check_scaling_users_api(plan: dict) -> None:
    for path in ("/api", "/api/", "/api/users", "/api/users/", "/api/users/1/", "/api/users?name=x"):
        assert alb_routes(plan, path.split("?")[0]) == "fixed 501 application/json", f"{path} reaches an instance"
    for path in ("/hello", "/healthz", "/readyz", "/version", "/apix"):
        assert alb_routes(plan, path) == "forward", f"{path} must reach the instances"
    rule = resources(plan, "aws_lb_listener_rule")[0]["values"]
    body = json.loads(rule["action"][0]["fixed_response"][0]["message_body"])
    assert "not available" in body["error"]


@pytest.fixture(scope="module")
def scaling(stack_result):
    return stack_result.plan("scaling")


def test_scaling_mode_answers_the_users_api_itself(scaling):
    check_scaling_users_api(scaling)


COMPUTE_TF = "infra/aws/vm/compute.tf"
SCALING_MUTATIONS = {
    "rule removed": [('  count = var.enable_scaling ? 1 : 0\n\n  listener_arn = aws_lb_listener.https[0].arn\n  priority     = 10\n', '  count = 0\n\n  listener_arn = aws_lb_listener.https[0].arn\n  priority     = 10\n')],
    "only /api/users covered": [('values = ["/api", "/api/*"]', 'values = ["/api/users"]')],
}


@pytest.mark.parametrize("mutation", SCALING_MUTATIONS, ids=list(SCALING_MUTATIONS))
def test_scaling_check_catches(terraform, tmp_path, mutation):
    root = mutate(tmp_path, {COMPUTE_TF: SCALING_MUTATIONS[mutation]})
    result = terraform.test(root / STACK, filter=TEST_FILE)
    if "scaling" not in {r for (_, r) in result.plans}:
        assert not result.ok, "the mutated stack still passed its own tests"
        return
    with pytest.raises((AssertionError, IndexError)):
        check_scaling_users_api(result.plan("scaling"))


# ---- releases: read by the VM, never a variable --------------------------------------------------

def check_release_path(plan: dict, root=REPO_ROOT) -> None:
    # `terraform test` reports no variables with a run's plan: the stack's declared variables are its
    # configuration.
    from conftest import load_stack
    for name in load_stack(root / STACK).variables:
        assert not any(w in name for w in ("binary", "sha256", "version", "release_url")), \
            f"variable {name}: the release must not be a Terraform variable (the VM reads the pointer)"
    for r in resources(plan, "aws_ssm_association"):
        raise AssertionError(f"SSM association {r['address']}: applies would re-run a release")
    roles = {r["name"]: json.loads(r["values"]["policy"]) for r in resources(plan, "aws_iam_role_policy")}
    reads = [s for s in roles["instance"]["Statement"] if "s3:GetObject" in str(s["Action"])]
    assert reads == [{"Sid": "ReadReleases", "Effect": "Allow", "Action": "s3:GetObject",
                      "Resource": ["arn:aws:s3:::shipshape-releases-123456789012-us-east-1/shipshape/current.json",
                                   "arn:aws:s3:::shipshape-releases-123456789012-us-east-1/shipshape/releases/*"]}], reads
    for st in roles["instance"]["Statement"]:
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert all(not a.endswith("*") for a in acts), f"wildcard action {acts}"
        assert st["Resource"] != "*" or "Condition" in st, f"'*' resource without a condition: {st}"


def test_release_is_read_by_the_vm_not_planned(single_vm):
    check_release_path(single_vm)


RELEASE_MUTATIONS = {
    "whole bucket readable": ('"arn:${local.partition}:s3:::${var.release_bucket}/${var.release_prefix}releases/*"', '"arn:${local.partition}:s3:::${var.release_bucket}/*"'),
}


@pytest.mark.parametrize("mutation", RELEASE_MUTATIONS, ids=list(RELEASE_MUTATIONS))
def test_release_check_catches(terraform, tmp_path, mutation):
    root = mutate(tmp_path, {SEC_TF: [RELEASE_MUTATIONS[mutation]]})
    result = terraform.test(root / STACK, filter=TEST_FILE)
    if not result.plans:
        return
    with pytest.raises(AssertionError):
        check_release_path(result.plan("single_vm"), root)


def test_release_variable_check_catches_a_release_variable(terraform, tmp_path):
    root = mutate(tmp_path, {"infra/aws/vm/variables.tf": [(
        'variable "release_prefix" {',
        'variable "binary_sha256" {\n  description = "x"\n  type        = string\n  default     = "0"\n}\n\nvariable "release_prefix" {')]})
    result = terraform.test(root / STACK, filter=TEST_FILE)
    with pytest.raises(AssertionError, match="binary_sha256"):
        check_release_path(result.plan("single_vm"), root)


def test_one_region_guard_catches_a_removed_postcondition(terraform, tmp_path):
    # The stack's own test "bucket_in_another_region_is_refused" expects the postcondition to fail;
    # without it, that run fails.
    # (A constant condition is not valid Terraform: the guard is made vacuous instead.)
    root = mutate(tmp_path, {COMPUTE_TF: [("      condition     = self.region == local.region\n", "      condition     = local.region == local.region\n")]})
    result = terraform.test(root / STACK, filter=TEST_FILE)
    assert not result.ok and any("bucket_in_another_region_is_refused" in f for f in result.failures), result.failures


def test_stack_tests_pass(stack_result):
    result = stack_result
    assert result.ok, result.failures + result.diagnostics


def test_tfvars_examples_set_only_declared_variables():
    import re
    declared = set(re.findall(r'^variable "([a-z_0-9]+)"', (REPO_ROOT / STACK / "variables.tf").read_text(), flags=re.M))
    for example in sorted((REPO_ROOT / STACK).glob("*.tfvars.example")):
        names = set(re.findall(r"^([a-z_0-9]+)\s*=", example.read_text(), flags=re.M))
        assert names and names <= declared, f"{example.name}: unknown {names - declared}"
