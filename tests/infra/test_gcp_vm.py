"""infra/gcp/vm: the seed's firewall rule by rule, evaluated like GCP does, and the VM's hardening.

The firewall is checked twice: structurally (exactly the seven rules of firewall.tf, each field
pinned, nothing else that could open traffic) and semantically (a small evaluator applies GCP's
rule order -- lowest priority number first, deny wins a tie, implied deny-in/allow-out at 65535 --
to a matrix of packets and to every TCP/UDP port). Mutation tests prove the checks fail when
someone opens 22 to the world, drops the egress deny, and so on.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT, Stack, blocks, ref, variable_default

STACK = "infra/gcp/vm"
VM_SA = ref("google_service_account.vm.email")
ANY = "0.0.0.0/0"
SSH_RANGE = "104.154.0.0/15"

INTERNET_HOST = "203.0.113.7"
GOOGLE_HOSTS = ["104.154.0.1", "104.155.255.254"]
NEAR_GOOGLE_HOSTS = ["104.153.255.255", "104.156.0.1"]  # just outside the /15


@pytest.fixture(scope="module")
def stack(tf_stack) -> Stack:
    return tf_stack(STACK)


# --------------------------------------------------------------------------------------------
# Normalising firewall.tf into rules
# --------------------------------------------------------------------------------------------

_REF = re.compile(r"\$\{([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+)\}")


def resolve(stack: Stack, value: Any) -> Any:
    """Resolve a simple reference (local.x, var.x's default, or a configured argument of another
    resource) to its value; computed attributes (an email) stay as their reference text. Anything
    more complex fails the test: the firewall must stay readable."""
    if not isinstance(value, str):
        return value
    m = _REF.fullmatch(value)
    if not m:
        if "${" in value:
            raise AssertionError(f"firewall value {value!r} is not a plain reference or literal")
        return value
    parts = m.group(1).split(".")
    if parts[0] == "local":
        return resolve(stack, stack.locals[parts[1]])
    if parts[0] == "var":
        return variable_default(stack, parts[1])
    if len(parts) == 3 and parts[0] in stack.resources and parts[2] in stack.resources[parts[0]].get(parts[1], {}):
        return resolve(stack, stack.resources[parts[0]][parts[1]][parts[2]])
    return value  # computed attribute, e.g. the service account's email


@dataclass(frozen=True)
class Rule:
    name: str
    direction: str
    priority: int
    action: str  # allow | deny
    # ((protocol, (port or "lo-hi", ...)), ...); no ports = every port of the protocol
    entries: tuple[tuple[str, tuple[str, ...]], ...]
    ranges: tuple[str, ...]  # source ranges (ingress) or destination ranges (egress)
    targets: tuple[str, ...]  # target service accounts; () = every instance of the network
    disabled: bool = False


# Arguments a rule may use. Anything else (target_tags, source_tags, source_service_accounts,
# destination_ranges on ingress, ...) changes who or what a rule matches and fails the test.
ALLOWED_ARGS = {
    "INGRESS": {"name", "description", "network", "direction", "priority", "source_ranges",
                "target_service_accounts", "allow", "deny", "log_config", "dynamic"},
    "EGRESS": {"name", "description", "network", "direction", "priority", "destination_ranges",
               "target_service_accounts", "allow", "deny", "log_config", "dynamic"},
}


def to_rule(stack: Stack, name: str, body: dict) -> Rule:
    direction = body.get("direction", "INGRESS")  # the provider's default
    extra = {k for k in body if not k.startswith("_")} - ALLOWED_ARGS[direction]
    assert not extra, f"{name}: unexpected firewall arguments {sorted(extra)}"
    dynamic = body.get("dynamic", {})
    assert set(dynamic) <= {"log_config"}, f"{name}: only log_config may be dynamic, got {sorted(dynamic)}"
    assert bool(blocks(body, "allow")) != bool(blocks(body, "deny")), f"{name}: exactly one of allow/deny"
    action = "allow" if blocks(body, "allow") else "deny"
    entries = []
    for entry in blocks(body, action):
        ports = entry.get("ports", [])
        entries.append((entry["protocol"], tuple(str(resolve(stack, p)) for p in ports)))
    ranges_key = "source_ranges" if direction == "INGRESS" else "destination_ranges"
    return Rule(
        name=name,
        direction=direction,
        priority=int(body.get("priority", 1000)),
        action=action,
        entries=tuple(entries),
        ranges=tuple(resolve(stack, r) for r in body.get(ranges_key, [])),
        targets=tuple(resolve(stack, t) for t in body.get("target_service_accounts", [])),
        disabled=bool(body.get("disabled", False)),
    )


def firewall_rules(stack: Stack) -> dict[str, Rule]:
    return {name: to_rule(stack, name, body) for name, body in stack.of_type("google_compute_firewall").items()}


# --------------------------------------------------------------------------------------------
# A GCP VPC firewall evaluator
# --------------------------------------------------------------------------------------------

IMPLIED = [
    Rule("implied-deny-ingress", "INGRESS", 65535, "deny", (("all", ()),), (ANY,), ()),
    Rule("implied-allow-egress", "EGRESS", 65535, "allow", (("all", ()),), (ANY,), ()),
]


def _port_matches(spec: str, port: int) -> bool:
    lo, _, hi = spec.partition("-")
    return int(lo) <= port <= int(hi or lo)


def _entry_matches(entry: tuple[str, tuple[str, ...]], protocol: str, port: int | None) -> bool:
    proto, ports = entry
    if proto == "all":
        return True
    if proto != protocol:
        return False
    if not ports or port is None:
        return True
    return any(_port_matches(p, port) for p in ports)


@lru_cache(maxsize=None)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


def _candidates(rules: list[Rule], direction: str, remote: str) -> list[Rule]:
    """The enabled rules (plus the implied ones) that apply to the VM for this direction and peer."""
    addr = ipaddress.ip_address(remote)
    return [
        r for r in rules + IMPLIED
        if not r.disabled
        and r.direction == direction
        and (not r.targets or VM_SA in r.targets)
        and any(addr in _network(c) for c in r.ranges)
    ]


def _decide(candidates: list[Rule], protocol: str, port: int | None) -> str:
    # The matching rule with the lowest priority number decides; a deny beats an allow at the same
    # priority; the implied rules at 65535 always match, so there is always a decision.
    matching = [r for r in candidates if any(_entry_matches(e, protocol, port) for e in r.entries)]
    return min(matching, key=lambda r: (r.priority, r.action != "deny")).action


def verdict(rules: list[Rule], direction: str, protocol: str, port: int | None, remote: str) -> str:
    """What GCP does with a packet to (ingress) or from (egress) the VM, `remote` being the other end."""
    return _decide(_candidates(rules, direction, remote), protocol, port)


def open_ports(rules: list[Rule], direction: str, protocol: str, remote: str) -> set[int]:
    """Every port 1-65535 of `protocol` the rules let through. Ports between two consecutive bounds
    of the rules' port ranges are treated alike, so one evaluation per segment is exact."""
    candidates = _candidates(rules, direction, remote)
    cuts = {1, 65536}
    for rule in candidates:
        for proto, ports in rule.entries:
            if proto == protocol:
                for spec in ports:
                    lo, _, hi = spec.partition("-")
                    cuts.update({int(lo), int(hi or lo) + 1})
    bounds = sorted(c for c in cuts if 1 <= c <= 65536)
    allowed: set[int] = set()
    for start, end in zip(bounds, bounds[1:]):
        if _decide(candidates, protocol, start) == "allow":
            allowed.update(range(start, end))
    return allowed


def subnet_host(stack: Stack, n: int = 10) -> str:
    return str(ipaddress.ip_network(variable_default(stack, "subnet_cidr"))[n])


def outside_subnet_private_host(stack: Stack) -> str:
    net = ipaddress.ip_network(variable_default(stack, "subnet_cidr"))
    return str(net.broadcast_address + 1)


def policy_violations(stack: Stack, rules: list[Rule]) -> list[str]:
    """Every way `rules` differ from the seed's policy, as messages ([] = exactly the seed)."""
    problems: list[str] = []
    internal = subnet_host(stack)
    private_elsewhere = outside_subnet_private_host(stack)

    def expect(direction, protocol, port, remote, want):
        got = verdict(rules, direction, protocol, port, remote)
        if got != want:
            problems.append(f"{direction} {protocol}/{port} {'from' if direction == 'INGRESS' else 'to'} {remote}: {got}, want {want}")

    # Ingress: the whole TCP and UDP port space, per kind of source.
    for remote in [INTERNET_HOST, private_elsewhere, *NEAR_GOOGLE_HOSTS]:
        tcp = open_ports(rules, "INGRESS", "tcp", remote)
        if tcp != {80, 443}:
            problems.append(f"ingress tcp from {remote}: open {sorted(tcp)[:20]}, want [80, 443]")
        udp = open_ports(rules, "INGRESS", "udp", remote)
        if udp:
            problems.append(f"ingress udp from {remote}: open {sorted(udp)[:20]}, want none")
        expect("INGRESS", "icmp", None, remote, "allow")
        for proto in ("sctp", "esp", "ah", "ipip"):
            expect("INGRESS", proto, None, remote, "deny")
    for remote in GOOGLE_HOSTS:
        tcp = open_ports(rules, "INGRESS", "tcp", remote)
        if tcp != {22, 80, 443}:
            problems.append(f"ingress tcp from {remote}: open {sorted(tcp)[:20]}, want [22, 80, 443]")
        if open_ports(rules, "INGRESS", "udp", remote):
            problems.append(f"ingress udp from {remote}: something is open, want none")
    # Inside the VPC: all TCP and all UDP (and ICMP, from everywhere), but no other protocol.
    for proto in ("tcp", "udp"):
        closed = set(range(1, 65536)) - open_ports(rules, "INGRESS", proto, internal)
        if closed:
            problems.append(f"ingress {proto} from the subnet ({internal}): closed {sorted(closed)[:20]}, want all open")
    expect("INGRESS", "icmp", None, internal, "allow")
    expect("INGRESS", "sctp", None, internal, "deny")

    # Egress: everything except TCP 6881-6889, to anywhere (the internet and inside the VPC).
    for remote in [INTERNET_HOST, internal]:
        blocked = set(range(1, 65536)) - open_ports(rules, "EGRESS", "tcp", remote)
        if blocked != set(range(6881, 6890)):
            problems.append(f"egress tcp to {remote}: blocked {sorted(blocked)[:20]}, want 6881-6889")
        blocked_udp = set(range(1, 65536)) - open_ports(rules, "EGRESS", "udp", remote)
        if blocked_udp:
            problems.append(f"egress udp to {remote}: blocked {sorted(blocked_udp)[:20]}, want none")
        for proto in ("icmp", "sctp", "esp"):
            expect("EGRESS", proto, None, remote, "allow")
    return problems


# --------------------------------------------------------------------------------------------
# The firewall, structurally
# --------------------------------------------------------------------------------------------

def expected_rules(stack: Stack) -> dict[str, Rule]:
    subnet = variable_default(stack, "subnet_cidr")
    vm = (VM_SA,)
    return {
        "allow_web": Rule("allow_web", "INGRESS", 1000, "allow", (("tcp", ("80", "443")),), (ANY,), vm),
        "allow_icmp": Rule("allow_icmp", "INGRESS", 1000, "allow", (("icmp", ()),), (ANY,), vm),
        "allow_ssh": Rule("allow_ssh", "INGRESS", 1000, "allow", (("tcp", ("22",)),), (SSH_RANGE,), vm),
        "allow_internal": Rule("allow_internal", "INGRESS", 1000, "allow", (("tcp", ()), ("udp", ())), (subnet,), vm),
        "deny_ingress": Rule("deny_ingress", "INGRESS", 65534, "deny", (("all", ()),), (ANY,), ()),
        "deny_torrent_egress": Rule("deny_torrent_egress", "EGRESS", 900, "deny", (("tcp", ("6881-6889",)),), (ANY,), ()),
        "allow_egress": Rule("allow_egress", "EGRESS", 65534, "allow", (("all", ()),), (ANY,), ()),
    }


def test_exactly_the_seven_rules(stack):
    assert sorted(firewall_rules(stack)) == sorted(expected_rules(stack))


@pytest.mark.parametrize("name", sorted(["allow_web", "allow_icmp", "allow_ssh", "allow_internal",
                                         "deny_ingress", "deny_torrent_egress", "allow_egress"]))
def test_rule(stack, name):
    assert firewall_rules(stack)[name] == expected_rules(stack)[name]


def test_rules_are_in_the_stack_vpc_and_named_after_the_stack(stack):
    for name, body in stack.of_type("google_compute_firewall").items():
        assert body["network"] == ref("google_compute_network.vpc.id"), name
        assert body["name"] == "${var.name}-" + name.replace("_", "-"), name
        assert body.get("description"), f"{name}: say why the rule exists"


def test_internal_source_is_the_subnet_itself(stack):
    body = stack.resource("google_compute_firewall", "allow_internal")
    assert body["source_ranges"] == [ref("google_compute_subnetwork.vm.ip_cidr_range")]
    # ...and that subnet is the only one, so "the subnet" is "the VPC".
    assert list(stack.of_type("google_compute_subnetwork")) == ["vm"]


def test_ssh_range_is_the_seeds(stack):
    assert stack.locals["ssh_source_cidr"] == SSH_RANGE
    assert stack.locals["anywhere_ipv4"] == ANY


def test_egress_deny_wins_over_every_egress_allow(stack):
    rules = firewall_rules(stack)
    deny = rules["deny_torrent_egress"]
    allows = [r for r in rules.values() if r.direction == "EGRESS" and r.action == "allow"]
    assert allows and all(deny.priority < r.priority for r in allows)
    assert deny.priority < 65535  # and over the implied allow


def test_ingress_deny_is_the_last_word(stack):
    rules = firewall_rules(stack)
    ingress = [r for r in rules.values() if r.direction == "INGRESS"]
    assert max(r.priority for r in ingress) == rules["deny_ingress"].priority
    assert all(r.priority < rules["deny_ingress"].priority for r in ingress if r.action == "allow")


def test_allows_target_only_the_vm_and_denies_cover_the_vpc(stack):
    for rule in firewall_rules(stack).values():
        if rule.direction == "INGRESS" and rule.action == "allow":
            assert rule.targets == (VM_SA,), f"{rule.name} must target the VM's service account only"
        if rule.action == "deny":
            assert rule.targets == (), f"{rule.name}: a deny covers the whole VPC"


def test_security_relevant_rules_log(stack):
    for name in ("allow_ssh", "deny_ingress", "deny_torrent_egress"):
        body = stack.resource("google_compute_firewall", name)
        dyn = body.get("dynamic", {}).get("log_config")
        assert dyn and dyn["for_each"] == "${var.firewall_logging ? [1] : []}", name
    assert variable_default(stack, "firewall_logging") is True


def test_nothing_else_can_open_traffic(stack):
    firewallish = {t for t, _, _ in stack.all_resources() if "firewall" in t or "security_policy" in t}
    assert firewallish == {"google_compute_firewall"}, "firewall policies would add rules outside firewall.tf"
    for rtype in ("google_compute_forwarding_rule", "google_compute_global_forwarding_rule",
                  "google_compute_router_nat", "google_compute_instance_template",
                  "google_compute_instance_group_manager"):
        assert not stack.of_type(rtype), f"{rtype}: another way in or another VM"
    assert list(stack.of_type("google_compute_instance")) == ["vm"]
    assert list(stack.of_type("google_compute_network")) == ["vpc"]


# --------------------------------------------------------------------------------------------
# The firewall, semantically (and proof that the checks bite)
# --------------------------------------------------------------------------------------------

def test_policy_is_exactly_the_seeds(stack):
    assert policy_violations(stack, list(firewall_rules(stack).values())) == []


@pytest.mark.parametrize("remote,port,want", [
    (INTERNET_HOST, 80, "allow"), (INTERNET_HOST, 443, "allow"), (INTERNET_HOST, 22, "deny"),
    (INTERNET_HOST, 8000, "deny"), (INTERNET_HOST, 3389, "deny"),
    ("104.154.0.1", 22, "allow"), ("104.155.255.254", 22, "allow"),
    ("104.153.255.255", 22, "deny"), ("104.156.0.1", 22, "deny"),
])
def test_ingress_tcp_examples(stack, remote, port, want):
    assert verdict(list(firewall_rules(stack).values()), "INGRESS", "tcp", port, remote) == want


@pytest.mark.parametrize("port,want", [(6880, "allow"), (6881, "deny"), (6885, "deny"), (6889, "deny"),
                                       (6890, "allow"), (443, "allow")])
def test_egress_tcp_examples(stack, port, want):
    assert verdict(list(firewall_rules(stack).values()), "EGRESS", "tcp", port, INTERNET_HOST) == want


def _mutants(stack: Stack) -> dict[str, list[Rule]]:
    rules = firewall_rules(stack)
    base = list(rules.values())
    without = lambda name: [r for r in base if r.name != name]  # noqa: E731
    swap = lambda name, **kw: [replace(r, **kw) if r.name == name else r for r in base]  # noqa: E731
    vm = (VM_SA,)
    return {
        "ssh from anywhere": base + [Rule("x", "INGRESS", 1000, "allow", (("tcp", ("22",)),), (ANY,), vm)],
        "ssh range widened": swap("allow_ssh", ranges=("104.0.0.0/8",)),
        "8080 added to web": swap("allow_web", entries=(("tcp", ("80", "443", "8080")),)),
        "web opened to udp": base + [Rule("x", "INGRESS", 1000, "allow", (("udp", ("443",)),), (ANY,), vm)],
        "internal opened to every protocol": swap("allow_internal", entries=(("all", ()),)),
        "internal from everywhere": swap("allow_internal", ranges=(ANY,)),
        "internal rule dropped": without("allow_internal"),
        "icmp dropped": without("allow_icmp"),
        "web dropped": without("allow_web"),
        "egress deny dropped": without("deny_torrent_egress"),
        "egress deny below the allow": swap("deny_torrent_egress", priority=65535),
        "egress deny disabled": swap("deny_torrent_egress", disabled=True),
        "egress deny narrowed": swap("deny_torrent_egress", entries=(("tcp", ("6881-6888",)),)),
        "egress deny on udp": swap("deny_torrent_egress", entries=(("udp", ("6881-6889",)),)),
        "egress deny to one range only": swap("deny_torrent_egress", ranges=("198.51.100.0/24",)),
        "egress denied wholesale": base + [Rule("x", "EGRESS", 800, "deny", (("all", ()),), (ANY,), ())],
        "allow-all in above the deny": base + [Rule("x", "INGRESS", 2000, "allow", (("all", ()),), (ANY,), ())],
        "allow egress of 6881 first": base + [Rule("x", "EGRESS", 100, "allow", (("tcp", ("6881",)),), (ANY,), ())],
    }


def test_mutations_are_caught(stack):
    """Each mutant must break the policy check; a check that cannot fail proves nothing."""
    survivors = [name for name, rules in _mutants(stack).items() if not policy_violations(stack, rules)]
    assert survivors == []


def test_structural_check_catches_unexpected_arguments(stack):
    body = dict(stack.resource("google_compute_firewall", "allow_web"))
    body["source_tags"] = ["anything"]
    with pytest.raises(AssertionError, match="source_tags"):
        to_rule(stack, "allow_web", body)
    mutated = stack.copy()
    mutated.resources["google_compute_firewall"]["allow_ssh"]["source_ranges"] = [ANY]
    assert firewall_rules(mutated)["allow_ssh"] != expected_rules(stack)["allow_ssh"]


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------

def test_custom_mode_vpc_with_explicit_internet_route(stack):
    vpc = stack.resource("google_compute_network", "vpc")
    assert vpc["auto_create_subnetworks"] is False
    assert vpc["delete_default_routes_on_create"] is True
    route = stack.resource("google_compute_route", "internet")
    assert route["dest_range"] == ANY and route["next_hop_gateway"] == "default-internet-gateway"
    assert route["network"] == ref("google_compute_network.vpc.id")


def test_no_default_network_anywhere(stack):
    for rtype, name, body in stack.all_resources():
        for key in ("network", "subnetwork"):
            value = body.get(key)
            if value is not None:
                assert "default" not in str(value), f"{rtype}.{name}.{key} = {value}"


def test_subnet_ipv4_only_with_flow_logs(stack):
    subnet = stack.resource("google_compute_subnetwork", "vm")
    assert subnet["ip_cidr_range"] == ref("var.subnet_cidr")
    assert subnet["stack_type"] == "IPV4_ONLY"
    assert subnet["private_ip_google_access"] is True
    assert blocks(subnet, "log_config"), "VPC flow logs"
    assert ipaddress.ip_network(variable_default(stack, "subnet_cidr")).is_private


# --------------------------------------------------------------------------------------------
# The VM
# --------------------------------------------------------------------------------------------

def test_vm_hardening(stack):
    vm = stack.resource("google_compute_instance", "vm")
    shielded = blocks(vm, "shielded_instance_config")[0]
    assert shielded == {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}
    md = vm["metadata"]
    assert md["enable-oslogin"] == "TRUE"
    assert md["block-project-ssh-keys"] == "TRUE"
    assert md["serial-port-enable"] == "FALSE"
    assert not any(k in md for k in ("ssh-keys", "sshKeys", "enable-oslogin-2fa")), "keys come from OS Login only"
    assert vm["can_ip_forward"] is False
    assert "metadata_startup_script" not in vm  # it would force replacement on every edit


def test_vm_boots_the_shared_cloud_init(stack):
    # What the user data says is asserted on planned values in infra/gcp/vm/tests/vm_boot.tftest.hcl.
    vm = stack.resource("google_compute_instance", "vm")
    assert vm["metadata"]["user-data"] == ref("module.boot.user_data")
    assert stack.modules["boot"]["source"] == "../../modules/vm-boot"
    assert vm["metadata"]["startup-script"] == '${var.install_ops_agent ? file("${path.module}/scripts/ops-agent.sh") : ""}'
    assert (REPO_ROOT / STACK / "scripts/ops-agent.sh").is_file()


def test_vm_identity_is_a_dedicated_least_privilege_account(stack):
    vm = stack.resource("google_compute_instance", "vm")
    sa = blocks(vm, "service_account")[0]
    assert sa["email"] == VM_SA
    assert sorted(sa["scopes"]) == ["https://www.googleapis.com/auth/devstorage.read_only",
                                    "https://www.googleapis.com/auth/logging.write",
                                    "https://www.googleapis.com/auth/monitoring.write"]
    iam = stack.resource("google_project_iam_member", "vm")
    assert iam["for_each"] == "${toset(['roles/logging.logWriter', 'roles/monitoring.metricWriter'])}"
    assert iam["member"] == ref("google_service_account.vm.member")
    assert set(stack.resources) & {"google_project_iam_binding", "google_project_iam_policy"} == set()


def test_vm_has_the_static_ip_and_one_ipv4_interface(stack):
    vm = stack.resource("google_compute_instance", "vm")
    nics = blocks(vm, "network_interface")
    assert len(nics) == 1
    nic = nics[0]
    assert nic["subnetwork"] == ref("google_compute_subnetwork.vm.id")
    access = blocks(nic, "access_config")
    assert len(access) == 1 and access[0]["nat_ip"] == ref("google_compute_address.vm.address")
    assert not blocks(nic, "ipv6_access_config")
    addr = stack.resource("google_compute_address", "vm")
    assert addr["address_type"] == "EXTERNAL"


def test_boot_disk_encryption_and_image(stack):
    vm = stack.resource("google_compute_instance", "vm")
    disk = blocks(vm, "boot_disk")[0]
    assert disk["kms_key_self_link"] == ref("var.boot_disk_kms_key")
    assert variable_default(stack, "boot_disk_kms_key") is None  # Google-managed unless a key is given
    assert blocks(disk, "initialize_params")[0]["image"] == ref("data.google_compute_image.os.self_link")
    image = stack.data["google_compute_image"]["os"]
    assert image["family"] == ref("var.image_family") and image["project"] == ref("var.image_project")
    # Ubuntu runs cloud-init from `user-data`; GCE's Debian images do not.
    assert variable_default(stack, "image_project") == "ubuntu-os-cloud"
    assert variable_default(stack, "image_family") == "ubuntu-2404-lts-amd64"


def test_releases_never_replace_the_vm(stack):
    vm = stack.resource("google_compute_instance", "vm")
    lifecycle = blocks(vm, "lifecycle")[0]
    assert "replace_triggered_by" not in lifecycle, "a release must be installed in place, not by a new VM"
    assert "terraform_data" not in stack.resources


# --------------------------------------------------------------------------------------------
# Stack plumbing
# --------------------------------------------------------------------------------------------

def test_versions_providers_backend(stack):
    tf = {k: v for block in stack.terraform for k, v in block.items()}
    assert tf["required_version"] == ">= 1.10"
    google = tf["required_providers"]["google"] if isinstance(tf["required_providers"], dict) else tf["required_providers"][0]["google"]
    assert google == {"source": "hashicorp/google", "version": "~> 7.0"}
    assert tf["backend"] == {"gcs": {}}, "partial configuration: nothing about the project committed"
    (provider,) = stack.providers["google"]
    assert provider["default_labels"] == {"project": "shipshape", "managed-by": "terraform", "stack": "gcp-vm"}


def test_url_output(stack):
    assert stack.outputs["url"]["value"] == "http://${google_compute_address.vm.address}/hello"


def test_uptime_check_looks_for_the_greeting(stack):
    check = stack.resource("google_monitoring_uptime_check_config", "hello")
    http = blocks(check, "http_check")[0]
    assert http["path"] == "/hello" and http["port"] == 80
    matcher = blocks(check, "content_matchers")[0]
    assert matcher["content"] == "Hello World from BenchSci!"
    resource = blocks(check, "monitored_resource")[0]
    assert resource["labels"]["host"] == ref("google_compute_address.vm.address")


def test_every_variable_is_described_and_typed(stack):
    for name, body in stack.variables.items():
        assert body.get("description"), name
        assert body.get("type"), name


def test_example_tfvars_sets_only_declared_variables(stack):
    text = (REPO_ROOT / STACK / "terraform.tfvars.example").read_text()
    names = set(re.findall(r"^#?\s*([a-z][a-z0-9_]*)\s*=", text, re.M))
    assert names <= set(stack.variables), sorted(names - set(stack.variables))
    assert {"project_id", "release_bucket", "release_signing_key"} <= names


def test_out_of_band_change_alert_watches_the_firewall_and_the_vm(stack):
    policy = stack.resource("google_monitoring_alert_policy", "out_of_band_change")
    condition = blocks(policy, "conditions")[0]
    assert blocks(condition, "condition_matched_log")[0]["filter"] == ref("local.change_filter")
    text = stack.locals["change_filter"]
    for needle in ("cloudaudit.googleapis.com%2Factivity", "gce_firewall_rule", "/firewalls/${var.name}-",
                   "instances.delete", "instances.stop"):
        assert needle in text, needle
    assert blocks(blocks(policy, "alert_strategy")[0], "notification_rate_limit"), "log-match policies need one"


def test_ops_agent_startup_script():
    script = REPO_ROOT / STACK / "scripts/ops-agent.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    config = re.search(r"<<'YAML'\n(.*?)^YAML$", text, re.S | re.M)
    assert config, "the agent's config.yaml heredoc"
    parsed = yaml.safe_load(config.group(1))
    assert parsed["logging"]["receivers"]["journal"] == {"type": "systemd_journald"}
    assert parsed["logging"]["service"]["pipelines"]["default_pipeline"]["receivers"] == ["journal"]
