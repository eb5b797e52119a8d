"""The IAM evaluator's semantics, pinned on small documents whose AWS outcome is documented
(reference_policies_evaluation-logic, reference_policies_elements_condition_operators)."""

import pytest

from iam_eval import Principal, Request, UnsupportedPolicy, condition_holds, decide


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_S3 = {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}


def test_action_wildcards_are_case_insensitive_resource_globs_are_not():
    assert decide(Request("S3:GETOBJECT", "arn:aws:s3:::b/k"), [doc(ALLOW_S3)]) == "Allow"
    assert decide(Request("s3:PutObject", "arn:aws:s3:::b/k"), [doc(ALLOW_S3)]) == "ImplicitDeny"
    assert decide(Request("s3:GetObject", "arn:aws:s3:::B/k"), [doc(ALLOW_S3)]) == "ImplicitDeny"
    # '*' crosses '/' in resources; '?' is exactly one character.
    assert decide(Request("s3:GetObject", "arn:aws:s3:::b/x/y/z"), [doc(ALLOW_S3)]) == "Allow"
    one = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/??"}
    assert decide(Request("s3:GetObject", "arn:aws:s3:::b/ab"), [doc(one)]) == "Allow"
    assert decide(Request("s3:GetObject", "arn:aws:s3:::b/abc"), [doc(one)]) == "ImplicitDeny"


def test_explicit_deny_wins_and_not_elements():
    deny = {"Effect": "Deny", "NotAction": ["s3:GetObject"], "NotResource": "arn:aws:s3:::b/public/*"}
    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    assert decide(Request("s3:PutObject", "arn:aws:s3:::b/k"), [doc(allow_all, deny)]) == "ExplicitDeny"
    assert decide(Request("s3:GetObject", "arn:aws:s3:::b/k"), [doc(allow_all, deny)]) == "Allow"
    assert decide(Request("s3:PutObject", "arn:aws:s3:::b/public/k"), [doc(allow_all, deny)]) == "Allow"


def test_boundary_intersects_identity():
    allow_all = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    boundary = doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
    assert decide(Request("ec2:RunInstances", "*"), [allow_all], boundary=boundary) == "Allow"
    assert decide(Request("iam:CreateRole", "*"), [allow_all], boundary=boundary) == "ImplicitDeny"
    # The boundary grants nothing by itself.
    assert decide(Request("ec2:RunInstances", "*"), [], boundary=boundary) == "ImplicitDeny"


def test_resource_policy_principals():
    role = Principal("arn:aws:iam::1:role/r")
    bucket = doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/r"}, "Action": "s3:GetObject", "Resource": "*"})
    assert decide(Request("s3:GetObject", "arn:aws:s3:::b/k", principal=role), resource=[bucket]) == "Allow"
    other = Principal("arn:aws:iam::1:role/other")
    assert decide(Request("s3:GetObject", "arn:aws:s3:::b/k", principal=other), resource=[bucket]) == "ImplicitDeny"


@pytest.mark.parametrize(
    "operator,key,values,context,expected",
    [
        ("StringEquals", "k", ["a", "b"], {"k": "b"}, True),
        ("StringEquals", "k", ["a"], {}, False),  # missing key: positive operator fails
        ("StringNotEquals", "k", ["a"], {}, True),  # missing key: negated operator holds
        ("StringNotEquals", "k", ["a", "b"], {"k": "b"}, False),
        ("StringEqualsIfExists", "k", ["a"], {}, True),
        ("StringNotEqualsIfExists", "k", ["a"], {"k": "a"}, False),
        ("StringLike", "k", ["refs/tags/v*"], {"k": "refs/tags/v1.2"}, True),
        ("StringLike", "k", ["refs/tags/v*"], {"k": "refs/heads/v1"}, False),
        ("ArnLike", "k", ["arn:aws:iam::*:role/x-*"], {"k": "arn:aws:iam::1:role/x-y"}, True),
        ("ArnLike", "k", ["arn:aws:iam::*:role/x-*"], {"k": "arn:aws:iam::1:user/x-y"}, False),
        ("ArnNotEquals", "k", ["arn:aws:iam::1:role/a"], {"k": "arn:aws:iam::1:role/b"}, True),
        ("Bool", "k", ["false"], {"k": False}, True),
        ("Bool", "k", ["false"], {"k": True}, False),
        ("Bool", "k", ["false"], {}, False),  # a missing claim never satisfies Bool
        ("Null", "k", ["true"], {}, True),
        ("Null", "k", ["false"], {}, False),
        ("Null", "k", ["false"], {"k": "x"}, True),
        ("ForAnyValue:StringEquals", "k", ["c1"], {"k": ["c0", "c1"]}, True),
        ("ForAnyValue:StringEquals", "k", ["c1"], {"k": ["c0"]}, False),
        ("ForAnyValue:StringEquals", "k", ["c1"], {}, False),
        ("ForAllValues:StringEquals", "k", ["c1", "c2"], {"k": ["c1"]}, True),
        ("ForAllValues:StringEquals", "k", ["c1"], {"k": ["c1", "c3"]}, False),
        ("ForAllValues:StringEquals", "k", ["c1"], {}, True),  # vacuous truth, as AWS documents
        ("NumericLessThanEquals", "k", ["3600"], {"k": 3600}, True),
    ],
)
def test_condition_operators(operator, key, values, context, expected):
    assert condition_holds(operator, key, values, context) is expected


def test_refuses_what_it_does_not_model():
    with pytest.raises(UnsupportedPolicy):
        condition_holds("DateGreaterThan", "aws:CurrentTime", ["2020-01-01"], {"aws:CurrentTime": "x"})
    with pytest.raises(UnsupportedPolicy):
        condition_holds("StringEquals", "k", ["a"], {"k": ["a", "b"]})  # multi-valued key needs a set operator
    with pytest.raises(UnsupportedPolicy):
        decide(Request("s3:GetObject", "arn:aws:s3:::b/k"), [doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username}/*"})])
    with pytest.raises(UnsupportedPolicy):
        decide(Request("s3:GetObject", "x"), [{"Statement": []}])  # no Version: policy variables would differ
