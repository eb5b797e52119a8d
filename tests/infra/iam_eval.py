"""A small, strict evaluator of AWS IAM policy documents: enough to answer "may principal P call action A
on resource R with request context C?" for the policies the bootstrap plans.

Evaluation follows AWS's documented logic for one account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

  1. an explicit Deny in any applicable policy (identity, boundary, resource) wins;
  2. otherwise the request is allowed when an identity policy allows it and, if the principal has a
     permissions boundary, the boundary allows it too; or when a resource policy allows it for that
     principal (same account: identity and resource allows are a union; a boundary still caps it);
  3. everything else is an implicit deny.

Supported: Effect, Action/NotAction and Resource/NotResource with IAM wildcards (* and ?; actions
case-insensitive), Principal/NotPrincipal ("*", AWS, Service, Federated), and the condition operators
String(Not)Equals, String(Not)EqualsIgnoreCase, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool,
Null and Numeric(Not)Equals/LessThan(Equals)/GreaterThan(Equals), each with the ...IfExists suffix and the
ForAnyValue:/ForAllValues: set prefixes. Anything else (an unknown operator, a policy variable, a
multi-valued context key under a single-valued operator) raises UnsupportedPolicy instead of guessing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable


class UnsupportedPolicy(ValueError):
    """The document uses something this evaluator does not model; refuse rather than guess."""


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: '*' any run of characters (including '/' and ':'), '?' exactly one."""
    if "${" in pattern:
        raise UnsupportedPolicy(f"policy variables are not modelled: {pattern!r}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, value, flags) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated parts are matched one by one; the last part may contain ':'."""
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(p_parts, v_parts))


def _bool_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def _num(value: Any) -> float:
    return float(value)


# base operator -> (matcher(policy_value, context_value), negated)
_OPERATORS = {
    "StringEquals": (lambda p, v: str(p) == str(v), False),
    "StringNotEquals": (lambda p, v: str(p) == str(v), True),
    "StringEqualsIgnoreCase": (lambda p, v: str(p).lower() == str(v).lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: str(p).lower() == str(v).lower(), True),
    "StringLike": (lambda p, v: _glob(str(p), str(v)), False),
    "StringNotLike": (lambda p, v: _glob(str(p), str(v)), True),
    "ArnEquals": (lambda p, v: str(p) == str(v), False),
    "ArnNotEquals": (lambda p, v: str(p) == str(v), True),
    "ArnLike": (lambda p, v: _arn_like(str(p), str(v)), False),
    "ArnNotLike": (lambda p, v: _arn_like(str(p), str(v)), True),
    "Bool": (lambda p, v: _bool_str(p) == _bool_str(v), False),
    "NumericEquals": (lambda p, v: _num(p) == _num(v), False),
    "NumericNotEquals": (lambda p, v: _num(p) == _num(v), True),
    "NumericLessThan": (lambda p, v: _num(v) < _num(p), False),
    "NumericLessThanEquals": (lambda p, v: _num(v) <= _num(p), False),
    "NumericGreaterThan": (lambda p, v: _num(v) > _num(p), False),
    "NumericGreaterThanEquals": (lambda p, v: _num(v) >= _num(p), False),
}


def _single(base: str, policy_values: list, value: Any) -> bool:
    """One context value against the policy values: positive operators match any value; negated ones
    match when the value equals none of them."""
    match, negated = _OPERATORS[base]
    hit = any(match(p, value) for p in policy_values)
    return not hit if negated else hit


def condition_holds(operator: str, key: str, policy_values: Any, context: dict) -> bool:
    """One (operator, key) pair of a Condition block against the request context."""
    values = _as_list(policy_values)
    set_op = None
    if ":" in operator:
        set_op, operator = operator.split(":", 1)
        if set_op not in ("ForAnyValue", "ForAllValues"):
            raise UnsupportedPolicy(f"unknown set operator {set_op}")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    present = key in context and context[key] is not None

    if base == "Null":
        if set_op or if_exists:
            raise UnsupportedPolicy("Null takes no set operator or IfExists")
        want_absent = [_bool_str(v) for v in values]
        if want_absent not in (["true"], ["false"]):
            raise UnsupportedPolicy(f"Null needs one true/false value, got {values}")
        return (not present) if want_absent == ["true"] else present

    if base not in _OPERATORS:
        raise UnsupportedPolicy(f"condition operator {operator} is not modelled")

    if set_op == "ForAnyValue":
        if not present:
            return False
        return any(_single(base, values, v) for v in _as_list(context[key]))
    if set_op == "ForAllValues":
        if not present:
            return True
        return all(_single(base, values, v) for v in _as_list(context[key]))

    if not present:
        # Missing key: IfExists passes; a positive operator fails; a negated operator "does not match".
        return True if if_exists else _OPERATORS[base][1]
    if isinstance(context[key], list):
        raise UnsupportedPolicy(f"{key} is multi-valued: use ForAnyValue/ForAllValues with {operator}")
    return _single(base, values, context[key])


@dataclass(frozen=True)
class Principal:
    """Who is asking: an IAM role session (arn = the role ARN), or a federated/service caller."""

    arn: str = ""
    kind: str = "AWS"  # AWS | Federated | Service


@dataclass
class Request:
    action: str
    resource: str
    context: dict = field(default_factory=dict)
    principal: Principal = field(default_factory=Principal)


def _principal_matches(spec: Any, who: Principal) -> bool:
    if spec == "*":
        return True
    if not isinstance(spec, dict):
        raise UnsupportedPolicy(f"unsupported Principal {spec!r}")
    for kind, ids in spec.items():
        if kind != who.kind:
            continue
        for ident in _as_list(ids):
            if ident == "*" or ident == who.arn:
                return True
    return False


def statement_applies(st: dict, req: Request, *, resource_policy: bool = False) -> bool:
    known = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"}
    extra = set(st) - known
    if extra:
        raise UnsupportedPolicy(f"statement keys {sorted(extra)} are not modelled")
    if ("Action" in st) == ("NotAction" in st):
        raise UnsupportedPolicy(f"statement {st.get('Sid')} needs exactly one of Action/NotAction")
    if "Resource" in st and "NotResource" in st or (not resource_policy and "Resource" not in st and "NotResource" not in st):
        # A role's trust policy (a resource policy) has no Resource: it is about the role itself.
        raise UnsupportedPolicy(f"statement {st.get('Sid')} needs exactly one of Resource/NotResource")
    if resource_policy:
        if "NotPrincipal" in st:
            raise UnsupportedPolicy("NotPrincipal is not modelled")
        if not _principal_matches(st.get("Principal"), req.principal):
            return False
    elif "Principal" in st or "NotPrincipal" in st:
        raise UnsupportedPolicy("identity policies cannot name a Principal")

    if "Action" in st:
        if not any(_glob(a, req.action, ignore_case=True) for a in _as_list(st["Action"])):
            return False
    elif any(_glob(a, req.action, ignore_case=True) for a in _as_list(st["NotAction"])):
        return False

    if "Resource" in st:
        if not any(_glob(r, req.resource) for r in _as_list(st["Resource"])):
            return False
    elif "NotResource" in st and any(_glob(r, req.resource) for r in _as_list(st["NotResource"])):
        return False

    for operator, pairs in (st.get("Condition") or {}).items():
        for key, values in pairs.items():
            if not condition_holds(operator, key, values, req.context):
                return False
    return True


def _statements(doc: dict | str) -> list[dict]:
    if isinstance(doc, str):
        doc = json.loads(doc)
    if doc.get("Version") != "2012-10-17":
        raise UnsupportedPolicy(f"policy Version must be 2012-10-17, got {doc.get('Version')!r}")
    return _as_list(doc.get("Statement"))


def decide(
    req: Request,
    identity: Iterable[dict | str] = (),
    boundary: dict | str | None = None,
    resource: Iterable[dict | str] = (),
) -> str:
    """'Allow', 'ExplicitDeny' or 'ImplicitDeny' for one request. A resource policy statement naming the
    account root ("arn:aws:iam::<id>:root") delegates to IAM and does not match a role here: callers
    model that delegation (KMS key policies) explicitly."""
    identity = [_statements(d) for d in identity]
    resource = [_statements(d) for d in resource]
    bound = _statements(boundary) if boundary is not None else None

    def hits(docs, effect, *, res=False):
        return any(
            st["Effect"] == effect and statement_applies(st, req, resource_policy=res)
            for doc in docs
            for st in doc
        )

    if hits(identity, "Deny") or hits(resource, "Deny", res=True) or (bound is not None and hits([bound], "Deny")):
        return "ExplicitDeny"
    allowed = hits(identity, "Allow") or hits(resource, "Allow", res=True)
    if allowed and bound is not None and not hits([bound], "Allow"):
        return "ImplicitDeny"
    return "Allow" if allowed else "ImplicitDeny"
