"""infra/modules/aws-network took over the VPCs of infra/aws/vm and infra/aws/eks, and
infra/modules/aws-log-key their CloudWatch Logs KMS keys; the `moved` blocks in each stack (network.tf;
security.tf / cluster.tf) carry the deployed objects to their module addresses. Shown on plans: each
stack's tests mock-apply the network and log key as they were before the modules
(tests/before-shared-modules) into a state of their own, then plan the stack on that state. On that plan
no object is destroyed, every object of module.network and module.log_key (and, in the VM's scaling
mode, of the ALB's inbound rules, once four resources and now one table) comes from an old address,
and none changes but the deliberate, listed ones: the VM's flow log Name tag is the VPC's name, as on
EKS; the VM's log key policy takes the module's statement ids (its statements are otherwise the same,
which the check verifies). A missing or wrong moved block, or a module that plans other values than the
stack had, fails the check (the mutation tests plant each). A destroyed KMS key would leave every log
group it encrypts unreadable.
"""
from __future__ import annotations

import json

import pytest

from conftest import mutate

VM, EKS = "infra/aws/vm", "infra/aws/eks"
MODULE_TF = "infra/modules/aws-network/main.tf"
LOG_KEY_TF = "infra/modules/aws-log-key/main.tf"
# The objects that were written differently before: the modules' (hand-written in the stacks) and the
# VM's ALB inbound rules (four resources, now one table). Each run lists the ones its plan must have.
MODULES = ("module.network.", "module.log_key.")
ALB_RULES = "aws_vpc_security_group_ingress_rule.alb["
# stack -> (test file, {run that plans the stack on the old state: moved objects},
#           {address: attributes allowed to change})
MIGRATIONS = {
    VM: ("tests/migration.tftest.hcl",
         {"with_the_shared_modules": MODULES, "with_the_shared_modules_scaling": (*MODULES, ALB_RULES)},
         {"module.network.aws_flow_log.this": {"tags", "tags_all"},
          "module.log_key.aws_kms_key.this": {"policy"}}),
    EKS: ("tests/migration.tftest.hcl",
          {"with_the_shared_modules": MODULES, "with_the_shared_modules_per_az": MODULES}, {}),
}


def changed(rc: dict) -> set[str]:
    """Attributes an update changes (known values that differ, or values only known after apply)."""
    before, after = rc["change"]["before"] or {}, rc["change"]["after"] or {}
    unknown = {k for k, v in (rc["change"].get("after_unknown") or {}).items() if v is True}
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)} | unknown


def statements(policy: str) -> list[dict]:
    """A policy's statements without their ids (labels with no effect on what the policy allows)."""
    return [{k: v for k, v in st.items() if k != "Sid"} for st in json.loads(policy)["Statement"]]


def check_migration(plan: dict, moved_prefixes: tuple[str, ...], allowed: dict[str, set[str]]) -> None:
    changes = [rc for rc in plan["resource_changes"] if rc["mode"] == "managed"]
    for rc in changes:
        actions = rc["change"]["actions"]
        assert "delete" not in actions, f"{rc['address']}: {actions}: a deployed object would be destroyed"
    for prefix in moved_prefixes:
        moved = [rc for rc in changes if rc["address"].startswith(prefix)]
        assert moved, f"the plan has no {prefix.rstrip('.[')} objects"
        for rc in moved:
            address, actions = rc["address"], rc["change"]["actions"]
            assert rc.get("previous_address"), f"{address}: {actions}, not moved from the address it had"
            if actions == ["update"]:
                diff = changed(rc)
                extra = diff - allowed.get(address, set())
                assert not extra, f"{address} (was {rc['previous_address']}) changes {sorted(extra)}"
                if "policy" in diff:  # only renamed statements: the same permissions
                    before, after = rc["change"]["before"]["policy"], rc["change"]["after"]["policy"]
                    assert statements(before) == statements(after), f"{address}: the policy changes what it allows"
            else:
                assert actions == ["no-op"], f"{address} (was {rc['previous_address']}): {actions}"


def run_migration(terraform, stack: str, root=None):
    test_file, runs, allowed = MIGRATIONS[stack]
    result = terraform.test((root / stack) if root else stack, filter=test_file)
    planned = {k[1] for k in result.plans}
    return result, [(result.plan(r), moved, allowed) for r, moved in runs.items() if r in planned]


@pytest.mark.parametrize("stack", [VM, EKS])
def test_moved_blocks_keep_the_deployed_objects(stack_test, stack):
    test_file, runs, allowed = MIGRATIONS[stack]
    result = stack_test(stack, test_file)
    assert result.ok, result.failures + result.diagnostics
    for run, moved in runs.items():
        check_migration(result.plan(run), moved, allowed)


MUTATIONS = {
    "vm: subnets not moved": (VM, {f"{VM}/network.tf": [(
        "moved {\n  from = aws_subnet.public\n  to   = module.network.aws_subnet.public\n}\n", "")]}),
    "eks: renamed route not moved": (EKS, {f"{EKS}/network.tf": [(
        "moved {\n  from = aws_route.public_internet\n  to   = module.network.aws_route.public_ipv4\n}\n", "")]}),
    "eks: endpoint group moved to no instance": (EKS, {f"{EKS}/network.tf": [(
        "to   = module.network.aws_security_group.endpoints[0]", "to   = module.network.aws_security_group.endpoints")]}),
    "module: public subnets one /24 further": (VM, {MODULE_TF: [(
        "cidrsubnet(var.vpc_cidr, 24 - local.prefix, local.public_offset + i)",
        "cidrsubnet(var.vpc_cidr, 24 - local.prefix, local.public_offset + i + 1)")]}),
    "vm: log key not moved": (VM, {f"{VM}/security.tf": [(
        "moved {\n  from = aws_kms_key.logs\n  to   = module.log_key.aws_kms_key.this\n}\n", "")]}),
    "eks: log key not moved": (EKS, {f"{EKS}/cluster.tf": [(
        "moved {\n  from = aws_kms_key.logs\n  to   = module.log_key.aws_kms_key.this\n}\n", "")]}),
    "eks: log key alias not moved": (EKS, {f"{EKS}/cluster.tf": [(
        "moved {\n  from = aws_kms_alias.logs\n  to   = module.log_key.aws_kms_alias.this\n}\n", "")]}),
    "vm: log key policy loses the WAF log group": (VM, {f"{VM}/security.tf": [(
        'log_groups  = ["/shipshape/${var.name}/*", "aws-waf-logs-${var.name}*"]',
        'log_groups  = ["/shipshape/${var.name}/*"]')]}),
    "module: log key matches exact names as patterns": (EKS, {LOG_KEY_TF: [(
        '? "ArnLike" : "ArnEquals"', '? "ArnLike" : "ArnLike"')]}),
    "vm: an ALB rule not moved": (VM, {f"{VM}/security.tf": [(
        'moved {\n  from = aws_vpc_security_group_ingress_rule.alb_https_ipv6[0]\n'
        '  to   = aws_vpc_security_group_ingress_rule.alb["https_ipv6"]\n}\n', "")]}),
    "vm: an ALB rule on another port": (VM, {f"{VM}/security.tf": [(
        'http_ipv6  = { port = 80, cidr = "::/0"', 'http_ipv6  = { port = 8080, cidr = "::/0"')]}),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_migration_check_catches(terraform, tmp_path, name):
    stack, edits = MUTATIONS[name]
    root = mutate(tmp_path, edits)
    result, plans = run_migration(terraform, stack, root)
    if not plans:  # the mutation broke the plan itself: caught by the stack's own tests
        assert not result.ok
        return
    with pytest.raises(AssertionError):
        for plan, moved, allowed in plans:
            check_migration(plan, moved, allowed)
