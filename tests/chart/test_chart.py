"""Assertions on the rendered chart that matter in production, over every value set in
tests/chart/values/, plus proof that bad values are refused (tests/chart/values/bad/)."""

from __future__ import annotations

import copy
import json
import re
import shutil
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

import chartlib

SETS = chartlib.value_sets()
BAD_SETS = chartlib.bad_value_sets()
POD_KINDS = {"Deployment", "Job", "Pod"}


@lru_cache(maxsize=None)
def rendered(name: str) -> tuple[tuple[str, dict], ...]:
    return tuple(chartlib.documents(chartlib.render(SETS[name])))


def objs(name: str, kind: str | None = None) -> list[dict]:
    return [copy.deepcopy(o) for _, o in rendered(name) if kind is None or o["kind"] == kind]


def one(name: str, kind: str) -> dict:
    found = objs(name, kind)
    assert len(found) == 1, f"{name}: expected one {kind}, got {len(found)}"
    return found[0]


def merged_values(name: str) -> dict:
    """Chart defaults overlaid with the value set (maps merge, like Helm's coalescing)."""

    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        return out

    return merge(yaml.safe_load((chartlib.CHART / "values.yaml").read_text()), chartlib.load_values(SETS[name]))


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict) -> dict:
    return obj["metadata"]["labels"] if obj["kind"] == "Pod" else obj["spec"]["template"]["metadata"]["labels"]


def test_value_sets_cover_the_issue():
    # The value sets the issue names, plus the EKS output and ingress-nginx.
    assert {"defaults", "sqlite", "ingress-tls", "hpa-off", "existing-secret", "netpol-off", "eks", "conventions"} <= set(SETS)


@pytest.mark.parametrize("name", SETS)
def test_lint_strict(name):
    assert chartlib.lint(SETS[name]) == []


@pytest.mark.parametrize("name", SETS)
def test_every_object_is_namespaced_and_labelled(name):
    for o in objs(name):
        assert o["metadata"]["namespace"] == chartlib.NAMESPACE, o["kind"]
        labels = o["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == chartlib.RELEASE
        assert labels["app.kubernetes.io/name"] == "shipshape"


@pytest.mark.parametrize("name", SETS)
def test_probes_on_healthz_and_readyz(name):
    c = pod_spec(one(name, "Deployment"))["containers"][0]
    port = c["ports"][0]
    assert port == {"name": "http", "containerPort": 8000, "protocol": "TCP"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Liveness must not kill a pod that only lost its database: that is readiness's job.
    assert c["livenessProbe"]["httpGet"]["path"] != "/readyz"


@pytest.mark.parametrize("name", SETS)
def test_restricted_pod_security(name):
    for o in objs(name):
        if o["kind"] not in POD_KINDS:
            continue
        spec = pod_spec(o)
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 65532, o["kind"]
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key)
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc.get("runAsNonRoot") is True, (o["kind"], c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (o["kind"], c["name"])
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            assert not sc.get("privileged")
            # A read-only root needs a writable /tmp.
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


@pytest.mark.parametrize("name", SETS)
def test_images_pinned_never_latest(name):
    values = merged_values(name)
    for o in objs(name):
        if o["kind"] not in POD_KINDS:
            continue
        for c in pod_spec(o)["containers"] + pod_spec(o).get("initContainers", []):
            image = c["image"]
            if c["name"] not in ("shipshape", "migrate", "smoke"):
                assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
                continue
            repo, _, tag = image.split("@")[0].rpartition(":")
            assert repo == values["image"]["repository"]
            assert tag and tag.lower() != "latest", image
            assert tag == (values["image"]["tag"] or yaml.safe_load((chartlib.CHART / "Chart.yaml").read_text())["appVersion"])


def test_image_digest_is_used_when_given():
    digest = "sha256:" + "ab" * 32
    docs = chartlib.documents(chartlib.render({"image": {"digest": digest}}))
    images = {c["image"] for _, o in docs if o["kind"] in POD_KINDS
              for c in pod_spec(o)["containers"] + pod_spec(o).get("initContainers", []) if c["name"] != "grant"}
    assert images == {f"shipshape:0.1.0@{digest}"}


@pytest.mark.parametrize("name", SETS)
def test_resources_requests_and_limits(name):
    for o in objs(name):
        if o["kind"] not in POD_KINDS:
            continue
        for c in pod_spec(o)["containers"]:
            r = c["resources"]
            for part in ("requests", "limits"):
                assert r[part].get("cpu") and r[part].get("memory"), (o["kind"], part)


@pytest.mark.parametrize("name", SETS)
def test_graceful_shutdown_budget(name):
    values = merged_values(name)
    spec = pod_spec(one(name, "Deployment"))
    c = spec["containers"][0]
    # The native sleep action: the distroless image has no shell for `exec: sleep`.
    assert set(c["lifecycle"]["preStop"]) == {"sleep"}
    pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause >= 5, "too short for endpoint and ALB target removal to propagate"
    cm = one(name, "ConfigMap")["data"]
    service_grace = int(cm["SHUTDOWN_DRAIN_SECS"]) + int(cm["SHUTDOWN_GRACE_SECS"])
    assert int(cm["SHUTDOWN_GRACE_SECS"]) == values["config"]["shutdownGraceSecs"]
    assert spec["terminationGracePeriodSeconds"] > pause + service_grace


@pytest.mark.parametrize("name", SETS)
def test_rollout_strategy(name):
    d = one(name, "Deployment")
    if merged_values(name)["database"]["mode"] == "sqlite":
        assert d["spec"]["strategy"] == {"type": "Recreate"}
        assert d["spec"]["replicas"] == 1
    else:
        assert d["spec"]["strategy"]["type"] == "RollingUpdate"
        assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("name", SETS)
def test_selectors_match_pod_labels(name):
    d = one(name, "Deployment")
    labels = pod_labels(d)
    sel = d["spec"]["selector"]["matchLabels"]
    assert sel.items() <= labels.items()
    svc = one(name, "Service")
    assert svc["spec"]["selector"] == sel
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    for pdb in objs(name, "PodDisruptionBudget"):
        assert pdb["spec"]["selector"]["matchLabels"] == sel
    for t in pod_spec(d).get("topologySpreadConstraints", []):
        assert t["labelSelector"]["matchLabels"] == sel
    # Hook and test pods must not be picked up by the Service (or counted by the PDB).
    for o in objs(name):
        if o["kind"] in ("Job", "Pod"):
            assert not sel.items() <= pod_labels(o).items(), o["kind"]


@pytest.mark.parametrize("name", SETS)
def test_pdb_present_when_more_than_one_pod(name):
    values = merged_values(name)
    pdbs = objs(name, "PodDisruptionBudget")
    if values["autoscaling"]["enabled"] or values["replicaCount"] > 1:
        assert len(pdbs) == 1 and pdbs[0]["spec"]["maxUnavailable"] == 1
    else:
        assert pdbs == []


@pytest.mark.parametrize("name", SETS)
def test_hpa_targets_the_deployment(name):
    values = merged_values(name)
    hpas = objs(name, "HorizontalPodAutoscaler")
    d = one(name, "Deployment")
    if not values["autoscaling"]["enabled"]:
        assert hpas == []
        assert d["spec"]["replicas"] == values["replicaCount"]
        return
    (hpa,) = hpas
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": d["metadata"]["name"]}
    # The HPA owns the replica count; a fixed one would fight it at every upgrade.
    assert "replicas" not in d["spec"]
    names = {m["resource"]["name"] for m in hpa["spec"]["metrics"]}
    assert names == {"cpu", "memory"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["minReplicas"] >= 2, "one pod cannot be rolled or drained without an outage"


@pytest.mark.parametrize("name", SETS)
def test_topology_spread_over_zones(name):
    spec = pod_spec(one(name, "Deployment"))
    if merged_values(name)["database"]["mode"] == "sqlite":
        return
    keys = {t["topologyKey"] for t in spec["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


@pytest.mark.parametrize("name", SETS)
def test_database_wiring(name):
    values = merged_values(name)
    d = one(name, "Deployment")
    c = pod_spec(d)["containers"][0]
    cm = one(name, "ConfigMap")
    assert c["envFrom"] == [{"configMapRef": {"name": cm["metadata"]["name"]}}] + values["extraEnvFrom"]
    env = {e["name"]: e for e in c.get("env", [])}
    jobs = objs(name, "Job")
    secrets = objs(name, "Secret")
    if values["database"]["mode"] == "sqlite":
        assert cm["data"]["DATABASE_URL"] == "sqlite:///data/shipshape.db"
        assert cm["data"]["MIGRATE_ON_START"] == "true"
        assert "DATABASE_URL" not in env and jobs == [] and secrets == []
        (pvc,) = objs(name, "PersistentVolumeClaim")
        vols = {v["name"]: v for v in pod_spec(d)["volumes"]}
        assert vols["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
        return
    assert objs(name, "PersistentVolumeClaim") == []
    assert "DATABASE_URL" not in cm["data"], "a URL with a password must not sit in a ConfigMap"
    # The URL is a file from a Secret volume (updated in place on rotation), never an env value.
    assert "DATABASE_URL" not in env and not any("secretKeyRef" in e.get("valueFrom", {}) for e in env.values())
    key = values["database"]["existingSecretKey"] if values["database"]["existingSecret"] else "DATABASE_URL"
    assert env["DATABASE_URL_FILE"]["value"] == f"/etc/shipshape/db/{key}"
    vols = {v["name"]: v for v in pod_spec(d)["volumes"]}
    mount = {m["mountPath"]: m for m in c["volumeMounts"]}["/etc/shipshape/db"]
    assert mount.get("readOnly") is True and "subPath" not in mount, "a subPath mount is never updated"
    secret_vol = vols[mount["name"]]["secret"]
    assert cm["data"]["MIGRATE_ON_START"] == "false"
    (job,) = jobs
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    jspec = pod_spec(job)
    steps = jspec.get("initContainers", []) + jspec["containers"]
    (mig,) = [x for x in steps if x["name"] == "migrate"]
    assert mig["args"] == ["migrate"]
    assert {e["name"]: e for e in mig["env"]}["DATABASE_URL_FILE"]["value"] == f"/etc/shipshape/db/{key}"
    job_secret = {v["name"]: v for v in jspec["volumes"]}["db-url"]["secret"]["secretName"]
    assert job_secret == (values["database"]["migrations"]["existingSecret"] or secret_vol["secretName"])
    grant = values["database"]["migrations"]["grantTo"]
    if grant:
        # Migrate first, then the grants, as the migrations' login (the tables' owner).
        assert [x["name"] for x in jspec["initContainers"]] == ["migrate"]
        (g,) = jspec["containers"]
        assert g["name"] == "grant" and {e["name"]: e for e in g["env"]}["GRANT_TO"]["value"] == grant
        script = g["command"][-1]
        assert "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE public._sqlx_migrations" in script
    else:
        assert [x["name"] for x in jspec["containers"]] == ["migrate"] and "initContainers" not in jspec
    if values["database"]["existingSecret"]:
        assert secret_vol["secretName"] == values["database"]["existingSecret"]
        assert secrets == []
    else:
        (secret,) = secrets
        assert secret_vol["secretName"] == secret["metadata"]["name"]
        # The Secret must exist before the migrate hook Job runs on the first install.
        ann = secret["metadata"]["annotations"]
        assert "pre-install" in ann["helm.sh/hook"]
        assert int(ann["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
        assert secret["stringData"]["DATABASE_URL"] == values["database"]["url"]
    ca = values["database"]["caBundle"]["configMapName"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    if ca:
        assert "/etc/shipshape/db-ca" in mounts
        vols = {v["name"]: v for v in pod_spec(d)["volumes"]}
        assert vols[mounts["/etc/shipshape/db-ca"]["name"]]["configMap"]["name"] == ca
    else:
        assert "/etc/shipshape/db-ca" not in mounts


def test_defaults_hold_no_password():
    text = (chartlib.CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    assert values["database"]["url"] == ""
    assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), "a URL with credentials in the default values"
    assert objs("defaults", "Secret") == []


@pytest.mark.parametrize("name", [n for n in SETS if merged_values(n)["ingress"]["enabled"]])
def test_ingress(name):
    values = merged_values(name)["ingress"]
    ing = one(name, "Ingress")
    svc = one(name, "Service")
    assert ing["spec"]["ingressClassName"] == values["className"]
    hosts = values["hosts"] or [{"host": values["host"], "paths": [{"path": values["path"], "pathType": values["pathType"]}]}]
    rules = ing["spec"]["rules"]
    assert [r.get("host", "") for r in rules] == [h.get("host", "") for h in hosts]
    for rule, want in zip(rules, hosts):
        assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [(p["path"], p.get("pathType", "Prefix")) for p in want["paths"]]
        for p in rule["http"]["paths"]:
            assert p["backend"]["service"] == {"name": svc["metadata"]["name"], "port": {"name": "http"}}
    ann = ing["metadata"].get("annotations", {})
    if values["className"] == "alb":
        assert ann["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
        assert ann["alb.ingress.kubernetes.io/target-type"] == "ip"
        assert ann["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
        if values["certificateArn"]:
            assert ann["alb.ingress.kubernetes.io/certificate-arn"] == values["certificateArn"]
            assert json.loads(ann["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
            assert ann["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
        for k, v in values["annotations"].items():
            assert ann[k] == v
    else:
        assert not any(k.startswith("alb.ingress.kubernetes.io/") for k in ann)
        assert ing["spec"].get("tls", []) == values["tls"]


def test_user_annotations_override_alb_defaults():
    docs = chartlib.documents(chartlib.render({
        "ingress": {"enabled": True, "annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}}}))
    (ing,) = [o for _, o in docs if o["kind"] == "Ingress"]
    assert ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internal"
    # No certificate: plain HTTP only, and no redirect to a listener that does not exist.
    assert json.loads(ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTP": 80}]
    assert "alb.ingress.kubernetes.io/ssl-redirect" not in ing["metadata"]["annotations"]


@pytest.mark.parametrize("name", SETS)
def test_network_policy(name):
    values = merged_values(name)
    pols = objs(name, "NetworkPolicy")
    if not values["networkPolicy"]["enabled"]:
        assert pols == []
        return
    (np_,) = pols
    spec = np_["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    # It selects the serving pods and the migrate Job's pods.
    sel = spec["podSelector"]
    for o in objs(name):
        if o["kind"] == "Deployment" or (o["kind"] == "Job"):
            labels = pod_labels(o)
            assert sel["matchLabels"].items() <= labels.items()
            assert labels["app.kubernetes.io/component"] in sel["matchExpressions"][0]["values"]
    # Ingress: only the service's target port.
    (rule,) = spec["ingress"]
    # By number: the EKS network policy agent has resolved named ports wrongly.
    assert rule["ports"] == [{"port": values["containerPort"], "protocol": "TCP"}]
    allowed = values["networkPolicy"]["ingressFrom"]
    if allowed:
        # The listed peers, plus this release's helm test pod, which must reach the Service.
        (test_pod,) = objs(name, "Pod")
        extra = [p for p in rule["from"] if p not in allowed]
        assert rule["from"][: len(allowed)] == allowed and len(extra) == 1
        assert extra[0]["podSelector"]["matchLabels"].items() <= pod_labels(test_pod).items()
    else:
        assert "from" not in rule
    # Egress: DNS, then the database's CIDRs on its port (postgres), nothing else.
    egress = spec["egress"]
    assert egress[0]["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    if values["database"]["mode"] == "sqlite":
        assert len(egress) == 1
    else:
        assert len(egress) == 2
        assert egress[1]["ports"] == [{"port": values["networkPolicy"]["database"]["port"], "protocol": "TCP"}]
        assert [p["ipBlock"]["cidr"] for p in egress[1]["to"]] == values["networkPolicy"]["database"]["cidrs"]


@pytest.mark.parametrize("name", SETS)
def test_helm_test_runs_smoke_against_the_service(name):
    (pod,) = [o for o in objs(name, "Pod") if o["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    svc = one(name, "Service")
    c = pod["spec"]["containers"][0]
    url = f"http://{svc['metadata']['name']}.{chartlib.NAMESPACE}.svc:{svc['spec']['ports'][0]['port']}"
    assert c["args"] == ["smoke", "--base-url", url]
    assert pod["spec"]["restartPolicy"] == "Never"


def test_service_monitor_scrapes_metrics():
    sm = one("nginx", "ServiceMonitor")
    svc = one("nginx", "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == "http" and sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_config_change_rolls_pods():
    a = one("defaults", "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    docs = chartlib.documents(chartlib.render({"config": {"logLevel": "debug"}}))
    (d,) = [o for _, o in docs if o["kind"] == "Deployment"]
    assert d["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != a


# --- refusals -------------------------------------------------------------------------------


def expected_error(path: Path) -> str:
    m = re.search(r"^# expect: (.+)$", path.read_text(), flags=re.M)
    assert m, f"{path} needs a '# expect: <message part>' line"
    return m.group(1).strip()


def test_bad_sets_exist():
    assert {"wrong-type", "unknown-key", "sqlite-2-replicas", "sqlite-hpa"} <= set(BAD_SETS)


@pytest.mark.parametrize("name", BAD_SETS)
def test_bad_values_are_refused(name):
    path = BAD_SETS[name]
    with pytest.raises(chartlib.ChartError) as err:
        chartlib.render(path)
    assert expected_error(path) in str(err.value)


def test_latest_tag_refused_by_template_too(tmp_path):
    # The schema stops `latest` first; the template guard covers installs that skip the schema
    # (--skip-schema-validation), so render a copy of the chart without its schema.
    chart = tmp_path / "shipshape"
    shutil.copytree(chartlib.CHART, chart)
    (chart / "values.schema.json").unlink()
    assert chartlib.render({}, chart=chart)
    with pytest.raises(chartlib.ChartError) as err:
        chartlib.render({"image": {"tag": "Latest"}}, chart=chart)
    assert "image.tag must not be `latest`" in str(err.value)


# --- the checks behind the checks -------------------------------------------------------------


def test_kubernetes_validate_rejects_a_broken_manifest():
    """Proof that the schema step can fail: strict mode refuses an unknown field and a wrong type."""
    import kubernetes_validate

    d = one("defaults", "Deployment")
    kubernetes_validate.validate(d, "1.30.0", strict=True)
    typo = copy.deepcopy(d)
    pod_spec(typo)["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, "1.30.0", strict=True)
    wrong = copy.deepcopy(d)
    pod_spec(wrong)["terminationGracePeriodSeconds"] = "45"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, "1.30.0", strict=True)


def test_prestop_sleep_needs_1_30():
    """The preStop sleep action is in the 1.30 schema (the chart's kubeVersion floor)."""
    chart = yaml.safe_load((chartlib.CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">=1.30.0-0"


def test_every_template_runs_the_guards():
    # So `helm template --show-only` of any single file still refuses bad combinations.
    for t in (chartlib.CHART / "templates").rglob("*.yaml"):
        assert t.read_text().startswith('{{- include "shipshape.validate" . -}}'), t.name


def leaf_keys(d: dict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and k not in ("podSecurityContext", "securityContext", "resources", "behavior"):
            keys += leaf_keys(v, path + ".")
        else:
            keys.append(path)
    return keys


def test_readme_documents_every_value():
    readme = (chartlib.CHART / "README.md").read_text()
    values = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    missing = [k for k in leaf_keys(values) if f"`{k}`" not in readme]
    assert missing == [], f"README.md values table lacks: {missing}"


def test_eks_values_use_only_chart_keys():
    """infra/aws/eks's helm-values output must only use keys the chart has (the schema refuses others)."""
    values = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    chart_keys = set(leaf_keys(values))
    prefixes = {k.rsplit(".", 1)[0] for k in chart_keys if "." in k}
    for k in leaf_keys(chartlib.load_values(SETS["eks"])):
        assert k in chart_keys or k in prefixes, k


# --- conventions, monitoring objects, EKS specifics ---------------------------------------------


def test_conventions_extension_points():
    values = merged_values("conventions")
    d = one("conventions", "Deployment")
    spec = pod_spec(d)
    server = [c for c in spec["containers"] if c["name"] == "shipshape"][0]
    assert [c["name"] for c in spec["containers"]] == ["shipshape", "log-shipper"]
    assert [c["name"] for c in spec["initContainers"]] == ["wait"]
    assert values["extraEnvFrom"][0] in server["envFrom"]
    assert {"name": "extra-config", "mountPath": "/etc/shipshape/extra", "readOnly": True} in server["volumeMounts"]
    assert values["extraVolumes"][0] in spec["volumes"]


def test_httproute_to_the_service():
    (route,) = objs("conventions", "HTTPRoute")
    svc = one("conventions", "Service")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == merged_values("conventions")["httpRoute"]["parentRefs"]
    assert route["spec"]["hostnames"] == ["shipshape.example.org"]
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": svc["metadata"]["name"], "port": svc["spec"]["ports"][0]["port"]}]
    assert objs("defaults", "HTTPRoute") == []


def test_prometheus_rule_is_the_rule_file():
    (rule,) = objs("conventions", "PrometheusRule")
    source = yaml.safe_load((chartlib.CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == source
    # "auto" without the CRD in the cluster (helm template): nothing rendered.
    assert objs("defaults", "PrometheusRule") == [] and objs("defaults", "ServiceMonitor") == []


def test_eks_values_spread_zones_hard_and_pull_by_digest():
    d = one("eks", "Deployment")
    spread = {t["topologyKey"]: t["whenUnsatisfiable"] for t in pod_spec(d)["topologySpreadConstraints"]}
    assert spread == {"topology.kubernetes.io/zone": "DoNotSchedule", "kubernetes.io/hostname": "ScheduleAnyway"}
    digest = merged_values("eks")["image"]["digest"]
    for o in objs("eks"):
        if o["kind"] in POD_KINDS:
            for c in pod_spec(o)["containers"] + pod_spec(o).get("initContainers", []):
                if c["name"] in ("shipshape", "migrate", "smoke"):
                    assert c["image"].endswith("@" + digest), c["image"]
    hpa = one("eks", "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)


def test_schema_still_refuses_unknown_keys_in_new_blocks():
    for bad in ({"httpRoute": {"enabled": False, "parentRef": []}}, {"prometheusRule": {"enable": True}},
                {"ingress": {"hosts": [{"host": "a", "paths": [{"path": "/", "type": "Prefix"}]}]}}):
        with pytest.raises(chartlib.ChartError, match="additional properties"):
            chartlib.render(bad)
