"""A fleet of real Kubernetes control planes: one KWOK cluster per kube context of the shipped plan.

The shipped ``rings.yaml`` names eleven kube contexts and no per-region namespace, so every region's
target is the same namespace and Deployment: one cluster cannot hold eleven regions. A :class:`Fleet`
starts one cluster per context with ``scripts/testenv start --lean`` (etcd, kube-apiserver,
kube-controller-manager with only the deployment, replicaset and serviceaccount controllers, one
KWOK fake node, no kube-scheduler), each creation serialised under the machine-wide start lock.
In every cluster it creates the namespaces and Deployments of the plan's services at a previous
image (pods bound with ``nodeName``, so no scheduler is needed), and the least-privilege RBAC of
``deploy/rbac.yaml`` for the worker. It writes two kubeconfigs whose context names are exactly the
plan's ``kube_context`` values: ``kubeconfig`` (the worker: a ServiceAccount token per cluster)
and ``admin_kubeconfig`` (the tests: KWOK's admin certificate). Readers here go straight to each
API server. What a fleet costs: ``python -m tests.support.fleet_cost``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api, RbacAuthorizationV1Api

from ringctl.core.plan import Plan, Service
from ringctl.core.planfile import load_plan
from ringctl.providers.kubernetes import ANNOTATION_REVISION, rollout_status_of
from ringctl.providers.models import RolloutState
from tests.support.kube_testenv import SCRIPT
from tests.support.polling import wait_until
from tests.support.processes import SHIPPED_PLAN

T = TypeVar("T")

#: The image every region runs before a test's release.
BASE_VERSION = "1.0.0"
#: The one fake node of each cluster (``kwokctl scale node``); pod templates name it.
NODE = "node-000000"
REPLICAS = {"checkout": 2, "payments": 1}
PROGRESS_DEADLINE_SECONDS = 15
WORKER_ACCOUNT = "ringctl-worker"
TOKEN_SECONDS = 24 * 3600
START_ATTEMPTS = 3
#: Clusters set up at once; their creations still queue on the start lock one at a time.
START_THREADS = 4
CACHE = Path(os.environ.get("RINGCTL_TESTENV_CACHE", Path.home() / ".cache" / "ringctl-testenv"))
START_LOCK = CACHE / "start.lock"
RBAC_FILE = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"


@dataclass(frozen=True)
class View:
    """One Deployment as its API server shows it."""

    image: str
    generation: int
    revision: int
    #: ReplicaSet name -> (its ``deployment.kubernetes.io/revision``, its container image).
    replica_sets: dict[str, tuple[int, str]]


@dataclass
class Cluster:
    """One region's control plane."""

    context: str
    name: str
    server: str = ""
    start_seconds: float = 0.0
    apps: AppsV1Api | None = None


@dataclass
class Fleet:
    """One KWOK cluster per kube context of ``plan``, in ``workdir``."""

    workdir: Path
    plan_path: str = SHIPPED_PLAN
    plan: Plan = field(init=False)
    clusters: dict[str, Cluster] = field(init=False, default_factory=dict)
    start_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.plan = load_plan(self.plan_path)
        for ring in [self.plan.staging, *self.plan.rings]:
            for region in ring.regions:
                if region.namespace is not None:
                    raise ValueError(f"region {region.name}: a per-region namespace is not supported here")
                self.clusters[region.kube_context] = Cluster(region.kube_context, f"fleet-{region.kube_context}")

    # -- paths and names -----------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """The worker's kubeconfig: one context per region, a least-privilege ServiceAccount token each."""
        return self.workdir / "fleet.kubeconfig"

    @property
    def admin_kubeconfig(self) -> Path:
        """The same contexts with KWOK's admin (``system:masters``) certificate, for the tests' readers."""
        return self.workdir / "fleet-admin.kubeconfig"

    def context_of(self, region: str) -> str:
        """The kube context of a region of the plan."""
        return next(
            r.kube_context for ring in [self.plan.staging, *self.plan.rings] for r in ring.regions if r.name == region
        )

    def service(self, name: str) -> Service:
        """A service of the plan."""
        return next(s for s in self.plan.services if s.name == name)

    def image(self, service: str, version: str) -> str:
        """The image a release of ``service`` at ``version`` deploys."""
        return f"{self.service(service).image}:{version}"

    def provider_args(self, *metrics: str) -> tuple[str, ...]:
        """``ringctl worker`` arguments deploying to this fleet; ``metrics`` picks the metrics source."""
        return ("--deploy-target", "kubernetes", "--kubeconfig", str(self.kubeconfig), *metrics)

    def _cluster_dir(self, cluster: Cluster) -> Path:
        return self.workdir / "kwok" / "clusters" / cluster.name

    def _own_kubeconfig(self, cluster: Cluster) -> Path:
        return self.workdir / f"{cluster.name}.kubeconfig"

    # -- start and stop ------------------------------------------------------------

    @staticmethod
    def build() -> None:
        """Build (or reuse the cached) control-plane binaries; ``RuntimeError`` if they cannot be built."""
        _testenv("build", timeout=float(os.environ.get("RINGCTL_TESTENV_BUILD_TIMEOUT", "3600")))

    def start(self) -> Fleet:
        """Start every cluster (binaries built, see :meth:`build`), write both kubeconfigs."""
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(START_THREADS) as pool:
            tokens = dict(pool.map(self._start_cluster, self.clusters.values()))
        self._write_kubeconfigs(tokens)
        for context, cluster in self.clusters.items():  # the tests read through the merged admin kubeconfig
            admin = kube_config.new_client_from_config(
                str(self.admin_kubeconfig), context=context, persist_config=False
            )
            cluster.apps = AppsV1Api(admin)
        self.start_seconds = time.monotonic() - began
        return self

    def _start_cluster(self, cluster: Cluster) -> tuple[str, str]:
        """Start one cluster (``scripts/testenv start --lean``, retried), set it up; its context and worker token."""
        began = time.monotonic()
        namespaces = ",".join(s.workload.namespace for s in self.plan.services)
        args = ["--name", cluster.name, "--workdir", str(self.workdir), "--lean", "--nodes", "1"]
        args += ["--kubeconfig", str(self._own_kubeconfig(cluster)), "--regions", namespaces]
        errors: list[str] = []
        for _ in range(START_ATTEMPTS):
            try:
                out = _testenv("start", *args, "--start-lock", str(START_LOCK), timeout=600)
                info = json.loads(out.strip().splitlines()[-1])
                break
            except (RuntimeError, ValueError, IndexError) as exc:
                errors.append(str(exc))
                _stop_quietly(cluster.name, self.workdir)
        else:
            raise RuntimeError(f"cluster {cluster.name} did not start:\n" + "\n---\n".join(errors))
        cluster.server = info["server"]
        admin = kube_config.new_client_from_config(
            info["kubeconfig"], context=info["admin_context"], persist_config=False
        )
        token = self._set_up(admin)
        cluster.start_seconds = time.monotonic() - began
        return cluster.context, token

    def _set_up(self, admin: ApiClient) -> str:
        """Create the worker's RBAC and the services' Deployments; the worker's token."""
        core, rbac, apps = CoreV1Api(admin), RbacAuthorizationV1Api(admin), AppsV1Api(admin)
        docs = [d for d in yaml.safe_load_all(RBAC_FILE.read_text()) if d]
        account, role, binding = (
            next(d for d in docs if d["kind"] == k) for k in ("ServiceAccount", "Role", "RoleBinding")
        )
        home = self.plan.services[0].workload.namespace
        core.create_namespaced_service_account(
            home, {**account, "metadata": {**account["metadata"], "namespace": home}}
        )
        for service in self.plan.services:
            ns = service.workload.namespace
            rbac.create_namespaced_role(ns, {**role, "metadata": {**role["metadata"], "namespace": ns}})
            subjects = [{**s, "namespace": home} for s in binding["subjects"]]
            rbac.create_namespaced_role_binding(
                ns, {**binding, "metadata": {**binding["metadata"], "namespace": ns}, "subjects": subjects}
            )
            apps.create_namespaced_deployment(ns, self._deployment_body(service))
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS},
        }
        token = str(core.create_namespaced_service_account_token(WORKER_ACCOUNT, home, request).status.token)
        for service in self.plan.services:
            wait_until(lambda s=service: _complete(apps, s), 60, f"{service.name} available")
        return token

    def _deployment_body(self, service: Service) -> dict[str, Any]:
        work = service.workload
        labels = {"app": work.deployment}
        container = {"name": work.container, "image": self.image(service.name, BASE_VERSION)}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": work.deployment, "namespace": work.namespace, "labels": labels},
            "spec": {
                "replicas": REPLICAS.get(service.name, 1),
                "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"nodeName": NODE, "containers": [container]}},
            },
        }

    def _write_kubeconfigs(self, tokens: dict[str, str]) -> None:
        home = self.plan.services[0].workload.namespace
        for path, admin in ((self.admin_kubeconfig, True), (self.kubeconfig, False)):
            config: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Config",
                "preferences": {},
                "clusters": [],
                "users": [],
                "contexts": [],
            }
            for context, cluster in self.clusters.items():
                own = yaml.safe_load(self._own_kubeconfig(cluster).read_text())
                user = f"{context}-{'admin' if admin else WORKER_ACCOUNT}"
                config["clusters"].append({"name": context, "cluster": own["clusters"][0]["cluster"]})
                config["users"].append(
                    {"name": user, "user": own["users"][0]["user"] if admin else {"token": tokens[context]}}
                )
                config["contexts"].append(
                    {"name": context, "context": {"cluster": context, "user": user, "namespace": home}}
                )
            config["current-context"] = next(iter(self.clusters))
            temporary = path.with_suffix(".tmp")
            temporary.write_text(yaml.safe_dump(config))
            temporary.chmod(0o600)
            temporary.replace(path)

    def stop(self) -> None:
        """Delete every cluster and kill what is left of its processes."""
        with ThreadPoolExecutor(START_THREADS) as pool:
            list(pool.map(lambda c: _stop_quietly(c.name, self.workdir), self.clusters.values()))

    # -- reading the API servers ---------------------------------------------------

    def apps(self, context: str) -> AppsV1Api:
        """An admin client of one region's API server."""
        apps = self.clusters[context].apps
        assert apps is not None, f"cluster {context} not started"
        return apps

    def view(self, context: str, service: str) -> View:
        """``service``'s Deployment in one region, with its ReplicaSets, straight from the API server."""
        work = self.service(service).workload
        apps = self.apps(context)
        deployment = _dict(apps, apps.read_namespaced_deployment(work.deployment, work.namespace))
        uid = deployment["metadata"]["uid"]
        replica_sets = {
            rs["metadata"]["name"]: (_revision(rs), rs["spec"]["template"]["spec"]["containers"][0]["image"])
            for rs in _dict(apps, apps.list_namespaced_replica_set(work.namespace))["items"]
            if any(ref["uid"] == uid for ref in rs["metadata"].get("ownerReferences") or [])
        }
        containers = deployment["spec"]["template"]["spec"]["containers"]
        image = next(c["image"] for c in containers if c["name"] == work.container)
        return View(image, deployment["metadata"]["generation"], _revision(deployment), replica_sets)

    def views(self, service: str, contexts: Iterable[str] | None = None) -> dict[str, View]:
        """:meth:`view` of every (or the given) region, keyed by kube context."""
        wanted = list(contexts) if contexts is not None else list(self.clusters)
        return dict(zip(wanted, _parallel(lambda c: self.view(c, service), wanted), strict=True))

    def reset(self) -> None:
        """Put every region's Deployments back on the base image and wait until they are rolled out."""

        def one(context: str) -> None:
            apps = self.apps(context)
            for service in self.plan.services:
                work = service.workload
                base = self.image(service.name, BASE_VERSION)
                if self.view(context, service.name).image != base:
                    patch = {"spec": {"template": {"spec": {"containers": [{"name": work.container, "image": base}]}}}}
                    apps.patch_namespaced_deployment(work.deployment, work.namespace, patch)
                wait_until(lambda s=service: _complete(apps, s), 60, f"{service.name} in {context} rolled out")

        _parallel(one, list(self.clusters))

    # -- breaking a region ---------------------------------------------------------

    def apiserver_pid(self, context: str) -> int:
        """The PID of one region's kube-apiserver, from kwokctl's pid file (checked against /proc)."""
        cluster_dir = self._cluster_dir(self.clusters[context])
        pid = int((cluster_dir / "pids" / "kube-apiserver.pid").read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert os.path.basename(argv[0]) == b"kube-apiserver" and str(cluster_dir).encode() in b" ".join(argv), pid
        return pid

    def signal_apiserver(self, context: str, sig: signal.Signals) -> int:
        """Send ``sig`` to one region's kube-apiserver (SIGSTOP freezes it, SIGCONT thaws it); its PID."""
        pid = self.apiserver_pid(context)
        os.kill(pid, sig)
        return pid

    def kill_apiserver(self, context: str) -> None:
        """SIGKILL one region's kube-apiserver and wait until it is gone."""
        pid = self.signal_apiserver(context, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10, f"kube-apiserver {pid} gone")

    def restart_apiserver(self, context: str) -> None:
        """Start what is missing of one region's control plane (``kwokctl start cluster``); wait until it serves."""
        cluster = self.clusters[context]
        state = json.loads((self.workdir / f"{cluster.name}.state.json").read_text())
        env = {
            **os.environ,
            "KWOK_WORKDIR": str(self.workdir / "kwok"),
            "PATH": f"{state['bin_dir']}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        subprocess.run(
            [
                str(Path(state["bin_dir"]) / "kwokctl"),
                "--config",
                str(self.workdir / f"{cluster.name}.kwok.yaml"),
                "--name",
                cluster.name,
                "start",
                "cluster",
                "--wait",
                "60s",
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        wait_until(lambda: _answers(self.apps(context)), 60, f"the API server of {context}")

    def component_pids(self) -> dict[str, int]:
        """``context/component`` -> PID of every control-plane process of the fleet (kwokctl's pid files)."""
        return {
            f"{c.context}/{f.stem}": int(f.read_text())
            for c in self.clusters.values()
            for f in (self._cluster_dir(c) / "pids").glob("*.pid")
        }


def _testenv(*args: str, timeout: float) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-40:])
        raise RuntimeError(f"scripts/testenv {' '.join(args)} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _stop_quietly(name: str, workdir: Path) -> None:
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        _testenv("stop", "--name", name, "--workdir", str(workdir), timeout=300)


def _complete(apps: AppsV1Api, service: Service) -> bool:
    work = service.workload
    deployment = _dict(apps, apps.read_namespaced_deployment(work.deployment, work.namespace))
    return rollout_status_of(deployment).state is RolloutState.COMPLETE


def _dict(apps: AppsV1Api, obj: Any) -> dict[str, Any]:
    """An API object as the API server's JSON."""
    result: dict[str, Any] = apps.api_client.sanitize_for_serialization(obj)
    return result


def _revision(obj: dict[str, Any]) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(ANNOTATION_REVISION, 0))


def _answers(apps: AppsV1Api) -> bool:
    try:
        apps.list_namespaced_deployment("default", _request_timeout=3)
        return True
    except Exception:  # noqa: BLE001 - not serving yet, whatever the reason
        return False


def _parallel(call: Callable[[str], T], items: list[str]) -> list[T]:
    with ThreadPoolExecutor(len(items) or 1) as pool:
        return list(pool.map(call, items))
