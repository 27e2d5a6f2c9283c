"""KubernetesDeployTarget against a real control plane (``scripts/testenv``: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK fake nodes), and RingRelease on top of it.

The control plane is the session's (``kube``, :mod:`tests.support.kube_cluster`). Each test
creates Deployments of its own name with the admin context.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import config as kube_config
from kubernetes.client import (
    ApiClient,
    AppsV1Api,
    AuthorizationV1Api,
    CoreV1Api,
    RbacAuthorizationV1Api,
)
from kubernetes.client.exceptions import ApiException
from temporalio.client import Client

from ringctl.client.lookup import ended_status
from ringctl.client.releases import start_release
from ringctl.core.errors import ConfigError, TransientError
from ringctl.providers.kubernetes import (
    ANNOTATION_PREVIOUS_IMAGE,
    ANNOTATION_RELEASE_ID,
    ANNOTATION_REVISION,
    ANNOTATION_REVISION_HISTORY,
    KubernetesDeployTarget,
    _translated,
)
from ringctl.providers.models import DeployInput, RolloutState, RolloutStatus, Target, UndoRecord
from ringctl.providers.sandbox import ANY_VERSION, SandboxWorld
from ringctl.workflows.models import RegionState, ReleaseState, ReleaseStatus, RingState
from tests.support.kube_cluster import REGIONS
from tests.support.plans import SERVICE, make_plan, region, ring
from tests.support.polling import wait_until
from tests.support.workers import sandbox_worker

OLD = "registry.example.com/checkout:1.0.0"
NEW = "registry.example.com/checkout:2.0.0"
RELEASE = "checkout@2.0.0"
REPO_ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


# -- the control plane (the session's ``kube`` fixture, tests/support/kube_cluster.py) --------------


@pytest.fixture(scope="module")
def admin(kube: dict[str, Any]) -> ApiClient:
    """An API client with the admin identity (cluster-admin)."""
    return kube_config.new_client_from_config(kube["kubeconfig"], context=kube["admin_context"], persist_config=False)


@pytest.fixture(scope="module")
def provider(kube: dict[str, Any]) -> KubernetesDeployTarget:
    """The provider under test, with the testenv's kubeconfig (one context per region)."""
    return KubernetesDeployTarget(kubeconfig=kube["kubeconfig"])


@pytest.fixture
def make_deployment(admin: ApiClient) -> Callable[..., str]:
    """Create a fresh ``checkout``-like Deployment (2 replicas, 10 s progress deadline) in namespaces; wait until available."""
    apps = AppsV1Api(admin)

    def create(*namespaces: str) -> str:
        name = f"checkout-{uuid.uuid4().hex[:6]}"
        for namespace in namespaces:
            apps.create_namespaced_deployment(namespace, deployment_body(name))
        for namespace in namespaces:
            wait_until(lambda ns=namespace: rollout(admin, ns, name).state is RolloutState.COMPLETE, 30)
        return name

    return create


def deployment_body(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 10,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": OLD}]},
            },
        },
    }


# -- helpers -------------------------------------------------------------------------


def target(namespace: str, deployment: str, *, context: str | None = None, container: str = "app") -> Target:
    """A region target whose context and namespace are named like the region."""
    return Target(
        region=namespace,
        kube_context=context or namespace,
        namespace=namespace,
        deployment=deployment,
        container=container,
    )


def deploy_input(where: Target, image: str = NEW, release_id: str = RELEASE) -> DeployInput:
    return DeployInput(
        target=where, release_id=release_id, service=SERVICE, version=image.rpartition(":")[2], image=image
    )


def retrying(call: Callable[[], T], attempts: int = 20) -> T:
    """Retry on TransientError, as Temporal's retry policy would."""
    for _ in range(attempts - 1):
        try:
            return call()
        except TransientError:
            time.sleep(0.3)
    return call()


def wait_rollout(
    provider: KubernetesDeployTarget, where: Target, timeout: float = 40
) -> tuple[RolloutStatus, list[str]]:
    """Poll ``rollout_status`` until it is not progressing; return it and the progress messages seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        status = provider.rollout_status(where)
        if status.state is not RolloutState.PROGRESSING:
            return status, seen
        seen.append(status.message)
        if time.monotonic() > deadline:
            raise AssertionError(f"rollout still progressing after {timeout}s: {seen[-3:]}")
        time.sleep(0.2)


def rollout(admin: ApiClient, namespace: str, name: str) -> RolloutStatus:
    from ringctl.providers.kubernetes import rollout_status_of

    return rollout_status_of(
        admin.sanitize_for_serialization(AppsV1Api(admin).read_namespaced_deployment(name, namespace))
    )


def deployment(admin: ApiClient, namespace: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = admin.sanitize_for_serialization(
        AppsV1Api(admin).read_namespaced_deployment(name, namespace)
    )
    return result


def image_of(admin: ApiClient, namespace: str, name: str) -> str:
    return str(deployment(admin, namespace, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def replica_sets(admin: ApiClient, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    """The Deployment's ReplicaSets by revision: image, replicas, annotations, name."""
    listed = admin.sanitize_for_serialization(
        AppsV1Api(admin).list_namespaced_replica_set(namespace, label_selector=f"app={name}")
    )
    result = {}
    for rs in listed["items"]:
        annotations = rs["metadata"].get("annotations") or {}
        result[annotations[ANNOTATION_REVISION]] = {
            "name": rs["metadata"]["name"],
            "image": rs["spec"]["template"]["spec"]["containers"][0]["image"],
            "replicas": rs["spec"].get("replicas", 0),
            "ready": (rs.get("status") or {}).get("readyReplicas", 0),
            "annotations": annotations,
        }
    return result


def pods_ready(admin: ApiClient, namespace: str, name: str) -> list[str]:
    """Images of the Deployment's pods, if every one (not terminating) is Ready; else an empty list."""
    pods = admin.sanitize_for_serialization(
        CoreV1Api(admin).list_namespaced_pod(namespace, label_selector=f"app={name}")
    )
    live = [p for p in pods["items"] if "deletionTimestamp" not in p["metadata"]]
    ready = all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions", []))
        for p in live
    )
    return sorted(p["spec"]["containers"][0]["image"] for p in live) if ready else []


def set_paused(admin: ApiClient, namespace: str, name: str, paused: bool) -> None:
    AppsV1Api(admin).patch_namespaced_deployment(
        name, namespace, {"spec": {"paused": paused}}, _content_type="application/strategic-merge-patch+json"
    )


# -- the provider on a real control plane ----------------------------------------------


def test_deploy_sets_image_creates_replicaset_and_rollout_completes(
    provider: KubernetesDeployTarget, admin: ApiClient, make_deployment: Callable[..., str]
) -> None:
    name = make_deployment("eu-west-1")
    where = target("eu-west-1", name)

    undo = retrying(lambda: provider.deploy(deploy_input(where)))
    assert undo == UndoRecord(
        target=where,
        release_id=RELEASE,
        previous_image=OLD,
        previous_revision=1,
        new_image=NEW,
        changed=True,
        previous_version="1.0.0",
    )
    live = deployment(admin, "eu-west-1", name)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    annotations = live["metadata"]["annotations"]
    assert annotations[ANNOTATION_RELEASE_ID] == RELEASE
    assert annotations["ringctl.io/version"] == "2.0.0"
    assert annotations[ANNOTATION_PREVIOUS_IMAGE] == OLD
    assert annotations["ringctl.io/previous-revision"] == "1"
    assert RELEASE in annotations["kubernetes.io/change-cause"]
    assert "annotations" not in live["spec"]["template"]["metadata"], "the pod template is never annotated"

    status, seen = wait_rollout(provider, where)
    assert status == RolloutStatus(state=RolloutState.COMPLETE, message=f"deployment {name!r} successfully rolled out")
    assert all("replicas" in m or "observed" in m for m in seen), seen

    sets = replica_sets(admin, "eu-west-1", name)
    assert sets["2"]["image"] == NEW and sets["2"]["replicas"] == 2 and sets["2"]["ready"] == 2
    assert sets["1"]["image"] == OLD and sets["1"]["replicas"] == 0
    assert sets["2"]["annotations"][ANNOTATION_RELEASE_ID] == RELEASE, "the controller copies our annotations"
    wait_until(lambda: pods_ready(admin, "eu-west-1", name) == [NEW, NEW], 20)  # KWOK marks the new pods Ready


def test_undo_records_name_the_previous_version_also_after_a_digest_image(
    provider: KubernetesDeployTarget, admin: ApiClient, make_deployment: Callable[..., str]
) -> None:
    name = make_deployment("eu-west-1")
    where = target("eu-west-1", name)
    repository = OLD.rpartition(":")[0]
    digest = f"{repository}@sha256:" + "a" * 64
    by_digest = DeployInput(target=where, release_id="checkout@3.0.0", service=SERVICE, version="3.0.0", image=digest)

    first = retrying(lambda: provider.deploy(deploy_input(where)))
    assert first.previous_version == "1.0.0", "a Deployment ringctl never annotated: the image's tag"
    second = retrying(lambda: provider.deploy(by_digest))
    assert second.previous_version == "2.0.0", "ringctl's annotation of the image it deployed"
    assert provider.deploy(by_digest) == second, "a retried deploy returns the recorded previous version"
    third = retrying(lambda: provider.deploy(deploy_input(where, f"{repository}:4.0.0", "checkout@4.0.0")))
    assert third.previous_version == "3.0.0", "a digest names no version: ringctl's annotation does"

    set_by_hand = f"{repository}@sha256:" + "b" * 64
    AppsV1Api(admin).patch_namespaced_deployment(
        name,
        "eu-west-1",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": set_by_hand}]}}}},
        _content_type="application/strategic-merge-patch+json",
    )
    fifth = retrying(lambda: provider.deploy(deploy_input(where, f"{repository}:5.0.0", "checkout@5.0.0")))
    assert fifth.previous_image == set_by_hand
    assert fifth.previous_version is None, "an image set by hand since: ringctl's annotation no longer describes it"


def test_rollout_that_cannot_complete_is_reported_failed_with_the_reason(
    provider: KubernetesDeployTarget, admin: ApiClient, make_deployment: Callable[..., str]
) -> None:
    name = make_deployment("canary-1")
    where = target("canary-1", name)
    # Version 2.0.0 needs a node pool no node has: pause, change the nodeSelector, deploy, resume.
    set_paused(admin, "canary-1", name, True)
    AppsV1Api(admin).patch_namespaced_deployment(
        name,
        "canary-1",
        {"spec": {"template": {"spec": {"nodeSelector": {"ringctl.test/pool": "nowhere"}}}}},
        _content_type="application/strategic-merge-patch+json",
    )
    undo = retrying(lambda: provider.deploy(deploy_input(where)))
    assert undo.previous_revision == 1 and undo.changed
    paused = provider.rollout_status(where)
    assert paused.state is RolloutState.PROGRESSING and "paused" in paused.message, "kubectl keeps waiting while paused"
    set_paused(admin, "canary-1", name, False)

    started = time.monotonic()
    status, seen = wait_rollout(provider, where, timeout=40)
    assert status.state is RolloutState.FAILED
    assert "exceeded its progress deadline" in status.message and "ProgressDeadlineExceeded" in status.message
    assert 5 < time.monotonic() - started < 35, "reported once the 10 s progress deadline has passed"
    assert any("updated replicas are available" in m or "new replicas have been updated" in m for m in seen), seen

    result = retrying(lambda: provider.rollback(undo))
    assert result.changed and result.image == OLD
    status, _ = wait_rollout(provider, where)
    assert status.state is RolloutState.COMPLETE, "the restored revision has no nodeSelector and completes"
    assert "nodeSelector" not in deployment(admin, "canary-1", name)["spec"]["template"]["spec"]


def test_rollback_restores_the_previous_replicaset_and_image(
    provider: KubernetesDeployTarget, admin: ApiClient, make_deployment: Callable[..., str]
) -> None:
    name = make_deployment("us-east-1")
    where = target("us-east-1", name)
    undo = retrying(lambda: provider.deploy(deploy_input(where)))
    assert wait_rollout(provider, where)[0].state is RolloutState.COMPLETE
    before = replica_sets(admin, "us-east-1", name)

    result = retrying(lambda: provider.rollback(undo))
    assert result.region == "us-east-1" and result.changed and result.image == OLD
    assert wait_rollout(provider, where)[0].state is RolloutState.COMPLETE

    live = deployment(admin, "us-east-1", name)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == OLD
    assert "pod-template-hash" not in live["spec"]["template"]["metadata"]["labels"]
    assert live["metadata"]["annotations"][ANNOTATION_REVISION] == "3"
    assert ANNOTATION_RELEASE_ID not in live["metadata"]["annotations"], "annotations come back from the old ReplicaSet"
    after = replica_sets(admin, "us-east-1", name)
    assert set(after) == {"2", "3"}, "the revision-1 ReplicaSet is reused, not recreated"
    assert after["3"]["name"] == before["1"]["name"]
    assert after["3"]["annotations"][ANNOTATION_REVISION_HISTORY] == "1"
    assert after["3"]["image"] == OLD and after["3"]["replicas"] == 2
    assert after["2"]["replicas"] == 0


def test_deploy_twice_and_rollback_twice_are_idempotent(
    provider: KubernetesDeployTarget, admin: ApiClient, make_deployment: Callable[..., str]
) -> None:
    name = make_deployment("staging-1")
    where = target("staging-1", name)
    first = retrying(lambda: provider.deploy(deploy_input(where)))
    generation = deployment(admin, "staging-1", name)["metadata"]["generation"]

    again = provider.deploy(deploy_input(where))
    assert again == first, "a retried deploy of the same release returns the recorded undo record"
    other = provider.deploy(deploy_input(where, release_id="checkout@2.0.0-rerun"))
    assert not other.changed and other.previous_image == NEW, "another release finds nothing to change"
    assert deployment(admin, "staging-1", name)["metadata"]["generation"] == generation, "nothing was patched"
    assert wait_rollout(provider, where)[0].state is RolloutState.COMPLETE
    assert set(replica_sets(admin, "staging-1", name)) == {"1", "2"}

    assert retrying(lambda: provider.rollback(first)).changed
    second = provider.rollback(first)
    assert not second.changed and second.image == OLD
    assert provider.rollback(other).changed is False, "the undo record of a no-op deploy restores nothing"
    assert wait_rollout(provider, where)[0].state is RolloutState.COMPLETE
    assert image_of(admin, "staging-1", name) == OLD
    assert set(replica_sets(admin, "staging-1", name)) == {"2", "3"}


def test_rollback_of_a_paused_deployment_is_refused(
    provider: KubernetesDeployTarget, admin: ApiClient, make_deployment: Callable[..., str]
) -> None:
    name = make_deployment("eu-west-1")
    where = target("eu-west-1", name)
    undo = retrying(lambda: provider.deploy(deploy_input(where)))
    assert wait_rollout(provider, where)[0].state is RolloutState.COMPLETE
    set_paused(admin, "eu-west-1", name, True)
    with pytest.raises(
        ConfigError,
        match=f"cannot roll back deployment {name} in namespace eu-west-1 of region eu-west-1: it is paused",
    ):
        provider.rollback(undo)
    assert image_of(admin, "eu-west-1", name) == NEW
    set_paused(admin, "eu-west-1", name, False)
    assert retrying(lambda: provider.rollback(undo)).changed


def test_errors_name_the_region_and_object(
    provider: KubernetesDeployTarget, make_deployment: Callable[..., str]
) -> None:
    name = make_deployment("us-east-1")
    with pytest.raises(
        ConfigError, match=r"region us-east-1: unknown kube context 'atlantis'; the kubeconfig has: .*canary-1"
    ):
        provider.deploy(deploy_input(target("us-east-1", name, context="atlantis")))
    with pytest.raises(ConfigError, match="region us-east-1 .*deployment nope not found in namespace us-east-1"):
        provider.deploy(deploy_input(target("us-east-1", "nope")))
    with pytest.raises(ConfigError, match=f"deployment {name} not found in namespace no-such-namespace"):
        provider.rollout_status(
            Target(
                region="us-east-1",
                kube_context="us-east-1",
                namespace="no-such-namespace",
                deployment=name,
                container="app",
            )
        )
    with pytest.raises(
        ConfigError,
        match=f"region us-east-1: deployment {name} in namespace us-east-1 has no container 'sidecar' \\(it has: app\\)",
    ):
        provider.deploy(deploy_input(target("us-east-1", name, container="sidecar")))


def test_unreachable_api_server_is_transient(tmp_path: Path, kube: dict[str, Any]) -> None:
    config = yaml.safe_load(Path(kube["kubeconfig"]).read_text())
    cluster = config["clusters"][0]
    cluster["cluster"]["server"] = "https://127.0.0.1:1"  # nothing listens there
    config["contexts"] = [
        {
            "name": "down",
            "context": {"cluster": cluster["name"], "user": config["users"][0]["name"], "namespace": "down"},
        }
    ]
    config["current-context"] = "down"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(TransientError, match="region down .*unreachable"):
        KubernetesDeployTarget(str(path)).rollout_status(target("down", "checkout"))


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (409, TransientError, "Operation cannot be fulfilled"),
        (429, TransientError, "Operation cannot be fulfilled"),
        (503, TransientError, "Operation cannot be fulfilled"),
        (
            403,
            ConfigError,
            "forbidden: the worker's credentials in context eu-west-1 may not patch deployments in namespace eu-west-1",
        ),
        (404, ConfigError, "deployment checkout not found in namespace eu-west-1"),
    ],
)
def test_api_errors_are_translated(status: int, error: type[Exception], text: str) -> None:
    exc = ApiException(status=status, reason="x", body='{"kind": "Status", "message": "Operation cannot be fulfilled"}')
    with pytest.raises(error, match=text), _translated(target("eu-west-1", "checkout"), "patch"):
        raise exc


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, ConfigError), (400, ConfigError), (404, ConfigError), (409, TransientError), (500, TransientError)],
)
def test_an_admission_webhook_denial_is_reported_as_one(status: int, error: type[Exception]) -> None:
    denial = 'admission webhook "policy.example.com" denied the request: images must come from registry.example.com'
    exc = ApiException(status=status, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "message": denial, "code": status})
    with pytest.raises(error) as caught, _translated(target("eu-west-1", "checkout"), "patch"):
        raise exc
    message = str(caught.value)
    assert message.endswith(f"patch deployments in namespace eu-west-1 denied by admission webhook: {denial}")
    assert "credentials" not in message and "not found" not in message


# -- least privilege --------------------------------------------------------------------


def test_rbac_least_privilege(
    tmp_path: Path, kube: dict[str, Any], admin: ApiClient, make_deployment: Callable[..., str]
) -> None:
    allowed, other = "us-east-1", "canary-1"
    name = make_deployment(allowed, other)
    docs = [doc for doc in yaml.safe_load_all((REPO_ROOT / "deploy" / "rbac.yaml").read_text()) if doc]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    rules = {(tuple(r["resources"]), tuple(r["verbs"])) for r in docs[1]["rules"]}
    assert rules == {(("deployments",), ("get", "list", "watch", "patch")), (("replicasets",), ("get", "list"))}
    for doc in docs:
        doc["metadata"]["namespace"] = allowed
        for subject in doc.get("subjects", []):
            subject["namespace"] = allowed
    core, rbac = CoreV1Api(admin), RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account(allowed, docs[0])
    rbac.create_namespaced_role(allowed, docs[1])
    rbac.create_namespaced_role_binding(allowed, docs[2])
    token = core.create_namespaced_service_account_token(
        "ringctl-worker",
        allowed,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
    ).status.token

    config = yaml.safe_load(Path(kube["kubeconfig"]).read_text())
    cluster = next(c for c in config["clusters"])
    worker_config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "ringctl-worker", "user": {"token": token}}],
        "contexts": [
            {"name": ns, "context": {"cluster": cluster["name"], "user": "ringctl-worker", "namespace": ns}}
            for ns in (allowed, other)
        ],
        "current-context": allowed,
    }
    path = tmp_path / "worker-kubeconfig"
    path.write_text(yaml.safe_dump(worker_config))
    worker = kube_config.new_client_from_config(str(path), context=allowed, persist_config=False)

    def can(verb: str, resource: str, namespace: str) -> bool:
        review = AuthorizationV1Api(worker).create_self_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {"group": "apps", "resource": resource, "verb": verb, "namespace": namespace}
                },
            }
        )
        return bool(review.status.allowed)

    wait_until(lambda: can("patch", "deployments", allowed), 10)  # the authorizer's cache catches up
    assert not can("create", "deployments", allowed) and not can("delete", "deployments", allowed)
    assert not can("patch", "replicasets", allowed) and not can("patch", "deployments", other)

    provider = KubernetesDeployTarget(kubeconfig=str(path))
    where = target(allowed, name)
    undo = retrying(lambda: provider.deploy(deploy_input(where)))
    assert undo.changed and image_of(admin, allowed, name) == NEW
    assert wait_rollout(provider, where)[0].state is RolloutState.COMPLETE
    assert retrying(lambda: provider.rollback(undo)).changed
    assert wait_rollout(provider, where)[0].state is RolloutState.COMPLETE
    assert image_of(admin, allowed, name) == OLD

    with pytest.raises(
        ConfigError,
        match=f"forbidden: the worker's credentials in context {other} may not get deployments in namespace {other}",
    ):
        provider.deploy(deploy_input(target(other, name)))
    with pytest.raises(ApiException) as refused:  # a write outside the allowed namespace, straight to the API
        AppsV1Api(worker).patch_namespaced_deployment(
            name,
            other,
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": NEW}]}}}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert refused.value.status == 403
    with pytest.raises(ApiException) as refused:  # and a verb the Role does not grant, inside it
        AppsV1Api(worker).delete_namespaced_deployment(name, allowed)
    assert refused.value.status == 403
    assert image_of(admin, other, name) == OLD


# -- RingRelease on Kubernetes -------------------------------------------------------------


def kube_plan(deployment_name: str, **ring_extra: Any) -> Any:
    """Staging and two rings over four regions (contexts), each region in its own namespace."""

    def kregion(name: str) -> dict[str, Any]:
        return region(name, namespace=name)

    return make_plan(
        services=[
            {
                "name": SERVICE,
                "image": "registry.example.com/checkout",
                "workload": {"namespace": "checkout", "deployment": deployment_name, "container": "app"},
            }
        ],
        staging=ring("staging", kregion("staging-1"), rollout_timeout="60s"),
        rings=[
            ring("canary", kregion("canary-1"), rollout_timeout="60s"),
            ring(
                "wide", kregion("us-east-1"), kregion("eu-west-1"), max_parallel=2, rollout_timeout="60s", **ring_extra
            ),
        ],
    )


async def release_on_kubernetes(
    client: Client, task_queue: str, world: SandboxWorld, kubeconfig: str, name: str
) -> ReleaseStatus:
    """Run a release of ``name`` to its end with the Kubernetes provider and sandbox metrics."""
    async with sandbox_worker(client, task_queue, world, KubernetesDeployTarget(kubeconfig)):
        handle = await start_release(
            client, kube_plan(name), service=SERVICE, version="2.0.0", started_by="ci-pipeline", task_queue=task_queue
        )
        return await ended_status(handle, rpc_timeout=None)


async def test_ring_release_completes_on_kubernetes(
    client: Client,
    task_queue: str,
    world: SandboxWorld,
    kube: dict[str, Any],
    admin: ApiClient,
    make_deployment: Callable[..., str],
) -> None:
    name = make_deployment(*REGIONS)
    status = await release_on_kubernetes(client, task_queue, world, kube["kubeconfig"], name)

    assert status.state is ReleaseState.COMPLETED, status.reason
    assert [r.state for r in status.rings] == [RingState.PROMOTED] * 3
    for namespace in REGIONS:
        assert image_of(admin, namespace, name) == NEW
        assert rollout(admin, namespace, name).state is RolloutState.COMPLETE
        assert replica_sets(admin, namespace, name)["2"]["annotations"][ANNOTATION_RELEASE_ID] == RELEASE
    deploys = [e.detail for e in status.events if e.action == "deploy"]
    assert deploys == [f"{OLD} -> {NEW}"] * 4


async def test_ring_release_breach_in_last_ring_rolls_every_region_back_on_kubernetes(
    client: Client,
    task_queue: str,
    world: SandboxWorld,
    kube: dict[str, Any],
    admin: ApiClient,
    make_deployment: Callable[..., str],
) -> None:
    name = make_deployment(*REGIONS)
    world.scenario.bad_gates["eu-west-1"] = {ANY_VERSION}
    status = await release_on_kubernetes(client, task_queue, world, kube["kubeconfig"], name)

    assert status.state is ReleaseState.ROLLED_BACK, status.reason
    assert "gate breach: error-ratio in eu-west-1" in status.reason
    assert [r.state for r in status.rings] == [RingState.ROLLED_BACK] * 3
    assert all(r.state is RegionState.ROLLED_BACK for ring_ in status.rings for r in ring_.regions)
    rolled_back = [e.region for e in status.events if e.action == "region_rolled_back"]
    assert set(rolled_back[:2]) == {"us-east-1", "eu-west-1"} and rolled_back[2:] == ["canary-1", "staging-1"]
    for namespace in REGIONS:
        assert image_of(admin, namespace, name) == OLD, namespace
        wait_until(lambda ns=namespace: rollout(admin, ns, name).state is RolloutState.COMPLETE, 30)
        sets = replica_sets(admin, namespace, name)
        assert set(sets) == {"2", "3"}, f"{namespace}: the original ReplicaSet came back as revision 3"
        assert sets["3"]["image"] == OLD and sets["3"]["annotations"][ANNOTATION_REVISION_HISTORY] == "1"
        assert sets["3"]["replicas"] == 2 and sets["2"]["replicas"] == 0 and sets["2"]["image"] == NEW
