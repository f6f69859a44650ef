"""deploy/: the compose file, the systemd units and the Kubernetes manifests say what docs/deploy.md says.

Kubernetes manifests are checked against the API's own schemas (kubernetes-validate, offline, strict);
``docker compose config`` runs where the compose plugin is installed, and the compose file's structure is
checked everywhere.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SECRET_NAMES = ("SECRET", "PASSWORD", "TOKEN")
ENV_REF = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(:\?[^}]*|:-[^}]*)?\}")


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text("utf-8")) if doc]


def _compose() -> dict[str, Any]:
    (doc,) = _yaml_docs(DEPLOY / "compose.yaml")
    return doc


def test_compose_runs_postgres_one_serve_and_three_workers_with_secrets_from_the_environment() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "serve", "worker"}
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["worker"]["command"][0] == "worker"
    assert services["serve"]["command"][:1] == ["serve"] and "--workers" in services["serve"]["command"]
    assert services["serve"]["command"][services["serve"]["command"].index("--workers") + 1] == "external"
    assert "healthz" in " ".join(services["serve"]["healthcheck"]["test"])
    for name in ("serve", "worker"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        # a graceful stop gets time to finish or give back the batch in hand
        assert services[name]["stop_grace_period"] == "60s"
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in SECRET_NAMES) or "postgresql" in str(value):
                assert ENV_REF.search(str(value)), f"{name}.{key} must come from the environment"


def test_docker_compose_config_validates_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here (the structure is checked above)")
    env = {
        **os.environ,
        "FERRY_PG_PASSWORD": "x",
        "DINGTALK_APP_SECRET": "x",
        "KINGDEE_APP_SECRET": "x",
    }
    done = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def _manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")) for doc in _yaml_docs(path)]


def test_kubernetes_manifests_pass_the_api_schemas_strictly() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for doc in _manifests():
        kubernetes_validate.validate(doc, "1.37.0", strict=True)


def _deployment(name: str) -> dict[str, Any]:
    (found,) = [d for d in _manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    return found


def test_kubernetes_runs_workers_and_one_serve_probed_on_healthz_and_readyz() -> None:
    workers, serve = _deployment("ferry-worker"), _deployment("ferry-serve")
    assert workers["spec"]["replicas"] >= 3
    assert serve["spec"]["replicas"] == 1
    (worker_box,) = workers["spec"]["template"]["spec"]["containers"]
    (serve_box,) = serve["spec"]["template"]["spec"]["containers"]
    assert worker_box["args"][0] == "worker"
    assert serve_box["args"][0] == "serve" and "external" in serve_box["args"]
    assert serve_box["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert serve_box["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for deployment in (workers, serve):
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def test_kubernetes_credentials_live_in_a_secret_and_every_reference_is_defined() -> None:
    docs = _manifests()
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    assert secrets == {"ferry-secrets"}
    for name in ("ferry-worker", "ferry-serve"):
        pod = _deployment(name)["spec"]["template"]["spec"]
        (box,) = pod["containers"]
        assert {ref["secretRef"]["name"] for ref in box["envFrom"]} <= secrets
        for volume in pod["volumes"]:
            assert volume["configMap"]["name"] in config_maps
    # the connections file refers to secrets, never holds them
    connections = config_maps["ferry-config"]["data"]["connections.yaml"]
    for line in connections.splitlines():
        if "secret" in line.lower():
            assert ENV_REF.search(line), line


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd" / name).read_text("utf-8"))
    return unit


@pytest.mark.parametrize(
    ("name", "command"),
    [("ferry-serve.service", "serve"), ("ferry-worker@.service", "worker")],
)
def test_systemd_units_run_ferry_stop_it_gracefully_and_read_secrets_from_a_file(
    name: str, command: str
) -> None:
    unit = _unit(name)
    service = unit["Service"]
    assert service["ExecStart"].split()[1] == command
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 30
    assert service["EnvironmentFile"].startswith("/etc/ferry/")
    assert not any(word in key.upper() for key in service for word in SECRET_NAMES)
    assert "multi-user.target" in unit["Install"]["WantedBy"]
