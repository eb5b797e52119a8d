"""infra/gcp/bootstrap: who can act as which identity, and what each identity can then do.

Everything is evaluated on the values Terraform produces (`terraform test` with a mock provider, run
"defaults" of tests/bootstrap.tftest.hcl), not on HCL text:

* Federation: the provider's attribute_condition and attribute_mapping are CEL; they are evaluated with
  cel-python against CircleCI tokens (the claims CircleCI documents), and the result is matched against
  the principalSet members of every workloadIdentityUser binding. A CEL error rejects the token, as GCP does.
* Permissions: every IAM grant of the stack (project, buckets, key, service accounts) is expanded through
  ROLE_PERMISSIONS, the documented permissions of each predefined role used here (an unknown role fails the
  test: add it after reading its page), and its IAM condition is evaluated with the resource's name.

Each family of probes has mutation tests that plant the hole in a copy of the stack and must see it caught.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from functools import lru_cache

import celpy
import pytest

from conftest import mutate

STACK = "infra/gcp/bootstrap"
TFTEST = "tests/bootstrap.tftest.hcl"
FILE = STACK + "/{}"

ORG = "00000000-0000-4000-8000-000000000000"
PROJECT = "11111111-1111-4111-8111-111111111111"
ORIGIN = "github.com/acme/shipshape"
CTX = {"plan": "22222222-2222-4222-8222-222222222222", "apply": "33333333-3333-4333-8333-333333333333",
       "publish": "88888888-8888-4888-8888-888888888888", "deploy": "44444444-4444-4444-8444-444444444444"}
USER = "55555555-5555-4555-8555-555555555555"

# Documented permissions of the predefined roles this stack grants
# (https://cloud.google.com/iam/docs/roles-permissions/storage, .../cloudkms, .../iam, .../compute,
# .../monitoring, .../serviceusage, .../logging). Patterns are fnmatch globs.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    "roles/storage.objectViewer": ["storage.objects.get", "storage.objects.list", "storage.folders.get",
                                   "storage.folders.list", "storage.managedFolders.get",
                                   "storage.managedFolders.list", "resourcemanager.projects.get"],
    "roles/storage.objectCreator": ["storage.objects.create", "storage.folders.create",
                                    "storage.managedFolders.create", "storage.multipartUploads.create",
                                    "storage.multipartUploads.abort", "storage.multipartUploads.listParts"],
    "roles/storage.objectUser": ["storage.objects.create", "storage.objects.delete", "storage.objects.get",
                                 "storage.objects.list", "storage.objects.restore", "storage.objects.update",
                                 "storage.folders.*", "storage.managedFolders.create",
                                 "storage.managedFolders.delete", "storage.managedFolders.get",
                                 "storage.managedFolders.list", "storage.multipartUploads.*",
                                 "resourcemanager.projects.get"],
    "roles/cloudkms.viewer": ["cloudkms.cryptoKeys.get", "cloudkms.cryptoKeys.list",
                              "cloudkms.cryptoKeyVersions.get", "cloudkms.cryptoKeyVersions.list",
                              "cloudkms.keyRings.get", "cloudkms.keyRings.list", "cloudkms.importJobs.get",
                              "cloudkms.importJobs.list", "cloudkms.locations.*", "resourcemanager.projects.get"],
    "roles/cloudkms.publicKeyViewer": ["cloudkms.cryptoKeyVersions.viewPublicKey", "cloudkms.locations.*",
                                       "resourcemanager.projects.get"],
    "roles/cloudkms.signer": ["cloudkms.cryptoKeyVersions.useToSign", "cloudkms.locations.*",
                              "resourcemanager.projects.get"],
    "roles/iam.workloadIdentityUser": ["iam.serviceAccounts.get", "iam.serviceAccounts.getAccessToken",
                                       "iam.serviceAccounts.getOpenIdToken", "iam.serviceAccounts.list"],
    "roles/iam.serviceAccountUser": ["iam.serviceAccounts.actAs", "iam.serviceAccounts.get",
                                     "iam.serviceAccounts.list", "resourcemanager.projects.get",
                                     "resourcemanager.projects.list"],
    # Compute roles hold no IAM, storage or KMS permission; instanceAdmin.v1 can set IAM on instances
    # (compute.instances.setIamPolicy), which reaches the instances, not any identity (README).
    "roles/compute.viewer": ["compute.*.get", "compute.*.list", "compute.*.aggregatedList",
                             "compute.*.getGuestAttributes", "resourcemanager.projects.get"],
    "roles/compute.instanceAdmin.v1": ["compute.instances.*", "compute.disks.*", "compute.images.get",
                                       "compute.images.useReadOnly", "compute.*.get", "compute.*.list",
                                       "compute.subnetworks.use", "compute.subnetworks.useExternalIp",
                                       "compute.addresses.use", "compute.networks.use",
                                       "compute.projects.get", "resourcemanager.projects.get"],
    "roles/compute.networkAdmin": ["compute.networks.*", "compute.subnetworks.*", "compute.routes.*",
                                   "compute.addresses.*", "compute.globalAddresses.*", "compute.*.get",
                                   "compute.*.list", "resourcemanager.projects.get"],
    "roles/compute.securityAdmin": ["compute.firewalls.*", "compute.securityPolicies.*",
                                    "compute.sslCertificates.*", "compute.*.get", "compute.*.list",
                                    "resourcemanager.projects.get"],
    "roles/monitoring.viewer": ["monitoring.*.get", "monitoring.*.list", "resourcemanager.projects.get"],
    "roles/monitoring.alertPolicyEditor": ["monitoring.alertPolicies.*", "resourcemanager.projects.get"],
    "roles/monitoring.uptimeCheckConfigEditor": ["monitoring.uptimeCheckConfigs.*",
                                                 "resourcemanager.projects.get"],
    "roles/monitoring.metricWriter": ["monitoring.timeSeries.create", "monitoring.metricDescriptors.create",
                                      "monitoring.metricDescriptors.get", "monitoring.metricDescriptors.list",
                                      "monitoring.monitoredResourceDescriptors.*"],
    "roles/logging.logWriter": ["logging.logEntries.create", "logging.logEntries.route"],
    "roles/serviceusage.serviceUsageViewer": ["serviceusage.services.get", "serviceusage.services.list",
                                              "serviceusage.quotas.get", "resourcemanager.projects.get"],
    "roles/serviceusage.serviceUsageAdmin": ["serviceusage.services.*", "serviceusage.quotas.get",
                                             "serviceusage.operations.*", "resourcemanager.projects.get"],
}

# Permissions that would let an identity raise its own (or anyone's) permissions, read another identity's
# token, or rewrite the federation: none of the four identities may hold any of them, anywhere.
ESCALATION = [
    "resourcemanager.projects.setIamPolicy", "iam.serviceAccounts.setIamPolicy",
    "iam.serviceAccountKeys.create", "iam.serviceAccounts.signBlob", "iam.serviceAccounts.signJwt",
    "iam.serviceAccounts.implicitDelegation", "iam.roles.create", "iam.roles.update",
    "iam.workloadIdentityPools.update", "iam.workloadIdentityPoolProviders.update",
    "iam.workloadIdentityPoolProviders.create", "storage.buckets.setIamPolicy", "storage.buckets.update",
    "storage.buckets.delete", "cloudkms.cryptoKeys.setIamPolicy", "cloudkms.cryptoKeyVersions.destroy",
    "cloudkms.cryptoKeyVersions.create", "resourcemanager.projects.updateAuditConfig",
]

_CEL = celpy.Environment()


@lru_cache(maxsize=None)
def _program(expression: str):
    return _CEL.program(_CEL.compile(expression))


def cel(expression: str, **activation) -> object:
    """Evaluate like GCP: an evaluation error is a rejection (returns None). Results as Python values."""
    try:
        value = _program(expression).evaluate({k: celpy.json_to_cel(v) for k, v in activation.items()})
    except celpy.CELEvalError:
        return None
    if isinstance(value, celpy.celtypes.BoolType):
        return bool(value)
    if isinstance(value, celpy.celtypes.StringType):
        return str(value)
    return value


def token(ref: str = "refs/heads/main", contexts=("plan",), project: str = PROJECT, origin: str = ORIGIN,
          ssh_rerun: bool | None = False, drop: tuple[str, ...] = ()) -> dict:
    """The claims of a CircleCI $CIRCLE_OIDC_TOKEN (https://circleci.com/docs/openid-connect-tokens/)."""
    claims = {
        "iss": f"https://oidc.circleci.com/org/{ORG}",
        "aud": ORG,
        "sub": f"org/{ORG}/project/{project}/user/{USER}",
        "oidc.circleci.com/project-id": project,
        "oidc.circleci.com/vcs-origin": origin,
        "oidc.circleci.com/vcs-ref": ref,
        "oidc.circleci.com/context-ids": [CTX[c] if c in CTX else c for c in contexts],
        "oidc.circleci.com/ssh-rerun": ssh_rerun,
    }
    for key in drop:
        claims.pop(key)
    return claims


@dataclass
class Grant:
    scope: tuple  # ("project",) | ("bucket", name) | ("key",) | ("sa", who)
    role: str
    member: str
    condition: str | None = None


@dataclass
class Model:
    """The stack's applied values, reduced to what the probes need."""

    members: dict[str, str] = field(default_factory=dict)  # who -> "serviceAccount:..."
    buckets: dict[str, str] = field(default_factory=dict)  # state|releases -> bucket name
    provider: dict = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    pool_prefix: str = ""

    @property
    def who_by_member(self) -> dict[str, str]:
        return {m: w for w, m in self.members.items()}

    # ---- federation ---------------------------------------------------------------------------
    def impersonable(self, claims: dict) -> set[str]:
        """The identities a job holding this token can act as."""
        if claims.get("aud") not in self.provider["oidc"][0]["allowed_audiences"]:
            return set()
        if claims.get("iss") != self.provider["oidc"][0]["issuer_uri"]:
            return set()
        if cel(self.provider["attribute_condition"], assertion=claims) is not True:
            return set()
        attributes = {}
        for key, expression in self.provider["attribute_mapping"].items():
            value = cel(expression, assertion=claims)
            if value is None:
                return set()  # a failing mapping rejects the token
            attributes[key] = str(value)
        # https://cloud.google.com/iam/docs/principal-identifiers: the pool, an attribute value, a subject.
        principals = {f"{self.pool_prefix}/{k}/{v}" for k, v in attributes.items() if k.startswith("attribute.")}
        principals.add(f"{self.pool_prefix}/*")
        if "google.subject" in attributes:
            principals.add(self.pool_prefix.replace("principalSet://", "principal://", 1)
                           + f"/subject/{attributes['google.subject']}")
        got = set()
        for g in self.grants:
            if g.member in principals:
                if g.scope[0] == "sa" and g.role == "roles/iam.workloadIdentityUser":
                    got.add(g.scope[1])
                else:
                    got.add(f"pool:{g.role}")  # the pool itself holds a role: a direct grant to tokens
        return got

    # ---- permissions --------------------------------------------------------------------------
    def can(self, who: str, permission: str, resource: tuple) -> bool:
        """resource: ("project",) | ("bucket", b) | ("object", b, name) | ("key",) | ("sa", target)."""
        member = self.members[who]
        name, covering = self._resource(resource)
        for g in self.grants:
            if g.member != member or g.scope not in covering:
                continue
            patterns = ROLE_PERMISSIONS.get(g.role)
            assert patterns is not None, f"role {g.role} is not in ROLE_PERMISSIONS: add its documented permissions"
            if not any(fnmatch.fnmatchcase(permission, p) for p in patterns):
                continue
            if g.condition is None or cel(g.condition, resource={"name": name}) is True:
                return True
        return False

    def _resource(self, resource: tuple) -> tuple[str, list[tuple]]:
        kind = resource[0]
        if kind == "object":
            bucket = self.buckets[resource[1]]
            return f"projects/_/buckets/{bucket}/objects/{resource[2]}", [("project",), ("bucket", bucket)]
        if kind == "bucket":
            bucket = self.buckets[resource[1]]
            return f"projects/_/buckets/{bucket}", [("project",), ("bucket", bucket)]
        if kind == "key":
            return "key", [("project",), ("key",)]
        if kind == "sa":
            return f"sa/{resource[1]}", [("project",), ("sa", resource[1])]
        return "project", [("project",)]

    def permissions_of(self, who: str) -> set[tuple[str, str]]:
        """(scope, pattern) of every permission pattern granted to `who`, conditions ignored."""
        return {(str(g.scope), p) for g in self.grants if g.member == self.members[who]
                for p in ROLE_PERMISSIONS.get(g.role, [f"UNKNOWN ROLE {g.role}"])}


def load_model(state: dict) -> Model:
    resources = {r["address"]: r["values"] for r in state["root_module"]["resources"]}
    m = Model()
    for addr, v in resources.items():
        if addr.startswith("google_service_account.ci["):
            m.members[addr.split('"')[1]] = v["member"]
        elif addr == "google_service_account.vm":
            m.members["vm"] = v["member"]
    sa_by_name = {v["name"]: (addr.split('"')[1] if "[" in addr else "vm")
                  for addr, v in resources.items() if addr.startswith("google_service_account.")
                  and not addr.startswith("google_service_account_iam")}
    m.buckets = {"state": resources["google_storage_bucket.state"]["name"],
                 "releases": resources["google_storage_bucket.releases"]["name"]}
    m.provider = resources["google_iam_workload_identity_pool_provider.circleci"]
    number = resources["data.google_project.this"]["number"]
    pool = resources["google_iam_workload_identity_pool.circleci"]["workload_identity_pool_id"]
    m.pool_prefix = f"principalSet://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}"

    def condition(v):
        c = v.get("condition") or []
        return c[0]["expression"] if c else None

    for addr, v in resources.items():
        rtype = addr.split(".")[0]
        if rtype == "google_project_iam_member":
            m.grants.append(Grant(("project",), v["role"], v["member"], condition(v)))
        elif rtype == "google_storage_bucket_iam_member":
            m.grants.append(Grant(("bucket", v["bucket"]), v["role"], v["member"], condition(v)))
        elif rtype == "google_kms_crypto_key_iam_member":
            m.grants.append(Grant(("key",), v["role"], v["member"], condition(v)))
        elif rtype == "google_service_account_iam_member":
            m.grants.append(Grant(("sa", sa_by_name[v["service_account_id"]]), v["role"], v["member"], condition(v)))
        elif rtype in ("google_project_iam_binding", "google_project_iam_policy", "google_storage_bucket_iam_binding",
                       "google_storage_bucket_iam_policy", "google_service_account_iam_binding",
                       "google_service_account_iam_policy", "google_kms_crypto_key_iam_binding",
                       "google_kms_crypto_key_iam_policy", "google_service_account_key"):
            raise AssertionError(f"{addr}: the probes model *_iam_member grants only; {rtype} is not allowed here")
    return m


def run_stack(terraform, root=None) -> Model:
    from conftest import REPO_ROOT
    result = terraform.test((root or REPO_ROOT) / STACK, filter=TFTEST)
    assert result.ok, f"terraform test failed: {result.failures}\n" + "\n".join(result.diagnostics) + result.log
    (state,) = [s for (_, run), s in result.states.items() if run == "defaults"]
    return load_model(state)


@pytest.fixture(scope="module")
def model(terraform) -> Model:
    return run_stack(terraform)


# ------------------------------------------------------------------------------------------------
# Federation: which CircleCI job may act as which identity
# ------------------------------------------------------------------------------------------------

FEDERATION_CASES = {
    "plan job on a feature branch": (token("refs/heads/feature/x", ("plan",)), {"plan"}),
    "plan job on main": (token("refs/heads/main", ("plan",)), {"plan"}),
    "apply job on main (plan + apply contexts)": (token("refs/heads/main", ("plan", "apply")), {"plan", "apply"}),
    "apply context on a feature branch": (token("refs/heads/feature/x", ("plan", "apply")), {"plan"}),
    "apply context alone, feature branch": (token("refs/heads/feature/x", ("apply",)), set()),
    "branch named like main's ref": (token("refs/heads/x/refs/heads/main", ("apply", "publish", "deploy")), set()),
    "release tag: publish and deploy, never apply": (token("refs/tags/v1.0.0", ("apply", "publish", "deploy")), {"publish", "deploy"}),
    "tag that is not a release": (token("refs/tags/nightly", ("publish", "deploy")), set()),
    "branch named like a release tag": (token("refs/heads/refs/tags/v1", ("publish", "deploy")), set()),
    "deploy job on main": (token("refs/heads/main", ("deploy",)), {"deploy"}),
    "publish job on main": (token("refs/heads/main", ("publish",)), {"publish"}),
    "deploy context on a feature branch": (token("refs/heads/feature/x", ("deploy",)), set()),
    "publish context on a feature branch": (token("refs/heads/feature/x", ("publish",)), set()),
    "job in another context on main": (token("refs/heads/main", ("66666666-6666-4666-8666-666666666666",)), set()),
    "SSH rerun of the apply job": (token("refs/heads/main", ("plan", "apply"), ssh_rerun=True), set()),
    "SSH rerun of a plan job": (token("refs/heads/feature/x", ("plan",), ssh_rerun=True), set()),
    "token without the ssh-rerun claim": (token(contexts=("plan", "apply"), drop=("oidc.circleci.com/ssh-rerun",)), set()),
    "token without a vcs-ref (custom webhook)": (token(contexts=("plan", "apply"), drop=("oidc.circleci.com/vcs-ref",)), {"plan"}),
    "another CircleCI project": (token(contexts=("plan", "apply", "publish", "deploy"), project="77777777-7777-4777-8777-777777777777"), set()),
    "a fork (another repository)": (token(contexts=("plan", "apply", "publish", "deploy"), origin="github.com/mallory/shipshape"), set()),
}


@pytest.mark.parametrize("case", sorted(FEDERATION_CASES))
def test_federation(model, case):
    claims, want = FEDERATION_CASES[case]
    assert model.impersonable(claims) == want


def test_wrong_audience_or_issuer_is_rejected(model):
    assert model.impersonable(dict(token(contexts=("plan",)), aud="another-org")) == set()
    assert model.impersonable(dict(token(contexts=("plan",)), iss="https://oidc.circleci.com/org/other")) == set()


def test_the_pool_itself_holds_no_role(model):
    """Only service-account impersonation is granted to pool principals, never a role on a resource."""
    pool_grants = [g for g in model.grants if g.member.startswith(("principalSet://", "principal://"))]
    assert pool_grants and all(g.scope[0] == "sa" and g.role == "roles/iam.workloadIdentityUser" for g in pool_grants)


def test_subject_fits_google_limit():
    # google.subject must be at most 127 bytes; the mapping uses $CIRCLE_OIDC_TOKEN's sub.
    assert len(token()["sub"].encode()) <= 127


# ------------------------------------------------------------------------------------------------
# Permissions: what each identity can do once it is that identity
# ------------------------------------------------------------------------------------------------

STATE, LOCK, BOOT_STATE = "gcp/vm/default.tfstate", "gcp/vm/default.tflock", "gcp/bootstrap/default.tfstate"
# The release layout of docs/vm.md under the default prefix "shipshape/".
RELEASE = "shipshape/releases/0123456789ab/shipshape-linux-x86_64"
SIG, POINTER, PREVIOUS = RELEASE + ".sig", "shipshape/current.json", "shipshape/previous.json"

PERMISSION_CASES = [
    # (who, permission, resource, allowed)
    ("plan", "storage.objects.get", ("object", "state", STATE), True),
    ("plan", "storage.objects.list", ("bucket", "state"), True),
    ("plan", "storage.objects.create", ("object", "state", LOCK), True),
    ("plan", "storage.objects.delete", ("object", "state", LOCK), True),
    ("plan", "storage.objects.create", ("object", "state", STATE), True),   # only a new, empty state:
    ("plan", "storage.objects.delete", ("object", "state", STATE), False),  # replacing needs delete too
    ("plan", "storage.objects.create", ("object", "state", "gcp/bootstrap/default.tflock"), False),
    ("plan", "storage.objects.get", ("object", "releases", POINTER), False),
    ("plan", "cloudkms.cryptoKeyVersions.viewPublicKey", ("key",), True),
    ("plan", "cloudkms.cryptoKeyVersions.useToSign", ("key",), False),
    ("plan", "compute.firewalls.create", ("project",), False),
    ("apply", "storage.objects.create", ("object", "state", STATE), True),
    ("apply", "storage.objects.delete", ("object", "state", STATE), True),
    ("apply", "storage.objects.create", ("object", "state", BOOT_STATE), False),
    ("apply", "storage.objects.delete", ("object", "state", BOOT_STATE), False),
    ("apply", "storage.objects.create", ("object", "releases", POINTER), False),
    ("apply", "storage.objects.create", ("object", "releases", RELEASE), False),
    ("apply", "cloudkms.cryptoKeyVersions.useToSign", ("key",), False),
    ("apply", "compute.firewalls.create", ("project",), True),
    ("apply", "compute.instances.create", ("project",), True),
    ("apply", "iam.serviceAccounts.actAs", ("sa", "vm"), True),
    ("apply", "iam.serviceAccounts.actAs", ("sa", "deploy"), False),
    ("apply", "iam.serviceAccounts.actAs", ("sa", "plan"), False),
    ("apply", "iam.serviceAccounts.getAccessToken", ("sa", "deploy"), False),
    # publish: the signer creates releases once (binary, checksum, signature) and never the pointer.
    ("publish", "storage.objects.create", ("object", "releases", RELEASE), True),
    ("publish", "storage.objects.get", ("object", "releases", RELEASE), True),      # a re-run compares
    ("publish", "storage.objects.delete", ("object", "releases", RELEASE), False),  # releases are write-once
    ("publish", "storage.objects.update", ("object", "releases", RELEASE), False),
    ("publish", "storage.objects.create", ("object", "releases", SIG), True),
    ("publish", "storage.objects.delete", ("object", "releases", SIG), False),     # a signature is never replaced
    ("publish", "storage.objects.create", ("object", "releases", POINTER), False),
    ("publish", "storage.objects.create", ("object", "releases", PREVIOUS), False),
    ("publish", "storage.objects.get", ("object", "releases", POINTER), False),
    ("publish", "storage.objects.get", ("object", "state", STATE), False),
    ("publish", "cloudkms.cryptoKeyVersions.useToSign", ("key",), True),
    ("publish", "compute.instances.create", ("project",), False),
    # deploy: the pointer mover reads and verifies releases, never writes or signs one.
    ("deploy", "storage.objects.create", ("object", "releases", RELEASE), False),
    ("deploy", "storage.objects.get", ("object", "releases", RELEASE), True),
    ("deploy", "storage.objects.delete", ("object", "releases", RELEASE), False),
    ("deploy", "storage.objects.create", ("object", "releases", SIG), False),
    ("deploy", "storage.objects.delete", ("object", "releases", SIG), False),
    ("deploy", "storage.objects.create", ("object", "releases", POINTER), True),
    ("deploy", "storage.objects.delete", ("object", "releases", POINTER), True),   # overwrite the pointer
    ("deploy", "storage.objects.delete", ("object", "releases", PREVIOUS), True),
    ("deploy", "storage.objects.create", ("object", "releases", "shipshape/current.json.bak"), False),
    ("deploy", "storage.objects.create", ("object", "releases", "shipshape/releases-x/y"), False),
    ("deploy", "storage.objects.create", ("object", "releases", "other/releases/v/x"), False),
    ("deploy", "storage.objects.delete", ("object", "releases", "shipshape/releases/v/x.sig.bin"), False),
    ("deploy", "storage.objects.get", ("object", "state", STATE), True),
    ("deploy", "storage.objects.create", ("object", "state", STATE), False),
    ("deploy", "storage.objects.create", ("object", "state", LOCK), False),
    ("deploy", "cloudkms.cryptoKeyVersions.useToSign", ("key",), False),
    ("deploy", "cloudkms.cryptoKeyVersions.viewPublicKey", ("key",), True),       # verifies before pointing
    ("deploy", "compute.instances.create", ("project",), False),
    ("vm", "storage.objects.get", ("object", "releases", RELEASE), True),
    ("vm", "storage.objects.get", ("object", "releases", POINTER), True),
    ("vm", "storage.objects.get", ("object", "releases", PREVIOUS), False),
    ("vm", "storage.objects.get", ("object", "releases", "shipshape/notes.txt"), False),
    ("vm", "storage.objects.list", ("bucket", "releases"), False),
    ("vm", "storage.objects.create", ("object", "releases", POINTER), False),
    ("vm", "storage.objects.get", ("object", "state", STATE), False),
    ("vm", "cloudkms.cryptoKeyVersions.useToSign", ("key",), False),
    ("vm", "logging.logEntries.create", ("project",), True),
    ("vm", "monitoring.timeSeries.create", ("project",), True),
]


@pytest.mark.parametrize("who,permission,resource,allowed", PERMISSION_CASES,
                         ids=[f"{w}-{'can' if a else 'cannot'}-{p}-{'/'.join(r)}" for w, p, r, a in PERMISSION_CASES])
def test_permission(model, who, permission, resource, allowed):
    assert model.can(who, permission, resource) is allowed


@pytest.mark.parametrize("who", ["plan", "apply", "publish", "deploy", "vm"])
def test_no_identity_can_escalate(model, who):
    held = [(scope, p) for scope, p in model.permissions_of(who)
            for perm in ESCALATION if fnmatch.fnmatchcase(perm, p)]
    assert held == [], f"{who} holds escalation permissions {held}"
    # actAs/getAccessToken only where the tables above allow it.
    for target in ("plan", "apply", "publish", "deploy"):
        assert not model.can(who, "iam.serviceAccounts.actAs", ("sa", target))
        assert not model.can(who, "iam.serviceAccounts.getAccessToken", ("sa", target))


def test_every_grant_uses_a_known_role(model):
    unknown = sorted({g.role for g in model.grants} - set(ROLE_PERMISSIONS))
    assert unknown == []


# ------------------------------------------------------------------------------------------------
# Mutations: each probe family must catch a planted hole
# ------------------------------------------------------------------------------------------------

MUTATIONS = {
    "ssh reruns allowed": (
        {FILE.format("wif.tf"): [('    "assertion[\'oidc.circleci.com/ssh-rerun\'] == false",\n', "")]},
        lambda m: m.impersonable(token(contexts=("plan", "apply"), ssh_rerun=True)) == {"plan", "apply"}),
    "apply without the branch check": (
        {FILE.format("wif.tf"): [('"(${local.on_deploy_branch} && ${local.in_context.apply})', '"(${local.in_context.apply})')]},
        lambda m: "apply" in m.impersonable(token("refs/heads/feature/x", ("apply",)))),
    "apply bound to the plan gate": (
        {FILE.format("iam.tf"): [('"${local.pool_principal_prefix}/attribute.ci_${each.key}/allowed"',
                                  '"${local.pool_principal_prefix}/attribute.ci_plan/allowed"')]},
        lambda m: "apply" in m.impersonable(token("refs/heads/feature/x", ("plan",)))),
    "any project of the organization": (
        {FILE.format("wif.tf"): [("    \"assertion['oidc.circleci.com/project-id'] == '${var.circleci_project_id}'\",\n", "")]},
        lambda m: m.impersonable(token(project="77777777-7777-4777-8777-777777777777")) == {"plan"}),
    "plan may delete state": (
        {FILE.format("iam.tf"): [("expression = \"(${local.stack_objects}) && resource.name.endsWith('.tflock')\"",
                                  "expression = local.stack_objects")]},
        lambda m: m.can("plan", "storage.objects.delete", ("object", "state", STATE))),
    "releases not write-once": (
        {FILE.format("iam.tf"): [('bucket = "releases", who = "publish", role = "roles/storage.objectCreator"',
                                  'bucket = "releases", who = "publish", role = "roles/storage.objectUser"')]},
        lambda m: m.can("publish", "storage.objects.delete", ("object", "releases", RELEASE))),
    "deploy signs (one identity signs and points)": (
        {FILE.format("iam.tf"): [('    deploy  = ["roles/cloudkms.viewer", "roles/cloudkms.publicKeyViewer"]',
                                  '    deploy  = ["roles/cloudkms.viewer", "roles/cloudkms.publicKeyViewer", "roles/cloudkms.signer"]')]},
        lambda m: m.can("deploy", "cloudkms.cryptoKeyVersions.useToSign", ("key",))),
    "publish on any tag": (
        {FILE.format("wif.tf"): [("startsWith('refs/tags/${var.release_tag_prefix}')", "startsWith('refs/tags/')")]},
        lambda m: "publish" in m.impersonable(token("refs/tags/nightly", ("publish",)))),
    "vm reads the whole release bucket": (
        {FILE.format("iam.tf"): [('title      = "releases-and-pointer"\n        expression = "',
                                  'title      = "releases-and-pointer"\n        expression = "true || ')]},
        lambda m: m.can("vm", "storage.objects.list", ("bucket", "releases"))),
    "apply may use every service account": (
        {FILE.format("iam.tf"): [('      "roles/compute.instanceAdmin.v1",\n', '      "roles/compute.instanceAdmin.v1",\n      "roles/iam.serviceAccountUser",\n')]},
        lambda m: m.can("apply", "iam.serviceAccounts.actAs", ("sa", "deploy"))),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_caught(terraform, tmp_path, name):
    edits, hole_open = MUTATIONS[name]
    mutated = run_stack(terraform, mutate(tmp_path, edits))
    assert hole_open(mutated), f"mutation {name!r} did not open the hole it claims to (the probe would be void)"
    # ...and the probes of this file see it: at least one federation/permission expectation now fails.
    failures = [c for c, (claims, want) in FEDERATION_CASES.items() if mutated.impersonable(claims) != want]
    failures += [(w, p, r) for w, p, r, a in PERMISSION_CASES if mutated.can(w, p, r) is not a]
    failures += [w for w in ("plan", "apply", "publish", "deploy", "vm")
                 for t in ("plan", "apply", "publish", "deploy")
                 if mutated.can(w, "iam.serviceAccounts.actAs", ("sa", t))]
    assert failures, f"mutation {name!r} was not caught by any probe"
