"""deploy/: the worker's image and manifests, as a platform team would apply and run them.

The overlay is rendered with ``kubectl kustomize`` (built from the Go module proxy with the control
plane) and every object is applied to a real kube-apiserver with server-side dry-run; the rendered
Deployment's arguments and environment start a real ``ringctl worker`` (through the mTLS proxy).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.cli_runs import RINGCTL
from tests.support.kube_testenv import kubectl_binary
from tests.support.polling import wait_until
from tests.support.prometheus_server import free_port
from tests.support.tls_proxy import MtlsProxy

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "worker" / "overlays" / "example"
DOCKERFILE = ROOT / "deploy" / "worker" / "Dockerfile"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """The example overlay as ``kubectl kustomize`` renders it."""
    done = subprocess.run([kubectl_binary(), "kustomize", str(OVERLAY)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def test_dockerfile_builds_from_the_wheel_into_a_non_root_image_without_build_tools() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "a build stage and a run stage"
    build, final = stages
    assert "pip wheel" in build and "COPY --from=build /wheels /wheels" in final
    assert re.search(r"^USER 10001:10001$", final, flags=re.M)
    assert "--no-index" in final and "pip uninstall --yes pip setuptools wheel" in final
    assert not re.search(r"apt-get|gcc|build-essential", final)
    assert 'ENTRYPOINT ["ringctl"]' in final
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", build, flags=re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which is not in the repository"


def test_every_object_is_accepted_by_a_real_api_server(kube: dict[str, Any], rendered: list[dict[str, Any]]) -> None:
    kubectl = [kubectl_binary(), "--kubeconfig", kube["kubeconfig"], "--context", kube["admin_context"]]
    namespace = _one(rendered, "Namespace")
    subprocess.run([*kubectl, "apply", "-f", "-"], input=yaml.safe_dump(namespace), text=True, check=True)
    others = [o for o in rendered if o["kind"] != "Namespace"]
    applied = subprocess.run(
        [*kubectl, "apply", "--server-side", "--dry-run=server", "-f", "-"],
        input=yaml.safe_dump_all(others),
        capture_output=True,
        text=True,
    )
    assert applied.returncode == 0, applied.stderr
    for kind in ("serviceaccount", "deployment.apps", "poddisruptionbudget.policy", "networkpolicy.networking.k8s.io"):
        assert f"{kind}/ringctl-worker serverside-applied (server dry run)" in applied.stdout, applied.stdout


def test_the_worker_runs_restricted_with_probes_on_its_health_endpoint(rendered: list[dict[str, Any]]) -> None:
    assert _one(rendered, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert "--health-bind=0.0.0.0:8080" in container["args"] and "--metrics-bind=0.0.0.0:9464" in container["args"]
    assert pod["terminationGracePeriodSeconds"] > 25, "longer than the worker's graceful shutdown"
    assert "limits" in container["resources"] and "requests" in container["resources"]
    assert _one(rendered, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert set(_one(rendered, "NetworkPolicy")["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # RBAC: the worker has none in its own cluster (it reaches regions through deploy/rbac.yaml there)
    assert not [o for o in rendered if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]


def test_the_worker_starts_with_exactly_the_deployments_arguments_and_environment(
    rendered: list[dict[str, Any]], kube: dict[str, Any], mtls_proxy: MtlsProxy, tmp_path: Path
) -> None:
    """Mount paths under /etc/ringctl/ are mapped into a temporary directory; everything else is as rendered."""
    etc = tmp_path / "etc-ringctl"
    mounts = {"kubeconfig/config": Path(kube["kubeconfig"])}
    for name in ("tls.crt", "tls.key", "ca.crt"):
        source = {"tls.crt": "client.crt", "tls.key": "client.key", "ca.crt": "ca.crt"}[name]
        mounts[f"temporal-tls/{name}"] = mtls_proxy.certificates.path(source)
    for relative, source in mounts.items():
        (etc / relative).parent.mkdir(parents=True, exist_ok=True)
        (etc / relative).write_bytes(source.read_bytes())

    def mapped(value: str) -> str:
        return value.replace("/etc/ringctl/", f"{etc}/")

    [container] = _one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    config = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "ConfigMap"}
    [temporal] = [c for name, c in config.items() if name.startswith("ringctl-temporal")]
    env = {e["name"]: mapped(e["value"]) for e in container["env"]} | temporal["data"]
    env["TEMPORAL_ADDRESS"] = mtls_proxy.address  # the one value that must point at this test's Temporal
    env["TEMPORAL_NAMESPACE"] = "default"
    health, metrics = free_port(), free_port()
    args = [
        mapped(a).replace("0.0.0.0:8080", f"127.0.0.1:{health}").replace("0.0.0.0:9464", f"127.0.0.1:{metrics}")
        for a in container["args"]
    ]
    log = tmp_path / "worker.log"
    with open(log, "ab") as out:
        worker = subprocess.Popen(
            [RINGCTL, *args], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:
        wait_until(lambda: "worker polling" in log.read_text() or worker.poll() is not None, 30, "the worker")
        assert worker.poll() is None, log.read_text()
        ready = wait_until(lambda: _get(f"http://127.0.0.1:{health}/readyz"), 20, "/readyz")
        assert ready == "ok"
        assert "temporal_" in httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5).text
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()


def _get(url: str) -> str | None:
    try:
        answer = httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return None
    return answer.text if answer.status_code == 200 else None
