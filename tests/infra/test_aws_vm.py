"""infra/aws/vm: the seed's firewall rule by rule, the VM's hardening, and the surrounding stack.

The check_* functions take a parsed Stack and raise AssertionError; the tests run them on the real
stack and, in test_*_catches_*, on mutated copies, so every check is shown to fail when it should.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from typing import Callable

import pytest

from conftest import REPO_ROOT, Stack, blocks, ref, variable_default

STACK_DIR = "infra/aws/vm"
VM_SG = ref("aws_security_group.vm.id")
NACL = ref("aws_network_acl.public.id")
VPC_CIDR = ref("aws_vpc.main.cidr_block")
ANY4, ANY6 = "0.0.0.0/0", "::/0"
GOOGLE = "104.154.0.0/15"


@pytest.fixture(scope="module")
def stack(tf_stack) -> Stack:
    return tf_stack(STACK_DIR)


# =================================================================================================
# Security group: exactly the seed's rules.
# =================================================================================================

# (ip_protocol, from_port, to_port, source). For ICMP: from_port = type, to_port = code (-1 = any).
EXPECTED_INGRESS = {
    ("tcp", 80, 80, ANY4),
    ("tcp", 80, 80, ANY6),
    ("tcp", 443, 443, ANY4),
    ("tcp", 443, 443, ANY6),
    ("icmp", 8, -1, ANY4),  # echo request
    ("icmpv6", 128, -1, ANY6),  # echo request
    ("tcp", 22, 22, GOOGLE),
    ("tcp", 0, 65535, VPC_CIDR),
    ("udp", 0, 65535, VPC_CIDR),
}
EXPECTED_EGRESS = {("-1", None, None, ANY4), ("-1", None, None, ANY6)}
SOURCE_KEYS = ("cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id")


def _rule_tuple(rtype: str, name: str, body: dict, count: str | None) -> tuple:
    sources = [body[k] for k in SOURCE_KEYS if k in body]
    assert len(sources) == 1, f"{rtype}.{name}: needs exactly one source/destination, has {sources}"
    for key in ("for_each", "dynamic"):
        assert key not in body, f"{rtype}.{name}: `{key}` would hide how many rules exist"
    # A rule exists once, or (ALB) once when its security group exists: never a number of copies.
    assert body.get("count") == count, f"{rtype}.{name}: count {body.get('count')!r}, expected {count!r}"
    proto = str(body.get("ip_protocol"))
    return (proto, body.get("from_port"), body.get("to_port"), sources[0])


def sg_rules(stack: Stack, sg_id: str, count: str | None = None) -> tuple[set, set]:
    """Ingress and egress rule tuples attached to one security group, failing on duplicates."""
    result = {}
    for rtype in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        seen: dict[tuple, str] = {}
        for name, body in stack.of_type(rtype).items():
            if body.get("security_group_id") != sg_id:
                continue
            t = _rule_tuple(rtype, name, body, count)
            assert t not in seen, f"{rtype}.{name} duplicates {seen[t]}"
            seen[t] = name
        result[rtype] = set(seen)
    return result["aws_vpc_security_group_ingress_rule"], result["aws_vpc_security_group_egress_rule"]


def check_vm_firewall(stack: Stack) -> None:
    sg = stack.resource("aws_security_group", "vm")
    assert "ingress" not in sg and "egress" not in sg, "inline rules on aws_security_group.vm"
    assert not stack.of_type("aws_security_group_rule"), "legacy aws_security_group_rule resources present"
    ingress, egress = sg_rules(stack, VM_SG)
    assert ingress == EXPECTED_INGRESS, (
        f"VM ingress differs: extra {sorted(ingress - EXPECTED_INGRESS, key=str)}, "
        f"missing {sorted(EXPECTED_INGRESS - ingress, key=str)}"
    )
    assert egress == EXPECTED_EGRESS, f"VM egress differs: {sorted(egress, key=str)}"
    # No other security group may be attached to the VM(s).
    vm = stack.resource("aws_instance", "vm")
    assert vm.get("vpc_security_group_ids") == [VM_SG], f"aws_instance.vm SGs: {vm.get('vpc_security_group_ids')}"
    assert "security_groups" not in vm
    lt = stack.resource("aws_launch_template", "app")
    assert "vpc_security_group_ids" not in lt and "security_group_names" not in lt
    nics = blocks(lt, "network_interfaces")
    assert len(nics) == 1 and nics[0].get("security_groups") == [VM_SG], f"launch template SGs: {nics}"
    # Any other security group in the stack opens only what the ALB needs.
    for name in stack.of_type("aws_security_group"):
        if name not in ("vm", "alb"):
            raise AssertionError(f"unexpected security group aws_security_group.{name}")


EXPECTED_ALB_INGRESS = {("tcp", p, p, src) for p in (80, 443) for src in (ANY4, ANY6)}


def check_alb_firewall(stack: Stack) -> None:
    ingress, egress = sg_rules(stack, ref("aws_security_group.alb[0].id"), count=ref("var.enable_scaling ? 1 : 0"))
    assert ingress == EXPECTED_ALB_INGRESS, f"ALB ingress: {sorted(ingress, key=str)}"
    assert egress == {("tcp", 80, 80, VM_SG)}, f"ALB egress: {sorted(egress, key=str)}"


def test_vm_firewall_is_exactly_the_seeds(stack):
    check_vm_firewall(stack)


def test_alb_firewall_opens_only_http_and_https(stack):
    check_alb_firewall(stack)


def _add_rule(direction: str, **attrs) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        rtype = f"aws_vpc_security_group_{direction}_rule"
        s.resources.setdefault(rtype, {})["sneaky"] = {"security_group_id": VM_SG, **attrs}

    return mutate


def _set(rtype: str, name: str, key: str, value) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        s.resources[rtype][name][key] = value

    return mutate


def _delete(rtype: str, name: str) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        del s.resources[rtype][name]

    return mutate


FIREWALL_MUTATIONS = {
    "ssh from anywhere": _add_rule("ingress", ip_protocol="tcp", from_port=22, to_port=22, cidr_ipv4=ANY4),
    "ssh range widened": _set("aws_vpc_security_group_ingress_rule", "vm_ssh_google", "cidr_ipv4", "104.0.0.0/8"),
    "extra port 8080": _add_rule("ingress", ip_protocol="tcp", from_port=8080, to_port=8080, cidr_ipv4=ANY4),
    "http widened to a range": _set("aws_vpc_security_group_ingress_rule", "vm_http_ipv4", "to_port", 81),
    "all icmp instead of echo": _set("aws_vpc_security_group_ingress_rule", "vm_ping_ipv4", "from_port", -1),
    "all protocols from the vpc": _add_rule("ingress", ip_protocol="-1", cidr_ipv4=VPC_CIDR),
    "https ipv6 dropped": _delete("aws_vpc_security_group_ingress_rule", "vm_https_ipv6"),
    "egress ipv6 dropped": _delete("aws_vpc_security_group_egress_rule", "vm_all_ipv6"),
    "rule with two sources": _set("aws_vpc_security_group_ingress_rule", "vm_ssh_google", "cidr_ipv6", ANY6),
    "rule multiplied by count": _set("aws_vpc_security_group_ingress_rule", "vm_http_ipv4", "count", 2),
    "inline ingress on the sg": _set("aws_security_group", "vm", "ingress", {"from_port": 22}),
    "legacy rule resource": lambda s: s.resources.setdefault("aws_security_group_rule", {}).update(
        x={"security_group_id": VM_SG, "type": "ingress", "from_port": 3389, "to_port": 3389}
    ),
    "second sg on the vm": _set("aws_instance", "vm", "vpc_security_group_ids", [VM_SG, ref("aws_security_group.x.id")]),
}


@pytest.mark.parametrize("mutation", FIREWALL_MUTATIONS, ids=list(FIREWALL_MUTATIONS))
def test_firewall_check_catches(stack, mutation):
    broken = stack.copy()
    FIREWALL_MUTATIONS[mutation](broken)
    with pytest.raises(AssertionError):
        check_vm_firewall(broken)


def test_alb_firewall_check_catches_extra_port(stack):
    broken = stack.copy()
    broken.resources["aws_vpc_security_group_ingress_rule"]["alb_extra"] = {
        "security_group_id": ref("aws_security_group.alb[0].id"),
        "ip_protocol": "tcp",
        "from_port": 8000,
        "to_port": 8000,
        "cidr_ipv4": ANY4,
    }
    with pytest.raises(AssertionError):
        check_alb_firewall(broken)


# =================================================================================================
# Network ACL: the egress deny of TCP 6881-6889, and the stateless return paths. Checked twice: the
# exact rule table, and its behaviour through a small evaluator of AWS's first-match semantics.
# =================================================================================================

# (egress, rule_number, action, protocol, from_port, to_port, icmp_type, cidr)
EXPECTED_NACL = {
    (True, 100, "deny", "tcp", 6881, 6889, None, ANY4),
    (True, 101, "deny", "tcp", 6881, 6889, None, ANY6),
    (True, 200, "allow", "-1", 0, 0, None, ANY4),
    (True, 201, "allow", "-1", 0, 0, None, ANY6),
    (False, 100, "allow", "tcp", 80, 80, None, ANY4),
    (False, 101, "allow", "tcp", 80, 80, None, ANY6),
    (False, 110, "allow", "tcp", 443, 443, None, ANY4),
    (False, 111, "allow", "tcp", 443, 443, None, ANY6),
    (False, 120, "allow", "tcp", 22, 22, None, GOOGLE),
    (False, 130, "allow", "tcp", 0, 65535, None, VPC_CIDR),
    (False, 131, "allow", "udp", 0, 65535, None, VPC_CIDR),
    (False, 140, "allow", "icmp", None, None, 8, ANY4),
    (False, 141, "allow", "58", None, None, 128, ANY6),
    (False, 150, "allow", "icmp", None, None, 0, ANY4),
    (False, 151, "allow", "58", None, None, 129, ANY6),
    (False, 160, "allow", "icmp", None, None, 3, ANY4),
    (False, 161, "allow", "58", None, None, 1, ANY6),
    (False, 162, "allow", "58", None, None, 2, ANY6),
    (False, 170, "allow", "icmp", None, None, 11, ANY4),
    (False, 171, "allow", "58", None, None, 3, ANY6),
    (False, 180, "allow", "tcp", 32768, 65535, None, ANY4),
    (False, 181, "allow", "tcp", 32768, 65535, None, ANY6),
    (False, 190, "allow", "udp", 32768, 65535, None, ANY4),
    (False, 191, "allow", "udp", 32768, 65535, None, ANY6),
}
PROTO_NUM = {"tcp": 6, "udp": 17, "icmp": 1, "58": 58, "icmpv6": 58, "-1": -1}


def nacl_rules(stack: Stack) -> list[dict]:
    acl = stack.resource("aws_network_acl", "public")
    assert "ingress" not in acl and "egress" not in acl, "inline rules on aws_network_acl.public"
    assert acl.get("subnet_ids") == ref("aws_subnet.public[*].id"), "the ACL must cover every public subnet"
    rules = []
    for name, body in stack.of_type("aws_network_acl_rule").items():
        assert body.get("network_acl_id") == NACL, f"aws_network_acl_rule.{name} is not on aws_network_acl.public"
        for key in ("count", "for_each"):
            assert key not in body, f"aws_network_acl_rule.{name}: `{key}` hides how many rules exist"
        cidrs = [body[k] for k in ("cidr_block", "ipv6_cidr_block") if k in body]
        assert len(cidrs) == 1, f"aws_network_acl_rule.{name}: exactly one of cidr_block / ipv6_cidr_block"
        rules.append({**body, "_name": name, "_cidr": cidrs[0]})
    return rules


def nacl_table(stack: Stack) -> set:
    table = set()
    for r in nacl_rules(stack):
        icmp = r.get("icmp_type") if str(r["protocol"]) in ("icmp", "1", "58", "icmpv6") else None
        ports = (None, None) if icmp is not None else (r.get("from_port"), r.get("to_port"))
        table.add((bool(r["egress"]), r["rule_number"], r["rule_action"], str(r["protocol"]), *ports, icmp, r["_cidr"]))
    return table


def nacl_decides(stack: Stack, egress: bool, proto: str, port_or_type: int, peer: str) -> str:
    """First matching rule wins, by rule_number; no match = the implicit deny."""
    vpc_cidr = variable_default(stack, "vpc_cidr")
    peer_ip = ipaddress.ip_address(peer)
    candidates = sorted((r for r in nacl_rules(stack) if bool(r["egress"]) == egress), key=lambda r: r["rule_number"])
    numbers = [r["rule_number"] for r in candidates]
    assert len(numbers) == len(set(numbers)), f"duplicate rule numbers ({'egress' if egress else 'ingress'})"
    for r in candidates:
        net = ipaddress.ip_network(vpc_cidr if r["_cidr"] == VPC_CIDR else r["_cidr"])
        if peer_ip.version != net.version or peer_ip not in net:
            continue
        rp = PROTO_NUM[str(r["protocol"])]
        if rp != -1 and rp != PROTO_NUM[proto]:
            continue
        if rp in (1, 58):
            if r.get("icmp_type", -1) not in (-1, port_or_type):
                continue
        elif rp != -1 and not (r["from_port"] <= port_or_type <= r["to_port"]):
            continue
        return r["rule_action"]
    return "deny"


INTERNET4, INTERNET6, INSIDE = "203.0.113.7", "2001:db8::7", "10.40.1.20"


def check_nacl(stack: Stack) -> None:
    table = nacl_table(stack)
    assert table == EXPECTED_NACL, (
        f"network ACL differs: extra {sorted(table - EXPECTED_NACL, key=str)}, "
        f"missing {sorted(EXPECTED_NACL - table, key=str)}"
    )
    d = lambda *a: nacl_decides(stack, *a)  # noqa: E731
    for peer in (INTERNET4, INTERNET6, INSIDE):
        # Egress: the one denied range, and everything around it allowed.
        for port in range(6881, 6890):
            assert d(True, "tcp", port, peer) == "deny", f"egress tcp/{port} to {peer} must be denied"
        for port in (6880, 6890, 80, 443, 53, 32768, 65535):
            assert d(True, "tcp", port, peer) == "allow", f"egress tcp/{port} to {peer} must be allowed"
        assert d(True, "udp", 6881, peer) == "allow", "only TCP 6881-6889 is denied"
        # Inbound replies to the instance's own connections (stateless ACL): ephemeral ports, ICMP.
        for proto in ("tcp", "udp"):
            for port in (32768, 45000, 60999, 65535):
                assert d(False, proto, port, peer) == "allow", f"reply {proto}/{port} from {peer} blocked"
    for peer, icmp in ((INTERNET4, "icmp"), (INTERNET6, "58")):
        echo_req, echo_reply, unreachable = (8, 0, 3) if icmp == "icmp" else (128, 129, 1)
        for t in (echo_req, echo_reply, unreachable):
            assert d(False, icmp, t, peer) == "allow", f"inbound {icmp} type {t} from {peer} blocked"
        assert d(False, icmp, 5 if icmp == "icmp" else 137, peer) == "deny", "redirects must stay blocked"
        # The SG's public ingress passes the ACL; nothing else below the ephemeral range does.
        for port in (80, 443):
            assert d(False, "tcp", port, peer) == "allow"
        for port in (22, 25, 3389, 8000, 6881):
            assert d(False, "tcp", port, peer) == "deny", f"inbound tcp/{port} from {peer} must be denied"
        assert d(False, "udp", 53, peer) == "deny"
    assert d(False, "tcp", 22, "104.155.1.1") == "allow", "SSH from 104.154.0.0/15"
    assert d(False, "tcp", 22, "104.156.0.1") == "deny", "SSH only from 104.154.0.0/15"
    assert d(False, "tcp", 5432, INSIDE) == "allow" and d(False, "udp", 53, INSIDE) == "allow", "VPC TCP/UDP"


def test_network_acl_denies_bittorrent_egress_and_passes_return_traffic(stack):
    check_nacl(stack)


def _nacl_set(name: str, key: str, value) -> Callable[[Stack], None]:
    return _set("aws_network_acl_rule", name, key, value)


NACL_MUTATIONS = {
    "egress deny dropped": _delete("aws_network_acl_rule", "out_deny_bittorrent_ipv4"),
    "ipv6 egress deny dropped": _delete("aws_network_acl_rule", "out_deny_bittorrent_ipv6"),
    "deny after the allow": _nacl_set("out_deny_bittorrent_ipv4", "rule_number", 300),
    "deny narrowed": _nacl_set("out_deny_bittorrent_ipv4", "to_port", 6885),
    "deny turned to allow": _nacl_set("out_deny_bittorrent_ipv4", "rule_action", "allow"),
    "ephemeral tcp replies dropped": _delete("aws_network_acl_rule", "in_ephemeral_tcp_ipv4"),
    "ephemeral udp replies dropped": _delete("aws_network_acl_rule", "in_ephemeral_udp_ipv6"),
    "ephemeral range widened to 1024": _nacl_set("in_ephemeral_tcp_ipv4", "from_port", 1024),
    "echo replies dropped": _delete("aws_network_acl_rule", "in_echo_reply_ipv4"),
    "ssh from anywhere": _nacl_set("in_ssh_google", "cidr_block", ANY4),
    "rule moved to another acl": _nacl_set("in_http_ipv4", "network_acl_id", ref("aws_network_acl.other.id")),
    "inline rule on the acl": _set("aws_network_acl", "public", "ingress", {"rule_no": 1}),
    "acl detached from a subnet": _set("aws_network_acl", "public", "subnet_ids", [ref("aws_subnet.public[0].id")]),
}


@pytest.mark.parametrize("mutation", NACL_MUTATIONS, ids=list(NACL_MUTATIONS))
def test_nacl_check_catches(stack, mutation):
    broken = stack.copy()
    NACL_MUTATIONS[mutation](broken)
    with pytest.raises(AssertionError):
        check_nacl(broken)


def test_nacl_evaluator_is_first_match(stack):
    # The evaluator itself: a deny placed above an allow wins, and below it loses.
    s = stack.copy()
    s.resources["aws_network_acl_rule"]["in_deny_http"] = {
        "network_acl_id": NACL, "egress": False, "rule_number": 99, "rule_action": "deny",
        "protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_block": ANY4,
    }  # fmt: skip
    assert nacl_decides(s, False, "tcp", 80, INTERNET4) == "deny"
    s.resources["aws_network_acl_rule"]["in_deny_http"]["rule_number"] = 102
    assert nacl_decides(s, False, "tcp", 80, INTERNET4) == "allow"


# =================================================================================================
# The VM and the launch template.
# =================================================================================================


def check_instance_hardening(body: dict, what: str, root_key: str) -> None:
    meta = blocks(body, "metadata_options")
    assert len(meta) == 1 and meta[0].get("http_tokens") == "required", f"{what}: IMDSv2 must be required"
    assert meta[0].get("http_put_response_hop_limit") == 1, f"{what}: IMDS hop limit must be 1"
    assert meta[0].get("http_endpoint") in (None, "enabled")
    if root_key == "root_block_device":
        roots = blocks(body, "root_block_device")
    else:
        roots = [blocks(b, "ebs")[0] for b in blocks(body, "block_device_mappings")]
    assert len(roots) == 1, f"{what}: exactly one root volume definition"
    assert roots[0].get("encrypted") is True, f"{what}: root volume must be encrypted"
    assert roots[0].get("volume_type") == "gp3", f"{what}: root volume must be gp3"


def test_vm_hardening(stack):
    check_instance_hardening(stack.resource("aws_instance", "vm"), "aws_instance.vm", "root_block_device")
    check_instance_hardening(stack.resource("aws_launch_template", "app"), "aws_launch_template.app", "bdm")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda vm: vm["metadata_options"].update(http_tokens="optional"),
        lambda vm: vm["metadata_options"].update(http_put_response_hop_limit=2),
        lambda vm: vm["root_block_device"].update(encrypted=False),
        lambda vm: vm["root_block_device"].update(volume_type="gp2"),
        lambda vm: vm.pop("metadata_options"),
    ],
    ids=["imds-optional", "hop-limit-2", "unencrypted", "gp2", "no-metadata-options"],
)
def test_hardening_check_catches(stack, mutate):
    vm = stack.copy().resource("aws_instance", "vm")
    mutate(vm)
    with pytest.raises(AssertionError):
        check_instance_hardening(vm, "mutated", "root_block_device")


def test_vm_image_comes_from_public_ssm_parameter(stack):
    assert stack.data["aws_ssm_parameter"]["ami"]["name"] == ref("var.ami_ssm_parameter")
    assert variable_default(stack, "ami_ssm_parameter").startswith("/aws/service/")
    ami = stack.data["aws_ami"]["selected"]
    assert ami["owners"] == ref("var.ami_owners"), "the AMI must be owner-checked"
    assert stack.resource("aws_instance", "vm")["ami"] == ref("data.aws_ami.selected.id")
    assert stack.resource("aws_launch_template", "app")["image_id"] == ref("data.aws_ami.selected.id")


def test_user_data_is_the_shared_cloud_init_template(stack):
    vm = stack.resource("aws_instance", "vm")
    assert vm["user_data"] == ref("local.user_data")
    assert stack.resource("aws_launch_template", "app")["user_data"] == ref("base64encode(local.user_data)")
    call = stack.locals["user_data"]
    assert call.startswith('${templatefile("${path.module}/../../../deploy/cloud-init/user-data.yaml.tftpl"')
    # Exactly the contract's variables (CONTEXT.md), no more, no fewer.
    names = set(re.findall(r"'([a-z_0-9]+)':", call))
    assert names == {"binary_url", "binary_sha256", "systemd_unit", "environment", "cloudwatch_agent_config"}, names
    assert 'file("${path.module}/../../../deploy/systemd/shipshape.service")' in call
    for rel in ("deploy/cloud-init/user-data.yaml.tftpl", "deploy/systemd/shipshape.service"):
        assert (REPO_ROOT / rel).is_file(), f"{rel} is missing"
    env = stack.locals["environment"]
    assert "PORT" in env and "80" in env, "the unit serves on port 80"


def test_vm_has_elastic_ip_and_url_output(stack):
    assoc = stack.resource("aws_eip_association", "vm")
    assert assoc["instance_id"] == ref("aws_instance.vm[0].id")
    assert assoc["allocation_id"] == ref("aws_eip.vm[0].id")
    assert stack.resource("aws_eip", "vm")["domain"] == "vpc"
    url = stack.outputs["url"]["value"]
    assert "http://${aws_eip.vm[0].public_ip}/hello" in url, url


def test_instance_profile_has_session_manager(stack):
    assert stack.resource("aws_instance", "vm")["iam_instance_profile"] == ref("aws_iam_instance_profile.instance.name")
    assert stack.resource("aws_iam_instance_profile", "instance")["role"] == ref("aws_iam_role.instance.name")
    attached = {
        b["policy_arn"] for b in stack.of_type("aws_iam_role_policy_attachment").values()
        if b["role"] == ref("aws_iam_role.instance.name")
    }  # fmt: skip
    assert attached == {"arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}, attached


def _statements(doc: dict) -> list[dict]:
    return blocks(doc, "statement")


def test_iam_is_least_privilege(stack):
    for name, doc in stack.data["aws_iam_policy_document"].items():
        for st in _statements(doc):
            actions = st.get("actions", [])
            if name == "s3_endpoint":
                # An endpoint policy, not an identity's: read-only through the endpoint.
                assert sorted(actions) == ["s3:GetObject", "s3:ListBucket"], actions
                continue
            if name == "logs_key" and st.get("sid") == "AccountAdministers":
                # The key policy's mandatory root statement (account keeps control of its key).
                assert blocks(st, "principals")[0]["identifiers"] == ["arn:${local.partition}:iam::${local.account_id}:root"]
                continue
            assert all(a != "*" and not a.endswith(":*") for a in actions), f"{name}: wildcard action {actions}"
            resources = st.get("resources", [])
            if resources == ["*"]:
                # Only actions without resource types, and then with a condition.
                assert blocks(st, "condition") or name == "logs_key", f"{name}: '*' resource without a condition"
    for _, _, body in stack.all_resources():
        assert "AdministratorAccess" not in str(body.get("policy_arn", ""))


# =================================================================================================
# Network, logging, monitoring, scaling, deploy path.
# =================================================================================================


def test_network_layout(stack):
    subnets = stack.resource("aws_subnet", "public")
    assert subnets["count"] == 2 and subnets["availability_zone"] == ref("local.azs[count.index]")
    assert stack.locals["azs"] == ref("slice(data.aws_availability_zones.available.names,0,2)")
    assert stack.resource("aws_route", "public_ipv4")["gateway_id"] == ref("aws_internet_gateway.main.id")
    assert stack.resource("aws_route", "public_ipv6")["destination_ipv6_cidr_block"] == ANY6
    assert stack.resource("aws_route_table_association", "public")["count"] == 2
    default_sg = stack.resource("aws_default_security_group", "default")
    assert "ingress" not in default_sg and "egress" not in default_sg, "the default SG must have no rules"


def test_flow_logs_and_encrypted_log_groups(stack):
    flow = stack.resource("aws_flow_log", "vpc")
    assert flow["vpc_id"] == ref("aws_vpc.main.id") and flow["traffic_type"] == "ALL"
    groups = stack.of_type("aws_cloudwatch_log_group")
    assert {"app", "flow_logs", "deploy", "waf"} <= set(groups)
    for name, g in groups.items():
        assert g.get("kms_key_id") == ref("aws_kms_key.logs.arn"), f"log group {name} not KMS-encrypted"
        assert g.get("retention_in_days") == ref("var.log_retention_days"), f"log group {name} has no retention"
    key = stack.resource("aws_kms_key", "logs")
    assert key["enable_key_rotation"] is True
    sts = {s.get("sid"): s for s in _statements(stack.data["aws_iam_policy_document"]["logs_key"])}
    logs = sts["CloudWatchLogsUsesKey"]
    assert blocks(logs, "principals")[0]["identifiers"] == ["logs.${local.region}.amazonaws.com"]
    assert blocks(logs, "condition")[0]["variable"] == "kms:EncryptionContext:aws:logs:arn"


def test_cloudwatch_agent_ships_the_journal_export(stack):
    cfg = stack.locals["cloudwatch_agent_config"]
    assert "${local.app_log_file}" in cfg and "${aws_cloudwatch_log_group.app.name}" in cfg
    assert stack.locals["app_log_file"] == "/var/log/shipshape/shipshape.log"
    template = (REPO_ROOT / "deploy/cloud-init/user-data.yaml.tftpl").read_text()
    assert "/var/log/shipshape/shipshape.log" in template, "the template must export the journal to that file"


def test_alarms_go_to_the_sns_variable(stack):
    alarms = stack.of_type("aws_cloudwatch_metric_alarm")
    assert {"vm_status_check", "alb_5xx", "unhealthy_hosts"} <= set(alarms)
    assert alarms["vm_status_check"]["metric_name"] == "StatusCheckFailed"
    assert alarms["unhealthy_hosts"]["metric_name"] == "UnHealthyHostCount"
    assert "HTTPCode_ELB_5XX_Count" in str(alarms["alb_5xx"]) and "HTTPCode_Target_5XX_Count" in str(alarms["alb_5xx"])
    for name, a in alarms.items():
        actions = str(a.get("alarm_actions"))
        assert actions == "${local.alarm_actions}" or actions.endswith(",local.alarm_actions)}"), f"alarm {name} does not notify"
    assert stack.locals["alarm_actions"].replace("'${", "").replace("}'", "") == ref(
        'var.alarm_sns_topic_arn == "" ? [] : [var.alarm_sns_topic_arn]'
    )


def test_scaling_configuration(stack):
    asg = stack.resource("aws_autoscaling_group", "app")
    assert asg["vpc_zone_identifier"] == ref("aws_subnet.public[*].id"), "ASG must span both AZs' subnets"
    assert asg["health_check_type"] == "ELB"
    lt = blocks(asg, "launch_template")[0]
    assert lt["version"] == ref("aws_launch_template.app[0].latest_version"), "pinned version (refresh + rollback)"
    refresh = blocks(asg, "instance_refresh")[0]
    assert refresh["strategy"] == "Rolling" and blocks(refresh, "preferences")[0]["auto_rollback"] is True
    tg = stack.resource("aws_lb_target_group", "app")
    assert blocks(tg, "health_check")[0]["path"] == "/readyz"
    https = stack.resource("aws_lb_listener", "https")
    assert https["protocol"] == "HTTPS" and https["certificate_arn"] == ref("var.certificate_arn")
    assert https["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    redirect = blocks(blocks(stack.resource("aws_lb_listener", "http_redirect"), "default_action")[0], "redirect")[0]
    assert redirect["protocol"] == "HTTPS" and redirect["status_code"] == "HTTP_301"
    policy = stack.resource("aws_autoscaling_policy", "cpu")
    spec = blocks(blocks(policy, "target_tracking_configuration")[0], "predefined_metric_specification")[0]
    assert policy["policy_type"] == "TargetTrackingScaling" and spec["predefined_metric_type"] == "ASGAverageCPUUtilization"
    for rtype, name in [("aws_lb", "app"), ("aws_autoscaling_group", "app"), ("aws_launch_template", "app")]:
        assert stack.resource(rtype, name)["count"] == ref("var.enable_scaling ? 1 : 0"), f"{rtype}.{name}"
    assert stack.resource("aws_instance", "vm")["count"] == ref("var.enable_scaling ? 0 : 1")


def test_waf_uses_managed_rule_groups(stack):
    acl = stack.resource("aws_wafv2_web_acl", "alb")
    groups = {blocks(r, "statement")[0]["managed_rule_group_statement"]["name"] for r in blocks(acl, "rule")}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= groups, groups
    assert stack.resource("aws_wafv2_web_acl_association", "alb")["resource_arn"] == ref("aws_lb.app[0].arn")
    assert stack.locals["waf_enabled"] == ref("var.enable_scaling && var.enable_waf")


def test_deploy_path(stack):
    doc = stack.resource("aws_ssm_document", "deploy")
    assert doc["document_type"] == "Command"
    content = doc["content"]
    # Parameter patterns are what keeps SSM's {{ }} substitution from ever being shell syntax.
    assert "^(https://[A-Za-z0-9._~:/?#@!$&()*+,;=%-]+)?$" in content and "^([0-9a-f]{64})?$" in content
    assert 'file("${path.module}/files/deploy-release.sh")' in content
    assoc = stack.resource("aws_ssm_association", "release")
    assert assoc["parameters"]["binaryUrl"] == ref("var.binary_url")
    assert assoc["parameters"]["binarySha256"] == ref("var.binary_sha256")
    assert assoc["wait_for_success_timeout_seconds"] > 0, "apply must wait for the deploy's result"
    script = (REPO_ROOT / STACK_DIR / "files/deploy-release.sh").read_text()
    assert "set -euo pipefail" in script and "sha256sum" in script and "/readyz" in script
    for placeholder in ("{{ action }}", "{{ binaryUrl }}", "{{ binarySha256 }}"):
        assert f"'{placeholder}'" in script, f"{placeholder} must be single-quoted in the script"
    vm = stack.resource("aws_instance", "vm")
    assert vm["lifecycle"]["ignore_changes"] == ["${ami}", "${user_data}"]
    assert vm["lifecycle"]["replace_triggered_by"] == [ref("terraform_data.vm_boot_config")]


def test_deploy_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck not installed (scripts/tf-check.sh installs it)"
    subprocess.run([shellcheck, "-S", "warning", str(REPO_ROOT / STACK_DIR / "files/deploy-release.sh")], check=True)


# =================================================================================================
# Terraform settings and variables.
# =================================================================================================


def test_versions_backend_and_default_tags(stack):
    settings = {k: v for block in stack.terraform for k, v in block.items()}
    assert settings["required_version"] == ">= 1.10"
    assert settings["required_providers"]["aws"] == {"source": "hashicorp/aws", "version": "~> 6.0"}
    s3 = settings["backend"]["s3"]
    assert s3["use_lockfile"] is True and s3["encrypt"] is True
    assert not {"bucket", "region", "dynamodb_table", "profile", "role_arn"} & set(s3), "partial config only"
    tags = stack.providers["aws"][0]["default_tags"]["tags"]
    for k, v in (("Project", "shipshape"), ("ManagedBy", "terraform"), ("Stack", "aws/vm")):
        assert f"'{k}': '{v}'" in tags, f"default tag {k}={v}"


def test_every_variable_is_described_and_typed(stack):
    for name, v in stack.variables.items():
        assert v.get("description"), f"variable {name} has no description"
        assert v.get("type"), f"variable {name} has no type"
    for name in ("binary_url", "binary_sha256", "vpc_cidr", "certificate_arn", "alarm_sns_topic_arn"):
        assert blocks(stack.variables[name], "validation"), f"variable {name} has no validation"
    for name, o in stack.outputs.items():
        assert o.get("description"), f"output {name} has no description"


def test_tfvars_examples_set_only_declared_variables(stack):
    for example in sorted((REPO_ROOT / STACK_DIR).glob("*.tfvars.example")):
        names = set(re.findall(r"^([a-z_0-9]+)\s*=", example.read_text(), flags=re.M))
        assert names and names <= set(stack.variables), f"{example.name}: unknown {names - set(stack.variables)}"
