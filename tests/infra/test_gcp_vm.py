"""infra/gcp/vm: the firewall's effective policy on planned values, evaluated like GCP evaluates it.

The rules come from `terraform test` plans (tests/network.tftest.hcl, runs "defaults" and "more_ranges",
mock google provider). An evaluator applies GCP's semantics to them
(https://cloud.google.com/firewall/docs/firewalls#rule_assignment,
https://cloud.google.com/firewall/docs/firewalls#default_firewall_rules):

* a rule applies to an instance when it has no target, or one of its target_service_accounts is the
  instance's service account, or one of its target_tags is on the instance;
* ingress rules match the packet's source against source_ranges, egress rules its destination against
  destination_ranges; disabled rules match nothing;
* of the matching rules, the lowest priority number decides, and at equal priority a deny wins;
* every VPC has two implied rules at 65535: deny all ingress, allow all egress.

The policy (the original specification's): TCP 80/443 and ICMP from anywhere to the VM, TCP 22 only from
104.154.0.0/15, all TCP and UDP between hosts inside the VPC (every primary and secondary range of every
subnet), everything else inbound denied; everything outbound allowed except TCP 6881-6889.
Each check has mutation tests that plant a mistake in a copy of the stack and must be caught.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache

import pytest
import yaml

from conftest import REPO_ROOT, mutate

STACK = "infra/gcp/vm"
TFTEST = "tests/network.tftest.hcl"
RUNS = ("defaults", "more_ranges")
ANY = "0.0.0.0/0"
SSH_RANGE = ipaddress.ip_network("104.154.0.0/15")

INTERNET_HOSTS = ["203.0.113.7", "8.8.8.8"]
GOOGLE_HOSTS = ["104.154.0.1", "104.155.255.254"]
NEAR_GOOGLE_HOSTS = ["104.153.255.255", "104.156.0.1"]  # just outside the /15
OTHER_PROTOCOLS = ["sctp", "esp", "ah", "gre", "ipip"]


# --------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    name: str
    direction: str
    priority: int
    action: str  # allow | deny
    entries: tuple[tuple[str, tuple[str, ...]], ...]  # (protocol, ports); no ports = every port
    ranges: tuple[str, ...]  # source ranges (ingress) / destination ranges (egress)
    target_sas: tuple[str, ...] = ()
    target_tags: tuple[str, ...] = ()
    disabled: bool = False


IMPLIED = [
    Rule("implied-deny-ingress", "INGRESS", 65535, "deny", (("all", ()),), (ANY,)),
    Rule("implied-allow-egress", "EGRESS", 65535, "allow", (("all", ()),), (ANY,)),
]


@dataclass(frozen=True)
class Instance:
    service_account: str
    tags: tuple[str, ...] = ()


def to_rule(values: dict) -> Rule:
    name = values["name"]
    direction = values.get("direction")
    assert direction in ("INGRESS", "EGRESS"), f"{name}: direction must be set explicitly, got {direction!r}"
    assert not values.get("source_tags") and not values.get("source_service_accounts"), (
        f"{name}: source_tags/source_service_accounts match instances, not addresses; keep the policy IP-based")
    allow, deny = values.get("allow") or [], values.get("deny") or []
    assert bool(allow) != bool(deny), f"{name}: exactly one of allow/deny"
    action, entries = ("allow", allow) if allow else ("deny", deny)
    ranges = values.get("source_ranges") if direction == "INGRESS" else values.get("destination_ranges")
    return Rule(
        name=name,
        direction=direction,
        priority=1000 if values.get("priority") is None else int(values["priority"]),
        action=action,
        entries=tuple((e["protocol"], tuple(str(p) for p in (e.get("ports") or []))) for e in entries),
        # GCP: an ingress rule without source ranges (and no source tags) matches 0.0.0.0/0; same for egress.
        ranges=tuple(ranges) if ranges else (ANY,),
        target_sas=tuple(values.get("target_service_accounts") or ()),
        target_tags=tuple(values.get("target_tags") or ()),
        disabled=bool(values.get("disabled")),
    )


@lru_cache(maxsize=None)
def _net(cidr: str):
    return ipaddress.ip_network(cidr)


def _applies_to(rule: Rule, inst: Instance) -> bool:
    if not rule.target_sas and not rule.target_tags:
        return True
    return inst.service_account in rule.target_sas or bool(set(rule.target_tags) & set(inst.tags))


def _entry_matches(entry, protocol: str, port: int | None) -> bool:
    proto, ports = entry
    if proto == "all":
        return True
    if proto != protocol:
        return False
    if not ports or port is None:
        return True
    for spec in ports:
        lo, _, hi = spec.partition("-")
        if int(lo) <= port <= int(hi or lo):
            return True
    return False


def _candidates(rules, inst: Instance, direction: str, remote: str) -> list[Rule]:
    addr = ipaddress.ip_address(remote)
    return [r for r in rules + IMPLIED
            if not r.disabled and r.direction == direction and _applies_to(r, inst)
            and any(addr in _net(c) for c in r.ranges)]


def _decide(candidates, protocol, port) -> str:
    matching = [r for r in candidates if any(_entry_matches(e, protocol, port) for e in r.entries)]
    return min(matching, key=lambda r: (r.priority, r.action != "deny")).action


def verdict(rules, inst: Instance, direction: str, protocol: str, port: int | None, remote: str) -> str:
    return _decide(_candidates(rules, inst, direction, remote), protocol, port)


def open_ports(rules, inst: Instance, direction: str, protocol: str, remote: str) -> set[int]:
    """Every port 1-65535 the rules let through; exact, by evaluating once per segment between the
    rules' port bounds."""
    candidates = _candidates(rules, inst, direction, remote)
    cuts = {1, 65536}
    for r in candidates:
        for proto, ports in r.entries:
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


ALL_PORTS = set(range(1, 65536))
TORRENT = set(range(6881, 6890))


def _fmt(ports: set[int]) -> str:
    return f"{sorted(ports)[:12]}{'...' if len(ports) > 12 else ''} ({len(ports)} ports)"


# --------------------------------------------------------------------------------------------
# The plan, reduced to rules, instances and the VPC's ranges
# --------------------------------------------------------------------------------------------

@dataclass
class Network:
    rules: list[Rule]
    vm: Instance
    other: Instance  # any other instance of the VPC
    vpc_ranges: list[str]  # from the planned subnets themselves

    def inside_hosts(self) -> list[str]:
        hosts = []
        for cidr in self.vpc_ranges:
            net = ipaddress.ip_network(cidr)
            hosts += [str(net.network_address + 2), str(net.broadcast_address - 1)]
        return hosts

    def private_outside_host(self) -> str:
        for candidate in ("10.255.255.10", "172.31.255.10", "192.168.255.10"):
            if not any(ipaddress.ip_address(candidate) in _net(c) for c in self.vpc_ranges):
                return candidate
        raise AssertionError("no private address outside the VPC's ranges to probe with")


def planned(plan: dict, rtype: str) -> list[dict]:
    """Planned values (change.after) of every resource of a type that the plan creates or keeps."""
    return [rc["change"]["after"] for rc in plan["resource_changes"]
            if rc["type"] == rtype and rc["change"]["after"] is not None]


def network_from_plan(plan: dict) -> Network:
    firewalls = planned(plan, "google_compute_firewall")
    subnets = planned(plan, "google_compute_subnetwork")
    vpc_ranges = []
    for s in subnets:
        vpc_ranges.append(s["ip_cidr_range"])
        vpc_ranges += [r["ip_cidr_range"] for r in s.get("secondary_ip_range") or []]
    (vm,) = planned(plan, "google_compute_instance")
    vm_sa = plan["output_changes"]["service_account_email"]["after"]
    return Network(
        rules=[to_rule(v) for v in firewalls],
        # The VM as the stack declares it: it runs as var.vm_service_account_email (see
        # test_vm_runs_as_the_firewall_target) with the instance's planned network tags.
        vm=Instance(vm_sa, tuple(vm.get("tags") or ())),
        other=Instance("some-other-workload@shipshape-test-1.iam.gserviceaccount.com"),
        vpc_ranges=vpc_ranges,
    )


# --------------------------------------------------------------------------------------------
# The checks: each returns its violations ([] = the spec holds)
# --------------------------------------------------------------------------------------------

def check_ingress_from_outside(n: Network) -> list[str]:
    """To the VM from any address outside the VPC: TCP 80 and 443 and ICMP, nothing else; to any other
    instance of the VPC: nothing."""
    problems = []
    for remote in INTERNET_HOSTS + NEAR_GOOGLE_HOSTS + [n.private_outside_host()]:
        tcp = open_ports(n.rules, n.vm, "INGRESS", "tcp", remote)
        if tcp != {80, 443}:
            problems.append(f"VM tcp from {remote}: open {_fmt(tcp)}, want [80, 443]")
        if udp := open_ports(n.rules, n.vm, "INGRESS", "udp", remote):
            problems.append(f"VM udp from {remote}: open {_fmt(udp)}, want none")
        if verdict(n.rules, n.vm, "INGRESS", "icmp", None, remote) != "allow":
            problems.append(f"VM icmp from {remote}: denied, want allowed")
        for proto in OTHER_PROTOCOLS:
            if verdict(n.rules, n.vm, "INGRESS", proto, None, remote) != "deny":
                problems.append(f"VM {proto} from {remote}: allowed, want denied")
        for proto in ("tcp", "udp"):
            if other := open_ports(n.rules, n.other, "INGRESS", proto, remote):
                problems.append(f"other instance {proto} from {remote}: open {_fmt(other)}, want none")
    return problems


def check_ssh_only_from_google(n: Network) -> list[str]:
    """TCP 22 from 104.154.0.0/15 (both ends of it), and from nowhere else outside the VPC."""
    problems = []
    for remote in GOOGLE_HOSTS:
        assert ipaddress.ip_address(remote) in SSH_RANGE
        tcp = open_ports(n.rules, n.vm, "INGRESS", "tcp", remote)
        if tcp != {22, 80, 443}:
            problems.append(f"VM tcp from {remote}: open {_fmt(tcp)}, want [22, 80, 443]")
        if udp := open_ports(n.rules, n.vm, "INGRESS", "udp", remote):
            problems.append(f"VM udp from {remote}: open {_fmt(udp)}, want none")
    for remote in INTERNET_HOSTS + NEAR_GOOGLE_HOSTS:
        if verdict(n.rules, n.vm, "INGRESS", "tcp", 22, remote) != "deny":
            problems.append(f"VM tcp/22 from {remote}: allowed, want denied")
    return problems


def check_inside_the_vpc(n: Network) -> list[str]:
    """All TCP and all UDP between hosts inside the VPC, from every range of every subnet, to the VM and
    to any other instance; no other protocol (ICMP is the VM's, from anywhere)."""
    problems = []
    for remote in n.inside_hosts():
        for inst, who in ((n.vm, "VM"), (n.other, "other instance")):
            for proto in ("tcp", "udp"):
                if closed := ALL_PORTS - open_ports(n.rules, inst, "INGRESS", proto, remote):
                    problems.append(f"{who} {proto} from {remote} (inside): closed {_fmt(closed)}, want all open")
            for proto in OTHER_PROTOCOLS:
                if verdict(n.rules, inst, "INGRESS", proto, None, remote) != "deny":
                    problems.append(f"{who} {proto} from {remote} (inside): allowed, want denied")
    return problems


def check_egress(n: Network) -> list[str]:
    """Everything out is allowed, except TCP 6881-6889 to anywhere, from every instance."""
    problems = []
    for inst, who in ((n.vm, "VM"), (n.other, "other instance")):
        for remote in INTERNET_HOSTS + GOOGLE_HOSTS + n.inside_hosts()[:2]:
            blocked = ALL_PORTS - open_ports(n.rules, inst, "EGRESS", "tcp", remote)
            if blocked != TORRENT:
                problems.append(f"{who} tcp to {remote}: blocked {_fmt(blocked)}, want 6881-6889")
            if blocked_udp := ALL_PORTS - open_ports(n.rules, inst, "EGRESS", "udp", remote):
                problems.append(f"{who} udp to {remote}: blocked {_fmt(blocked_udp)}, want none")
            for proto in ["icmp"] + OTHER_PROTOCOLS:
                if verdict(n.rules, inst, "EGRESS", proto, None, remote) != "allow":
                    problems.append(f"{who} {proto} to {remote}: denied, want allowed")
    return problems


CHECKS = {
    "ingress from outside": check_ingress_from_outside,
    "ssh only from 104.154.0.0/15": check_ssh_only_from_google,
    "inside the VPC": check_inside_the_vpc,
    "egress": check_egress,
}


def plans(terraform, root=None) -> dict[str, dict]:
    result = terraform.test((root or REPO_ROOT) / STACK, filter=TFTEST)
    got = {run: result.plan(run) for run in RUNS}
    return got


def violations(plan_by_run: dict[str, dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for run, plan in plan_by_run.items():
        net = network_from_plan(plan)
        for name, check in CHECKS.items():
            out.setdefault(name, []).extend(f"[{run}] {p}" for p in check(net))
    return out


@pytest.fixture(scope="module")
def planned_plans(terraform) -> dict[str, dict]:
    result = terraform.test(REPO_ROOT / STACK, filter=TFTEST)
    assert result.ok, f"terraform test failed: {result.failures}\n" + "\n".join(result.diagnostics) + result.log
    return {run: result.plan(run) for run in RUNS}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_firewall(planned_plans, check):
    problems = violations(planned_plans)[check]
    assert problems == [], "\n".join(problems)


def test_more_ranges_are_inside(planned_plans):
    """The "more_ranges" run really has secondary ranges and other subnets, so the inside check covers them."""
    net = network_from_plan(planned_plans["more_ranges"])
    assert len(net.vpc_ranges) == 5 and "10.31.0.0/20" in net.vpc_ranges


def test_vm_runs_as_the_firewall_target(planned_plans):
    """The public openings target var.vm_service_account_email, so the VM must run as exactly that account."""
    plan = planned_plans["defaults"]
    (vm,) = planned(plan, "google_compute_instance")
    email = (vm.get("service_account") or [{}])[0].get("email")
    assert email == plan["output_changes"]["service_account_email"]["after"]


# --------------------------------------------------------------------------------------------
# A fresh project: every API this stack reads through is on before its first plan
# --------------------------------------------------------------------------------------------

BOOTSTRAP = "infra/gcp/bootstrap"


def apis_missing_from_bootstrap(terraform, vm_plan: dict, root=None) -> set[str]:
    """The APIs infra/gcp/vm enables (and reads through: images, keys) that infra/gcp/bootstrap does not
    enable before it. The pipeline's plan identity cannot enable APIs, and a data source read during the
    first plan fails while its API is off."""
    result = terraform.test((root or REPO_ROOT) / BOOTSTRAP, filter="tests/bootstrap.tftest.hcl")
    (state,) = [s for (_, run), s in result.states.items() if run == "defaults"]
    enabled = {r["values"]["service"] for r in state["root_module"]["resources"]
               if r["type"] == "google_project_service"}
    used = {v["service"] for v in planned(vm_plan, "google_project_service")}
    assert used, "infra/gcp/vm declares the APIs it uses (google_project_service)"
    return used - enabled


def test_bootstrap_enables_every_api_this_stack_uses(terraform, planned_plans):
    assert apis_missing_from_bootstrap(terraform, planned_plans["defaults"]) == set()


def test_mutation_bootstrap_without_compute_is_caught(terraform, planned_plans, tmp_path):
    root = mutate(tmp_path, {BOOTSTRAP + "/services.tf": [('    "compute.googleapis.com",\n', "")]})
    assert apis_missing_from_bootstrap(terraform, planned_plans["defaults"], root) == {"compute.googleapis.com"}




# --------------------------------------------------------------------------------------------
# Mutations: each check must catch a planted mistake
# --------------------------------------------------------------------------------------------

FW = STACK + "/firewall.tf"
NET = STACK + "/network.tf"

MUTATIONS = {
    # name: (edits, the check that must catch it)
    "ssh from anywhere": ({FW: [("source_ranges           = [local.ssh_source_cidr]",
                                 "source_ranges           = [local.anywhere_ipv4]")]}, "ssh only from 104.154.0.0/15"),
    "ssh range widened": ({FW: [('ssh_source_cidr = "104.154.0.0/15"', 'ssh_source_cidr = "104.0.0.0/8"')]},
                          "ssh only from 104.154.0.0/15"),
    "8080 added to web": ({FW: [('ports    = ["80", "443"]', 'ports    = ["80", "443", "8080"]')]},
                          "ingress from outside"),
    "web rule by network tag": ({FW: [('''  source_ranges           = [local.anywhere_ipv4]
  target_service_accounts = [var.vm_service_account_email]

  allow {
    protocol = "tcp"
    ports    = ["80", "443"]''', '''  source_ranges = [local.anywhere_ipv4]
  target_tags   = ["web"]

  allow {
    protocol = "tcp"
    ports    = ["80", "443"]''')]}, "ingress from outside"),
    "web rule for every instance": ({FW: [('''  source_ranges           = [local.anywhere_ipv4]
  target_service_accounts = [var.vm_service_account_email]

  allow {
    protocol = "tcp"''', '''  source_ranges = [local.anywhere_ipv4]

  allow {
    protocol = "tcp"''')]}, "ingress from outside"),
    "web rule turned egress": ({FW: [('''  name        = "${var.name}-allow-web"
  description = "HTTP and HTTPS to the VM from everywhere"
  network     = google_compute_network.vpc.id
  direction   = "INGRESS"''', '''  name        = "${var.name}-allow-web"
  description = "HTTP and HTTPS to the VM from everywhere"
  network     = google_compute_network.vpc.id
  direction   = "EGRESS"''')]}, "ingress from outside"),
    "internal from the VM subnet only": ({FW: [("  source_ranges = local.vpc_ranges",
                                                "  source_ranges = [google_compute_subnetwork.vm.ip_cidr_range]")]},
                                         "inside the VPC"),
    "secondary ranges left out": ({NET: [("    [for r in google_compute_subnetwork.vm.secondary_ip_range : r.ip_cidr_range],\n", "")]},
                                  "inside the VPC"),
    "internal for the VM only": ({FW: [("  source_ranges = local.vpc_ranges",
                                        "  source_ranges           = local.vpc_ranges\n  target_service_accounts = [var.vm_service_account_email]")]},
                                 "inside the VPC"),
    "internal opened to every protocol": ({FW: [('''  allow {
    protocol = "tcp"
  }
  allow {
    protocol = "udp"
  }''', '''  allow {
    protocol = "all"
  }''')]}, "inside the VPC"),
    "internal from everywhere": ({FW: [("  source_ranges = local.vpc_ranges", "  source_ranges = [local.anywhere_ipv4]")]},
                                 "ingress from outside"),
    "egress deny below the allow": ({FW: [("  priority    = 900", "  priority    = 65535")]}, "egress"),
    "egress deny disabled": ({FW: [('''  destination_ranges = [local.anywhere_ipv4]

  deny {''', '''  destination_ranges = [local.anywhere_ipv4]
  disabled           = true

  deny {''')]}, "egress"),
    "egress deny narrowed": ({FW: [('ports    = ["6881-6889"]', 'ports    = ["6881-6888"]')]}, "egress"),
    "egress denied wholesale": ({FW: [('''  description = "Everything else outbound is allowed (the implied rule, written out)"
  network     = google_compute_network.vpc.id
  direction   = "EGRESS"
  priority    = 65534''', '''  description = "Everything else outbound is allowed (the implied rule, written out)"
  network     = google_compute_network.vpc.id
  direction   = "EGRESS"
  priority    = 800
  disabled    = false
'''), ('''  allow {
    protocol = "all"
  }
}''', '''  deny {
    protocol = "all"
  }
}''')]}, "egress"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_caught(terraform, tmp_path, name):
    edits, check = MUTATIONS[name]
    root = mutate(tmp_path, edits)
    result = terraform.test(root / STACK, filter=TFTEST)
    missing = [run for run in RUNS if not [p for (_, r), p in result.plans.items() if r == run]]
    assert not missing, f"no plan for {missing}: {result.diagnostics}"
    problems = violations({run: result.plan(run) for run in RUNS})[check]
    assert problems, f"mutation {name!r} was not caught by the {check!r} check"


# --------------------------------------------------------------------------------------------
# compute.tf: the VM's hardening and interface are asserted on planned values in
# tests/vm_boot.tftest.hcl (run "vm_boot"); each mutation here must make that run fail.
# --------------------------------------------------------------------------------------------

VM_BOOT_TFTEST = "tests/vm_boot.tftest.hcl"
COMPUTE_TF = f"{STACK}/compute.tf"
VM_MUTATIONS = {
    "no secure boot": [("enable_secure_boot          = true", "enable_secure_boot          = false")],
    "serial port on": [('serial-port-enable     = "FALSE"', 'serial-port-enable     = "TRUE"')],
    "project ssh keys": [('block-project-ssh-keys = "TRUE"', 'block-project-ssh-keys = "FALSE"')],
    "ssh key in metadata": [('enable-oslogin         = "TRUE"',
                             'enable-oslogin         = "TRUE"\n    ssh-keys               = "admin:ssh-ed25519 AAAA admin"')],
    "ip forwarding": [("can_ip_forward            = false", "can_ip_forward            = true")],
    "ephemeral address": [("nat_ip       = google_compute_address.vm.address\n", "")],
}


@pytest.mark.parametrize("name", sorted(VM_MUTATIONS))
def test_vm_mutation_is_caught(terraform, tmp_path, name):
    root = mutate(tmp_path, {COMPUTE_TF: VM_MUTATIONS[name]})
    result = terraform.test(root / STACK, filter=VM_BOOT_TFTEST)
    assert not result.ok, f"mutation {name!r} passed tests/vm_boot.tftest.hcl"


def test_releases_never_replace_the_vm(planned_plans):
    """A release is installed in place by the VM (it reads the pointer): nothing in the plan ties a
    release to the VM's lifecycle."""
    types = {r["type"] for r in planned_plans["defaults"].get("resource_changes", [])}
    assert "google_compute_instance" in types
    assert not types & {"terraform_data", "null_resource"}, types


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


# --------------------------------------------------------------------------------------------
# Stack hygiene (every variable described and typed: scripts/refdocs.py --check)
# --------------------------------------------------------------------------------------------

def test_example_tfvars_sets_only_declared_variables():
    declared = set(re.findall(r'^variable "([a-z_0-9]+)"', (REPO_ROOT / STACK / "variables.tf").read_text(), re.M))
    text = (REPO_ROOT / STACK / "terraform.tfvars.example").read_text()
    names = set(re.findall(r"^#?\s*([a-z][a-z0-9_]*)\s*=", text, re.M))
    assert names <= declared, sorted(names - declared)
    assert {"project_id", "vm_service_account_email", "release_bucket", "release_signing_key"} <= names
