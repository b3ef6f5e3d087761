"""The Kubernetes manifests: valid for the API server as written, and wired the way the service expects.

deploy/ is a kustomize base with two overlays and two optional components; the checks read what
`kubectl kustomize deploy/overlays/<name>` renders (with components, through an overlay of one's own that adds
them, as deploy/README.md says), which is what `kubectl apply -k` sends. The checks of the pod with the distributor read the `sidecar`
overlay; those at the end, the `nats` overlay and what both must share.

Schema checks use kubernetes-validate in strict mode (unknown fields are errors, as `kubectl apply` with
server-side field validation would report them). The wiring checks read the manifests the way the kubelet
would: env values resolved from literals, the ConfigMap and the Secret, and ConfigMap files mounted where the
env points, then hand the result to the service's own config loader.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from notifier.config.load import KNOWN_VARIABLES, load_config
from notifier.config.variables import unknown_variable_warnings
from notifier.keptn.subjects import SubjectSet
from notifier.templating import TemplateSet
from notifier.units import parse_duration

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
OVERLAYS = ("sidecar", "nats")
SIDECAR = "sidecar"
KUSTOMIZATION = "kustomization.yaml"
SECRET_EXAMPLE = "secret.example.yaml"
# Keptn 1.x ran on Kubernetes up to 1.27; the newest schema shipped with kubernetes-validate catches removals.
KUBERNETES_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
EVENT_PORT = 8080
ADMIN_PORT = 9090
STATE_DIR = "/var/lib/keptn-notifier"
COMPONENTS = ("monitoring", "network-policy")
# The Prometheus Operator's kinds: kubernetes-validate has no schema for them, so their tests check them by hand.
CUSTOM_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})
CONFIG_MAP = "keptn-notifier-config"
TEMPLATES_MAP = "keptn-notifier-templates"
TEMPLATES_FOLDER = DEPLOY_DIR / "base" / "templates"
IMAGE = "keptn-notifier"
FAKE_SECRET_VALUES = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/secret",
    "SLACK_BOT_TOKEN": "xoxb-000-000-secret",
    "TEAMS_WEBHOOK_URL": "https://prod.example.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=s",
    "NOTIFIER_INGEST_TOKEN": "0123456789abcdef0123456789abcdef",
}

Obj = dict[str, Any]


def _documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def _yaml_files() -> list[Path]:
    """Every YAML file under deploy/ but the templates, which are data for a ConfigMap, not manifests."""
    return sorted(path for path in DEPLOY_DIR.rglob("*.yaml") if TEMPLATES_FOLDER not in path.parents)


def _manifest_files() -> list[Path]:
    return [path for path in _yaml_files() if path.name != KUSTOMIZATION]


def _kustomization_dirs() -> list[Path]:
    return sorted(path.parent for path in DEPLOY_DIR.rglob(KUSTOMIZATION))


def _kustomize(directory: Path) -> tuple[Obj, ...]:
    """What `kubectl apply -k <directory>` sends: kustomize's output (kubectl must be installed)."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc is not None)


@functools.cache
def _rendered(overlay: str, components: tuple[str, ...] = ()) -> tuple[Obj, ...]:
    """An overlay as applied, with the given components added the way deploy/README.md says: an overlay of one's
    own that names the shipped overlay as its resource."""
    if not components:
        return _kustomize(DEPLOY_DIR / "overlays" / overlay)
    with tempfile.TemporaryDirectory(prefix="keptn-notifier-overlay-") as scratch:
        own = Path(scratch)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(DEPLOY_DIR / "overlays" / overlay, own)],
            "components": [os.path.relpath(DEPLOY_DIR / "components" / name, own) for name in components],
        }
        (own / KUSTOMIZATION).write_text(yaml.safe_dump(kustomization), encoding="utf-8")
        return _kustomize(own)


def _component_objects() -> list[tuple[str, Obj]]:
    """What each component adds to each overlay, by overlay and component."""
    return [
        (f"{overlay}+{name}", obj)
        for overlay in OVERLAYS
        for name in COMPONENTS
        for obj in _rendered(overlay, (name,))
        if obj not in _rendered(overlay)
    ]


def _objects() -> list[tuple[str, Obj]]:
    """Every object the overlays and components render that kubernetes-validate knows the kind of, by where it
    came from, and the Secret example, by file name."""
    rendered = [(overlay, obj) for overlay in OVERLAYS for obj in _rendered(overlay)] + _component_objects()
    known = [(source, obj) for source, obj in rendered if obj["kind"] not in CUSTOM_KINDS]
    return known + [(SECRET_EXAMPLE, doc) for doc in _documents(DEPLOY_DIR / SECRET_EXAMPLE)]


def _all(kind: str, objects: tuple[Obj, ...]) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def _one(kind: str, overlay: str = SIDECAR, components: tuple[str, ...] = ()) -> Obj:
    found = _all(kind, _rendered(overlay, components))
    assert len(found) == 1, f"expected one {kind} in deploy/overlays/{overlay} {components}, found {len(found)}"
    return found[0]


def _config_maps(objects: tuple[Obj, ...]) -> dict[str, Obj]:
    return {obj["metadata"]["name"]: obj for obj in _all("ConfigMap", objects)}


def _config_map(overlay: str = SIDECAR) -> Obj:
    """The ConfigMap with config.yaml and the subscription (the other one holds the templates)."""
    return _config_maps(_rendered(overlay))[CONFIG_MAP]


def _containers(overlay: str = SIDECAR) -> dict[str, Obj]:
    pod = _one("Deployment", overlay)["spec"]["template"]["spec"]
    return {container["name"]: container for container in pod["containers"]}


def _notifier(overlay: str = SIDECAR) -> Obj:
    return _containers(overlay)["keptn-notifier"]


def _distributor() -> Obj:
    return _containers()["distributor"]


def _env(container: Obj) -> dict[str, Obj]:
    return {item["name"]: item for item in container.get("env", [])}


def _resolve_env(container: Obj, config_map: Obj, secret: Mapping[str, str]) -> dict[str, str]:
    """The environment the container would get, as the kubelet builds it (refs the manifests use only)."""
    resolved: dict[str, str] = {}
    for name, item in _env(container).items():
        if "value" in item:
            resolved[name] = item["value"]
            continue
        source = item["valueFrom"]
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            assert ref["name"] == config_map["metadata"]["name"]
            data = config_map["data"]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            assert ref["name"] == "keptn-notifier-secrets"
            data = dict(secret)
        else:
            continue  # fieldRef: filled in by Kubernetes, checked separately
        if ref["key"] in data:
            resolved[name] = data[ref["key"]]
        else:
            assert ref.get("optional") is True, f"{name}: key {ref['key']!r} missing and not optional"
    return resolved


def _mount_config_maps(container: Obj, root: Path, objects: tuple[Obj, ...]) -> list[tuple[str, Path]]:
    """Writes the ConfigMaps' files where the container would see them, under root; returns (mountPath, dir)."""
    (deployment,) = _all("Deployment", objects)
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    config_maps = _config_maps(objects)
    mounted: list[tuple[str, Path]] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            continue
        assert volume["configMap"]["name"] in config_maps, f"volume {mount['name']}: no such ConfigMap"
        config_map = config_maps[volume["configMap"]["name"]]
        target = root / mount["mountPath"].lstrip("/")
        items = volume["configMap"].get("items") or [{"key": key, "path": key} for key in config_map["data"]]
        for item in items:
            assert item["key"] in config_map["data"], f"volume item {item['key']!r} is not in the ConfigMap"
            file = target / item["path"]
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(config_map["data"][item["key"]], encoding="utf-8")
        mounted.append((mount["mountPath"], target))
    return mounted


def _to_local(value: str, mounted: list[tuple[str, Path]]) -> str:
    for mount_path, local in mounted:
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(local / value[len(mount_path) :].lstrip("/"))
    return value


def _walk(value: object) -> Iterator[tuple[str, object]]:
    """Every (key, value) pair anywhere in a nested manifest."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


# --- every file parses and validates -----------------------------------------------------------------------


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda path: str(path.relative_to(DEPLOY_DIR)))
def test_manifest_parses_into_named_objects(path: Path) -> None:
    documents = _documents(path)
    assert documents, f"{path.name} holds no YAML document"
    for doc in documents:
        assert isinstance(doc, dict)
        assert doc.get("apiVersion") and doc.get("kind"), f"{path.name}: apiVersion and kind are required"
        if path.name != KUSTOMIZATION:
            assert doc["metadata"]["name"]
            assert doc["metadata"]["namespace"] == "keptn", "Keptn's NATS and control plane live in 'keptn'"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("source", "obj"), _objects(), ids=[f"{source}:{obj['kind']}" for source, obj in _objects()])
def test_object_validates_strictly(source: str, obj: Obj, version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        location = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{source}: {obj['kind']} is invalid for Kubernetes {version} at {location}: {exc.message}")


def test_strict_validation_rejects_a_misspelt_field() -> None:
    """Proves the check above can fail: a typo that a lenient parse would silently drop."""
    deployment = copy.deepcopy(_one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("directory", _kustomization_dirs(), ids=lambda path: str(path.relative_to(DEPLOY_DIR)))
def test_kustomization_lists_every_manifest_except_the_secret_example(directory: Path) -> None:
    (kustomization,) = _documents(directory / KUSTOMIZATION)
    assert kustomization["kind"] == ("Component" if directory.parent.name == "components" else "Kustomization")
    # Its own files, as resources or patches; a directory entry is the base an overlay builds on.
    entries = kustomization["resources"] + [patch["path"] for patch in kustomization.get("patches", [])]
    listed = [entry for entry in entries if entry.endswith(".yaml")]
    bases = [entry for entry in entries if not entry.endswith(".yaml")]
    expected = {path.name for path in _manifest_files() if path.parent == directory} - {SECRET_EXAMPLE}
    assert sorted(listed) == sorted(expected)
    assert all((directory / name).is_file() for name in listed)
    assert all((directory / base / KUSTOMIZATION).is_file() for base in bases)


def test_secret_example_holds_placeholders_and_says_how_to_create_the_secret() -> None:
    text = (DEPLOY_DIR / SECRET_EXAMPLE).read_text(encoding="utf-8")
    assert "kubectl" in text and "create secret generic" in text and "--from-literal" in text
    (secret,) = _documents(DEPLOY_DIR / SECRET_EXAMPLE)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "keptn-notifier-secrets"
    assert set(secret["stringData"]) == set(FAKE_SECRET_VALUES)
    for key, value in secret["stringData"].items():
        assert "REPLACE" in value, f"{key} must be an obvious placeholder, never a working credential"


# --- the notifier container ---------------------------------------------------------------------------------


def test_event_port_is_bound_to_loopback_for_the_sidecar_only() -> None:
    env = _env(_notifier())
    assert env["NOTIFIER_HOST"]["value"] == "127.0.0.1"
    assert env["PORT"]["value"] == str(EVENT_PORT)
    assert env["NOTIFIER_ADMIN_PORT"]["value"] == str(ADMIN_PORT)
    declared = {port["containerPort"] for port in _notifier().get("ports", [])}
    assert EVENT_PORT not in declared


def test_probes_use_the_admin_port() -> None:
    notifier = _notifier()
    assert notifier["livenessProbe"]["httpGet"] == {"path": "/health", "port": ADMIN_PORT}
    assert notifier["readinessProbe"]["httpGet"] == {"path": "/ready", "port": ADMIN_PORT}


@pytest.mark.parametrize("name", ["keptn-notifier", "distributor"])
def test_container_security_context_is_locked_down(name: str) -> None:
    context = _containers()[name]["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] != 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_notifier_runs_as_the_image_user_with_a_writable_state_volume_and_tmp() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    notifier = _notifier()
    assert notifier["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    mounts = {mount["mountPath"]: mount for mount in notifier["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    state = volumes[mounts[STATE_DIR]["name"]]
    assert state["persistentVolumeClaim"]["claimName"] == _one("PersistentVolumeClaim")["metadata"]["name"]
    assert not mounts[STATE_DIR].get("readOnly", False)
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert _env(notifier)["NOTIFIER_STATE_DIR"]["value"] == STATE_DIR


def test_config_and_templates_come_read_only_from_the_config_map() -> None:
    notifier = _notifier()
    env = _env(notifier)
    mounts = [mount for mount in notifier["volumeMounts"] if mount["mountPath"].startswith("/etc/keptn-notifier")]
    assert mounts and all(mount.get("readOnly") is True for mount in mounts)
    assert env["NOTIFIER_CONFIG"]["value"].startswith("/etc/keptn-notifier/")
    assert env["TEMPLATES_DIR"]["value"].startswith("/etc/keptn-notifier/")


def test_credentials_come_only_from_the_secret_and_are_optional() -> None:
    env = _env(_notifier())
    for name in FAKE_SECRET_VALUES:
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "keptn-notifier-secrets", "key": name, "optional": True}
    literal_values = " ".join(str(value) for key, value in _walk(_one("Deployment")) if key == "value")
    assert "hooks.slack.com" not in literal_values and "xox" not in literal_values


@pytest.mark.parametrize("name", ["keptn-notifier", "distributor"])
def test_resources_have_requests_and_limits(name: str) -> None:
    resources = _containers()[name]["resources"]
    for section in ("requests", "limits"):
        assert set(resources[section]) >= {"cpu", "memory"}, f"{name}: {section} needs cpu and memory"


def test_single_replica_recreated_because_sqlite_is_on_a_read_write_once_volume() -> None:
    deployment = _one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert _one("PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert _one("PersistentVolumeClaim")["spec"]["resources"]["requests"]["storage"] == "1Gi"
    comments = [
        line
        for line in (DEPLOY_DIR / "overlays" / SIDECAR / "deployment.yaml").read_text(encoding="utf-8").splitlines()
        if "#" in line
    ]
    assert any("ReadWriteOnce" in line for line in comments), "say in a comment why the strategy is Recreate"


def test_grace_period_exceeds_the_service_shutdown_grace() -> None:
    shutdown_grace = parse_duration(_env(_notifier())["NOTIFIER_SHUTDOWN_GRACE"]["value"])
    grace_period = _one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert shutdown_grace < grace_period <= shutdown_grace + 30


def test_labels_follow_keptn_conventions() -> None:
    deployment = _one("Deployment")
    for labels in (deployment["metadata"]["labels"], deployment["spec"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/name"] == "keptn-notifier"
        assert labels["app.kubernetes.io/part-of"] == "keptn-keptn"
        assert labels["app.kubernetes.io/component"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


# --- the distributor sidecar --------------------------------------------------------------------------------


def test_distributor_image_and_recipient() -> None:
    distributor = _distributor()
    env = _env(distributor)
    assert distributor["image"] == "docker.io/keptn/distributor:1.4.5"
    assert env["PUBSUB_RECIPIENT"]["value"] == "127.0.0.1"
    assert env["PUBSUB_RECIPIENT_PORT"]["value"] == str(EVENT_PORT)
    assert env["PUBSUB_URL"]["value"] == "nats://keptn-nats"
    assert "PUBSUB_RECIPIENT_PATH" not in env or env["PUBSUB_RECIPIENT_PATH"]["value"] in ("", "/")


def test_pubsub_group_is_the_pods_name_label() -> None:
    ref = _env(_distributor())["PUBSUB_GROUP"]["valueFrom"]["fieldRef"]
    assert ref["fieldPath"] == "metadata.labels['app.kubernetes.io/name']"
    assert _one("Deployment")["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]


@pytest.mark.parametrize(
    ("name", "field_path"),
    [
        ("K8S_DEPLOYMENT_NAME", "metadata.labels['app.kubernetes.io/name']"),
        ("K8S_POD_NAME", "metadata.name"),
        ("K8S_NAMESPACE", "metadata.namespace"),
        ("K8S_NODE_NAME", "spec.nodeName"),
    ],
)
def test_distributor_registration_field_refs(name: str, field_path: str) -> None:
    assert _env(_distributor())[name]["valueFrom"]["fieldRef"]["fieldPath"] == field_path


def test_distributor_probes_do_not_target_the_loopback_event_port() -> None:
    distributor = _distributor()
    for probe in ("livenessProbe", "readinessProbe"):
        assert distributor[probe]["httpGet"]["port"] not in (EVENT_PORT, ADMIN_PORT)


def test_both_containers_subscribe_to_the_same_topic_value() -> None:
    config_map = _config_map()
    notifier = _resolve_env(_notifier(), config_map, FAKE_SECRET_VALUES)["PUBSUB_TOPIC"]
    distributor = _resolve_env(_distributor(), config_map, FAKE_SECRET_VALUES)["PUBSUB_TOPIC"]
    assert notifier == distributor
    # The distributor splits on commas without trimming: a space would become part of a NATS subject.
    assert " " not in notifier
    assert SubjectSet.parse(notifier).matches("sh.keptn.event.evaluation.finished")


# --- the Service --------------------------------------------------------------------------------------------


def test_service_exposes_only_the_admin_port_as_metrics() -> None:
    service = _one("Service")
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics" and port["port"] == ADMIN_PORT
    named = {p["name"]: p["containerPort"] for p in _notifier()["ports"]}
    target = port["targetPort"]
    assert named.get(target, target) == ADMIN_PORT
    assert all(p.get("port") != EVENT_PORT and p.get("targetPort") != EVENT_PORT for p in service["spec"]["ports"])
    assert service["spec"]["selector"].items() <= _one("Deployment")["spec"]["template"]["metadata"]["labels"].items()


# --- the pod's configuration, as the service would load it --------------------------------------------------


def test_pod_environment_and_mounted_config_load_in_the_service(tmp_path: Path) -> None:
    config_map = _config_map()
    notifier = _notifier()
    mounted = _mount_config_maps(notifier, tmp_path, _rendered(SIDECAR))
    env = {
        name: _to_local(value, mounted)
        for name, value in _resolve_env(notifier, config_map, FAKE_SECRET_VALUES).items()
    }
    env["NOTIFIER_STATE_DIR"] = str(tmp_path / "state")

    config = load_config(env=env)

    assert config.settings.host == "127.0.0.1"
    assert config.settings.port == EVENT_PORT
    assert config.settings.admin_port == ADMIN_PORT
    assert config.settings.templates_dir == Path(env["TEMPLATES_DIR"])
    assert set(config.channels) == {"prod-slack", "team-hook", "teams"}
    assert [route.name for route in config.routes] == ["prod-failures", "sequences"]
    # The Redactor learns the credentials that arrived through the Secret.
    assert {FAKE_SECRET_VALUES["SLACK_BOT_TOKEN"], FAKE_SECRET_VALUES["NOTIFIER_INGEST_TOKEN"]} <= set(config.secrets())


def test_example_template_loads_and_renders_without_fallback(tmp_path: Path) -> None:
    from notifier.keptn.events import event_from_mapping

    mounted = _mount_config_maps(_notifier(), tmp_path, _rendered(SIDECAR))
    templates_dir = Path(_to_local(_env(_notifier())["TEMPLATES_DIR"]["value"], mounted))
    config = load_config(
        env={
            **FAKE_SECRET_VALUES,
            "NOTIFIER_CONFIG": _to_local(_env(_notifier())["NOTIFIER_CONFIG"]["value"], mounted),
            "TEMPLATES_DIR": str(templates_dir),
        }
    )
    route_templates = {route.template for route in config.routes if route.template}
    assert route_templates, "the example config should show a route choosing a custom template"

    templates = TemplateSet(templates_dir, "https://keptn.example.com/bridge")
    event = event_from_mapping(
        {
            "specversion": "1.0",
            "id": "5b8a2ff0-3f7e-4a43-9d1b-0b2f9c1f6c11",
            "source": "lighthouse-service",
            "type": "sh.keptn.event.evaluation.finished",
            "shkeptncontext": "c7b8d3a4-9f1e-4e0b-8a55-3c1d2e4f5a6b",
            "data": {
                "project": "sockshop",
                "stage": "production",
                "service": "carts",
                "status": "succeeded",
                "result": "fail",
                "evaluation": {
                    "score": 33.33333333333333,
                    "result": "fail",
                    "indicatorResults": [
                        {
                            "score": 0,
                            "status": "fail",
                            "displayName": "Response time p95",
                            "keySli": True,
                            "value": {"metric": "response_time_p95", "value": 812.4, "success": True},
                            "passTargets": [{"criteria": "<=600", "targetValue": 600, "violated": True}],
                            "warningTargets": [],
                        }
                    ],
                },
            },
        }
    )
    for name in sorted(route_templates):
        assert templates.has(name), f"route template {name!r} is not in TEMPLATES_DIR"
        message = templates.render(event, name)
        assert message.template == name, f"{name} fell back: {message.text}"
        assert "carts" in message.title
        assert "Response time p95" in message.text


# --- the two overlays: what each adds, what both share ------------------------------------------------------

CREDENTIALS = (*FAKE_SECRET_VALUES, "KEPTN_API_TOKEN")
REGISTRATION_FIELDS = {
    "K8S_DEPLOYMENT_NAME": "metadata.labels['app.kubernetes.io/name']",
    "K8S_POD_NAME": "metadata.name",
    "K8S_NAMESPACE": "metadata.namespace",
    "K8S_NODE_NAME": "spec.nodeName",
}


@pytest.mark.parametrize(
    ("overlay", "kinds"),
    [
        ("sidecar", ["ConfigMap", "ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"]),
        ("nats", ["ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]),
    ],
)
def test_each_overlay_renders_its_objects_in_keptns_namespace(overlay: str, kinds: list[str]) -> None:
    rendered = _rendered(overlay)
    assert sorted(obj["kind"] for obj in rendered) == kinds
    assert {obj["metadata"]["namespace"] for obj in rendered} == {"keptn"}


def test_both_overlays_share_the_config_the_service_and_the_notifier_container() -> None:
    assert _config_maps(_rendered("sidecar")) == _config_maps(_rendered("nats"))
    assert _one("Service", "sidecar") == _one("Service", "nats")
    sidecar, nats = _notifier("sidecar"), _notifier("nats")
    for key in ("image", "args", "ports", "livenessProbe", "readinessProbe", "resources", "securityContext"):
        assert sidecar[key] == nats[key], key
    shared_env = {name: item for name, item in _env(sidecar).items() if name != "NOTIFIER_STATE_DIR"}
    assert shared_env.items() <= _env(nats).items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_inlined(overlay: str) -> None:
    rendered = _rendered(overlay)
    assert "Secret" not in {obj["kind"] for obj in rendered}, "the Secret is created by hand, never applied"
    env = _env(_notifier(overlay))
    for name in CREDENTIALS:
        if name in env:
            assert "value" not in env[name] and "secretKeyRef" in env[name]["valueFrom"], name
    literals = " ".join(str(value) for obj in rendered for key, value in _walk(obj) if key == "value")
    for shape in ("hooks.slack.com", "xox", "sig=", *FAKE_SECRET_VALUES.values()):
        assert shape not in literals


def test_sidecar_leaves_registration_to_the_distributor() -> None:
    # Two registrations of one integration would only race each other; the distributor's is the one Keptn knows.
    env = _env(_notifier("sidecar"))
    assert "KEPTN_REGISTER" not in env and "NOTIFIER_STORE" not in env
    assert _env(_distributor())["PUBSUB_GROUP"]["valueFrom"]["fieldRef"]


def test_nats_runs_three_stateless_replicas_without_a_sidecar_or_a_volume() -> None:
    deployment = _one("Deployment", "nats")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert list(_containers("nats")) == ["keptn-notifier"], "no distributor"
    assert all(set(volume) & {"configMap", "emptyDir"} for volume in pod["volumes"]), "no state volume"
    assert not any(key == "persistentVolumeClaim" for key, _ in _walk(_rendered("nats")))
    env = _env(_notifier("nats"))
    assert env["NOTIFIER_STORE"]["value"] == "nats"
    assert env["NATS_URL"]["value"] == "nats://keptn-nats"
    assert "NOTIFIER_STATE_DIR" not in env
    rolling = deployment["spec"]["strategy"]
    assert rolling["type"] == "RollingUpdate" and rolling["rollingUpdate"]["maxUnavailable"] == 0


def test_nats_readiness_is_ready_on_the_admin_port() -> None:
    # /ready is false while the JetStream store's NATS connection is down (JetStreamStore.health).
    assert _notifier("nats")["readinessProbe"]["httpGet"] == {"path": "/ready", "port": ADMIN_PORT}


def test_nats_disruption_budget_keeps_two_of_three_replicas() -> None:
    budget = _one("PodDisruptionBudget", "nats")
    deployment = _one("Deployment", "nats")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert deployment["spec"]["replicas"] - budget["spec"]["maxUnavailable"] >= 2


def test_nats_replicas_prefer_one_node_each() -> None:
    deployment = _one("Deployment", "nats")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_nats_registers_itself_with_the_token_from_keptns_secret() -> None:
    env = _env(_notifier("nats"))
    assert env["KEPTN_REGISTER"]["value"] == "true"
    assert env["KEPTN_API_ENDPOINT"]["value"].startswith("http://api-gateway-nginx")
    ref = env["KEPTN_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "keptn-api-token", "key": "keptn-api-token", "optional": True}
    for name, field_path in REGISTRATION_FIELDS.items():
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == field_path
        assert _env(_distributor())[name]["valueFrom"]["fieldRef"]["fieldPath"] == field_path, "as the sidecar's"


def test_nats_pod_environment_loads_in_the_service(tmp_path: Path) -> None:
    config_map = _config_map("nats")
    notifier = copy.deepcopy(_notifier("nats"))
    # Keptn's own Secret: resolved by hand, _resolve_env knows only the notifier's.
    notifier["env"] = [item for item in notifier["env"] if item["name"] != "KEPTN_API_TOKEN"]
    mounted = _mount_config_maps(notifier, tmp_path, _rendered("nats"))
    env = {
        name: _to_local(value, mounted)
        for name, value in _resolve_env(notifier, config_map, FAKE_SECRET_VALUES).items()
    }
    env["KEPTN_API_TOKEN"] = "keptn-token-0123456789"

    config = load_config(env=env)

    assert config.settings.store == "nats"
    assert config.settings.nats_url == "nats://keptn-nats"
    assert config.settings.keptn_register is True
    assert config.settings.host == "127.0.0.1" and config.settings.admin_port == ADMIN_PORT
    assert set(config.channels) == {"prod-slack", "team-hook", "teams"}
    assert "keptn-token-0123456789" in config.secrets()


def test_apply_k_deploy_still_applies_the_sidecar_overlay() -> None:
    """`kubectl apply -k deploy/` was the documented command before the overlays: it keeps doing what it did."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY_DIR)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert list(yaml.safe_load_all(result.stdout)) == list(_rendered("sidecar"))


# --- no start-up warning about the variables the manifests and Kubernetes set ---------------------------------


def _service_links(service: Obj, address: str = "10.0.0.7") -> dict[str, str]:
    """The variables the kubelet sets in every pod of the namespace for one Service (its service links)."""
    prefix = service["metadata"]["name"].upper().replace("-", "_")
    ports = service["spec"]["ports"]
    first = ports[0]
    links = {
        f"{prefix}_SERVICE_HOST": address,
        f"{prefix}_SERVICE_PORT": str(first["port"]),
        f"{prefix}_PORT": f"{first.get('protocol', 'TCP').lower()}://{address}:{first['port']}",
    }
    for port in ports:
        protocol = port.get("protocol", "TCP")
        if "name" in port:
            links[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
        link = f"{prefix}_PORT_{port['port']}_{protocol}"
        links[link] = f"{protocol.lower()}://{address}:{port['port']}"
        links |= {f"{link}_PROTO": protocol.lower(), f"{link}_PORT": str(port["port"]), f"{link}_ADDR": address}
    return links


# Keptn's NATS, in the same namespace (Keptn 1.4.5's chart: client, cluster, monitor and metrics ports).
KEPTN_NATS = {
    "metadata": {"name": "keptn-nats"},
    "spec": {
        "ports": [
            {"name": "client", "port": 4222},
            {"name": "cluster", "port": 6222},
            {"name": "monitor", "port": 8222},
            {"name": "metrics", "port": 7777},
        ]
    },
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_notifier_container_gets_no_variable_the_service_would_warn_about(overlay: str) -> None:
    services = [obj for obj in _rendered(overlay) if obj["kind"] == "Service"]
    env = {name: "" for name in _env(_notifier(overlay))}
    for service in [*services, KEPTN_NATS]:
        env |= _service_links(service)
    assert "KEPTN_NOTIFIER_SERVICE_PORT_METRICS" in env and "KEPTN_NATS_PORT_4222_TCP_ADDR" in env

    assert unknown_variable_warnings(env, KNOWN_VARIABLES) == []


# --- the image: built by whoever deploys, named in one place ------------------------------------------------


def _image_entry(kustomization_dir: Path) -> Obj:
    (kustomization,) = _documents(kustomization_dir / "base" / KUSTOMIZATION)
    (entry,) = [entry for entry in kustomization["images"] if entry["name"] == IMAGE]
    return entry


def test_the_image_is_named_once_for_both_overlays_in_the_base_kustomization() -> None:
    (deployment,) = _documents(DEPLOY_DIR / "base" / "deployment.yaml")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "keptn-notifier"]
    # A bare name: no registry and no tag that a second place could contradict.
    assert container["image"] == IMAGE
    entry = _image_entry(DEPLOY_DIR)
    expected = f"{entry.get('newName', IMAGE)}:{entry['newTag']}"
    for overlay in OVERLAYS:
        assert _notifier(overlay)["image"] == expected
    # Nothing publishes ghcr.io/keptn-notifier: an image name there could be claimed by someone else.
    assert "ghcr.io" not in expected
    for path in _manifest_files():
        assert "ghcr.io/keptn-notifier" not in path.read_text(encoding="utf-8"), path


def test_setting_the_image_in_the_base_kustomization_changes_it_in_every_overlay(tmp_path: Path) -> None:
    deploy = Path(shutil.copytree(DEPLOY_DIR, tmp_path / "deploy"))
    kustomization_path = deploy / "base" / KUSTOMIZATION
    text = kustomization_path.read_text(encoding="utf-8")
    # What `kustomize edit set image keptn-notifier=registry.example.com/team/keptn-notifier:1.2.3` writes.
    text = text.replace(
        "  - name: keptn-notifier\n",
        "  - name: keptn-notifier\n    newName: registry.example.com/team/keptn-notifier\n",
    )
    text = re.sub(r'newTag: "[^"]+"', 'newTag: "1.2.3"', text)
    kustomization_path.write_text(text, encoding="utf-8")
    assert _image_entry(deploy)["newName"] == "registry.example.com/team/keptn-notifier"

    for overlay in OVERLAYS:
        (rendered,) = _all("Deployment", _kustomize(deploy / "overlays" / overlay))
        images = {c["name"]: c["image"] for c in rendered["spec"]["template"]["spec"]["containers"]}
        assert images["keptn-notifier"] == "registry.example.com/team/keptn-notifier:1.2.3"
        assert images.get("distributor", "docker.io/keptn/distributor:1.4.5") == "docker.io/keptn/distributor:1.4.5"


def test_deploy_readme_says_how_to_build_push_and_name_the_image() -> None:
    text = (DEPLOY_DIR / "README.md").read_text(encoding="utf-8")
    image = text.split("## Image", 1)[1]
    for step in ("docker build", "podman build --format docker", "docker push", "images:", "kustomize edit set image"):
        assert step in image, f"deploy/README.md, Image: {step!r} missing"


def test_every_docker_run_in_the_docs_outlasts_the_shutdown_grace() -> None:
    """Docker's default stop timeout (10 s) would kill a delivery in flight and the final commit."""
    documents = [REPO_ROOT / "README.md", DEPLOY_DIR / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    runs = [(path, run) for path in documents for run in re.findall(r"docker run[^`]*?(?=\n\n|```)", path.read_text())]
    assert runs, "the docs give no `docker run` example"
    grace = parse_duration(_env(_notifier())["NOTIFIER_SHUTDOWN_GRACE"]["value"])
    for path, run in runs:
        match = re.search(r"--stop-timeout[ =](\d+)", run)
        assert match, f"{path.name}: `docker run` without --stop-timeout:\n{run}"
        assert int(match.group(1)) > grace, f"{path.name}: --stop-timeout {match.group(1)} <= shutdown grace {grace}"


# --- templates: one folder, one ConfigMap, mounted whole ----------------------------------------------------


def _generated_template_files(deploy: Path) -> list[str]:
    (kustomization,) = _documents(deploy / "base" / KUSTOMIZATION)
    (generator,) = [entry for entry in kustomization["configMapGenerator"] if entry["name"] == TEMPLATES_MAP]
    return list(generator["files"])


def test_every_file_in_the_templates_folder_is_in_the_generated_config_map() -> None:
    in_folder = sorted(path.name for path in TEMPLATES_FOLDER.iterdir())
    assert in_folder and all(name.endswith(".yaml") for name in in_folder)
    assert sorted(_generated_template_files(DEPLOY_DIR)) == [f"templates/{name}" for name in in_folder]
    for overlay in OVERLAYS:
        assert sorted(_config_maps(_rendered(overlay))[TEMPLATES_MAP]["data"]) == in_folder


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_and_templates_are_mounted_whole_without_an_items_list(overlay: str) -> None:
    pod = _one("Deployment", overlay)["spec"]["template"]["spec"]
    config_volumes = [volume for volume in pod["volumes"] if "configMap" in volume]
    assert {volume["configMap"]["name"] for volume in config_volumes} == {CONFIG_MAP, TEMPLATES_MAP}
    assert not any("items" in volume["configMap"] for volume in config_volumes), "a list to forget a template in"
    mounts = {mount["name"]: mount["mountPath"] for mount in _notifier(overlay)["volumeMounts"]}
    by_map = {volume["configMap"]["name"]: mounts[volume["name"]] for volume in config_volumes}
    assert _env(_notifier(overlay))["TEMPLATES_DIR"]["value"] == by_map[TEMPLATES_MAP]
    assert Path(_env(_notifier(overlay))["NOTIFIER_CONFIG"]["value"]).parent == Path(by_map[CONFIG_MAP])
    # Side by side: neither mount inside the other, whose files Kubernetes replaces on every update.
    assert not Path(by_map[TEMPLATES_MAP]).is_relative_to(by_map[CONFIG_MAP])
    assert not Path(by_map[CONFIG_MAP]).is_relative_to(by_map[TEMPLATES_MAP])


def test_a_template_put_in_the_folder_is_mounted_and_replaces_the_built_in(tmp_path: Path) -> None:
    """The steps deploy/README.md gives: a file in templates/ and its line in the generator; nothing else."""
    from notifier.keptn.events import event_from_mapping
    from notifier.templating import TemplateSet

    deploy = Path(shutil.copytree(DEPLOY_DIR, tmp_path / "deploy"))
    name = "sh.keptn.event.evaluation.finished"  # a built-in's name
    (deploy / "base" / "templates" / f"{name}.yaml").write_text(
        'title: "Our own evaluation message for {{ service }}"\ntext: "{{ result }}"\n', encoding="utf-8"
    )
    kustomization_path = deploy / "base" / KUSTOMIZATION
    kustomization_path.write_text(
        kustomization_path.read_text(encoding="utf-8").replace(
            "      - templates/prod-evaluation.yaml\n",
            f"      - templates/prod-evaluation.yaml\n      - templates/{name}.yaml\n",
        ),
        encoding="utf-8",
    )
    assert (deploy / "base" / "deployment.yaml").read_text() == (DEPLOY_DIR / "base" / "deployment.yaml").read_text()

    objects = _kustomize(deploy / "overlays" / SIDECAR)
    assert f"{name}.yaml" in _config_maps(objects)[TEMPLATES_MAP]["data"]
    (deployment,) = _all("Deployment", objects)
    (notifier,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "keptn-notifier"]
    mounted = _mount_config_maps(notifier, tmp_path / "pod", objects)
    templates_dir = Path(_to_local(_env(notifier)["TEMPLATES_DIR"]["value"], mounted))
    assert (templates_dir / f"{name}.yaml").is_file()

    event = event_from_mapping(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "lighthouse-service",
            "type": name,
            "data": {"project": "sockshop", "stage": "dev", "service": "carts", "result": "pass"},
        }
    )
    message = TemplateSet(templates_dir, "").render(event)
    assert message.template == name and message.title == "Our own evaluation message for carts"


# --- optional components ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COMPONENTS)
def test_component_renders_on_its_own_in_keptns_namespace(name: str) -> None:
    (kustomization,) = _documents(DEPLOY_DIR / "components" / name / KUSTOMIZATION)
    assert kustomization["kind"] == "Component"
    objects = _kustomize(DEPLOY_DIR / "components" / name)
    assert objects and {obj["metadata"]["namespace"] for obj in objects} == {"keptn"}


COMBINATIONS = [(name,) for name in COMPONENTS] + [COMPONENTS]


@pytest.mark.parametrize("components", COMBINATIONS, ids="+".join)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_components_add_their_objects_to_either_overlay_and_change_nothing_else(
    overlay: str, components: tuple[str, ...]
) -> None:
    combined = _rendered(overlay, components)
    added = [obj for obj in combined if obj not in _rendered(overlay)]
    assert len(combined) == len(_rendered(overlay)) + len(added), "an overlay's object was changed"
    expected = {"monitoring": ["PrometheusRule", "ServiceMonitor"], "network-policy": ["NetworkPolicy"]}
    assert sorted(obj["kind"] for obj in added) == sorted(kind for name in components for kind in expected[name])
    assert {obj["metadata"]["namespace"] for obj in added} == {"keptn"}


def test_service_monitor_scrapes_the_services_metrics_port() -> None:
    monitor = _one("ServiceMonitor", "nats", ("monitoring",))
    service = _one("Service", "nats")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(monitor["spec"]) == {"selector", "endpoints"} and set(endpoint) <= {"port", "path", "interval"}


def _exported_metric_names() -> set[str]:
    """The series names the service exports today, as Prometheus stores them (counters with _total)."""
    from notifier.metrics import Metrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix for family in Metrics().registry.collect() for suffix in suffixes.get(family.type, ("",))
    }


# Comes with the live reload of the configuration (issue 20 names it); the service does not export it yet.
RELOAD_METRIC = "keptn_notifier_config_last_reload_successful"


def test_prometheus_rule_alerts_on_dead_letters_waiting_notifications_and_a_failed_reload() -> None:
    rule = _one("PrometheusRule", "sidecar", ("monitoring",))
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and set(rule["spec"]) == {"groups"}
    (group,) = rule["spec"]["groups"]
    alerts = {item["alert"]: item for item in group["rules"]}
    for alert in alerts.values():
        assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        assert alert["expr"].count("(") == alert["expr"].count(")")
        used = set(re.findall(r"keptn_notifier_[a-z_]+", alert["expr"]))
        assert used and used <= _exported_metric_names() | {RELOAD_METRIC}, f"{alert['alert']}: unknown {used}"
    metrics = {alert["alert"]: re.findall(r"keptn_notifier_[a-z_]+", alert["expr"]) for alert in alerts.values()}
    assert sorted(metrics.values()) == [
        [RELOAD_METRIC],
        ["keptn_notifier_notifications_dead_total"],
        ["keptn_notifier_oldest_pending_age_seconds"],
    ]
    (reload,) = [alert for alert in alerts.values() if RELOAD_METRIC in alert["expr"]]
    assert re.fullmatch(rf"{RELOAD_METRIC}\s*==\s*0", reload["expr"].strip())


def _policy(overlay: str = "nats") -> Obj:
    return _one("NetworkPolicy", overlay, ("network-policy",))


def _port_set(rule: Obj) -> set[tuple[int, str]]:
    return {(port["port"], port.get("protocol", "TCP")) for port in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_lets_in_only_prometheus_to_the_admin_port(overlay: str) -> None:
    policy = _policy(overlay)["spec"]
    pod_labels = _one("Deployment", overlay)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    (rule,) = policy["ingress"]
    (source,) = rule["from"]
    assert source == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert _port_set(rule) == {(ADMIN_PORT, "TCP")}
    assert {port["containerPort"] for port in _notifier(overlay)["ports"]} == {ADMIN_PORT}
    # The event port: bound to loopback, reached by the sidecar over the pod's own interface; no rule opens it.
    assert not any(port == EVENT_PORT for rule in policy["ingress"] for port, _ in _port_set(rule))


def test_network_policy_lets_out_dns_nats_keptns_control_plane_and_https() -> None:
    egress = _policy()["spec"]["egress"]
    anywhere = set().union(*(_port_set(rule) for rule in egress if "to" not in rule))
    assert anywhere == {(53, "UDP"), (53, "TCP"), (443, "TCP")}
    to_pods = {_port_set(rule).pop(): peer["podSelector"] for rule in egress if "to" in rule for peer in rule["to"]}
    # NATS: the host of NATS_URL (and of the distributor's PUBSUB_URL) is the Service of pods named keptn-nats.
    nats_host = _env(_notifier("nats"))["NATS_URL"]["value"].removeprefix("nats://")
    assert nats_host == _env(_distributor())["PUBSUB_URL"]["value"].removeprefix("nats://") == "keptn-nats"
    assert to_pods[(4222, "TCP")] == {"matchLabels": {"app.kubernetes.io/name": nats_host}}
    # Registration: the notifier's KEPTN_API_ENDPOINT, and the distributor's shipyard-controller, both on 8080.
    (expression,) = to_pods[(8080, "TCP")]["matchExpressions"]
    assert expression["key"] == "app.kubernetes.io/name" and expression["operator"] == "In"
    api_host = _env(_notifier("nats"))["KEPTN_API_ENDPOINT"]["value"].split("/")[2]
    assert sorted(expression["values"]) == sorted([api_host, "shipyard-controller"])
