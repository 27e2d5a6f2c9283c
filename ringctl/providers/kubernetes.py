"""The production :class:`~ringctl.providers.interfaces.DeployTarget`: a Deployment per region, via kubeconfig contexts.

Each region is a kubeconfig context plus a namespace. :meth:`KubernetesDeployTarget.deploy`
sets the image of one container of the service's Deployment with a strategic-merge patch
(guarded by the ``resourceVersion`` it read, so a concurrent writer makes it retry) and
annotates the Deployment - never its pod template, which would change the template hash -
with the release id, the version and image, and the previous image, version and revision.
:meth:`~KubernetesDeployTarget.rollout_status` applies the rules of ``kubectl rollout status``
(kubectl's ``polymorphichelpers/rollout_status.go``) and
:meth:`~KubernetesDeployTarget.rollback` those of ``kubectl rollout undo --to-revision``
(``polymorphichelpers/rollback.go``), reading the Deployment with
:mod:`~ringctl.providers.kubernetes_objects`. One API client per context is created on
first use and reused. Kubernetes errors are translated here: input that can never work (unknown
context, missing namespace, Deployment or container, forbidden, denied by an admission webhook)
becomes :class:`~ringctl.core.errors.ConfigError`; conflicts, throttling, 5xx, timeouts and connection
errors become :class:`~ringctl.core.errors.TransientError`, which Temporal retries with backoff.
Credentials and kubeconfig contents are never logged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import structlog
import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, AppsV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ringctl.core.errors import ConfigError, TransientError
from ringctl.core.versions import image_tag
from ringctl.providers.kubernetes_objects import (
    ANNOTATION_CHANGE_CAUSE,
    ANNOTATION_IMAGE,
    ANNOTATION_PREVIOUS_IMAGE,
    ANNOTATION_PREVIOUS_REVISION,
    ANNOTATION_PREVIOUS_VERSION,
    ANNOTATION_RELEASE_ID,
    ANNOTATION_REVISION,
    ANNOTATION_REVISION_HISTORY,
    ANNOTATION_VERSION,
    ANNOTATIONS_TO_SKIP,
    container_image,
    int_or_none,
    rollout_status_of,
    template_image,
    version_running,
    without_hash,
)
from ringctl.providers.models import DeployInput, RollbackResult, RolloutState, RolloutStatus, Target, UndoRecord

log = structlog.get_logger(__name__)

#: Seconds to connect and to read one API response; a slower call is a retryable timeout.
REQUEST_TIMEOUT = (5.0, 30.0)

_STRATEGIC_MERGE = "application/strategic-merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_TRANSIENT_STATUSES = frozenset({408, 409, 429})
#: How the API server's message starts when an admission webhook denied the request.
_ADMISSION_WEBHOOK = "admission webhook"


class KubernetesDeployTarget:
    """Deploys to, watches and rolls back the service's Deployment in each region's kube context."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        """Use ``kubeconfig`` (default: ``$KUBECONFIG`` or ``~/.kube/config``), one context per region."""
        self._kubeconfig = kubeconfig
        self._clients: dict[str, ApiClient] = {}
        self._lock = threading.Lock()

    # -- DeployTarget --------------------------------------------------------------

    def deploy(self, request: DeployInput) -> UndoRecord:
        """Set the container's image and annotate the Deployment; a no-op if the image is already there.

        Returns the previous image, its version (:func:`version_running`) and
        ``deployment.kubernetes.io/revision``. If the image is already there because
        an earlier attempt of this same release patched it (its response was lost),
        the recorded previous image, version and revision are returned with
        ``changed=True``, so rollback still works.
        """
        target = request.target
        apps = AppsV1Api(self._client(target))
        deployment = _read_deployment(apps, target)
        current = container_image(deployment, target)
        metadata = deployment["metadata"]
        annotations: dict[str, str] = metadata.get("annotations") or {}
        revision = int_or_none(annotations.get(ANNOTATION_REVISION))
        bound = log.bind(
            release_id=request.release_id,
            region=target.region,
            namespace=target.namespace,
            deployment=target.deployment,
        )
        if current == request.image:
            recorded = annotations.get(ANNOTATION_PREVIOUS_IMAGE)
            if (
                annotations.get(ANNOTATION_RELEASE_ID) == request.release_id
                and annotations.get(ANNOTATION_VERSION) == request.version
                and recorded
                and recorded != request.image
            ):
                bound.info("deploy already applied by an earlier attempt", image=request.image)
                return UndoRecord.of(
                    request,
                    recorded,
                    int_or_none(annotations.get(ANNOTATION_PREVIOUS_REVISION)),
                    True,
                    previous_version=annotations.get(ANNOTATION_PREVIOUS_VERSION) or image_tag(recorded),
                )
            bound.info("image already deployed; nothing to change", image=request.image)
            return UndoRecord.of(
                request, current, revision, False, previous_version=version_running(annotations, current)
            )
        if (deployment.get("status") or {}).get("observedGeneration", 0) < metadata.get("generation", 0):
            # The revision annotation may not describe the live template yet; retry shortly.
            raise TransientError(
                f"deployment {target.deployment} in namespace {target.namespace} of region {target.region}: "
                "waiting for the deployment controller to observe its latest spec before deploying"
            )
        previous_version = version_running(annotations, current)
        new_annotations: dict[str, str | None] = {
            ANNOTATION_RELEASE_ID: request.release_id,
            ANNOTATION_VERSION: request.version,
            ANNOTATION_IMAGE: request.image,
            ANNOTATION_PREVIOUS_IMAGE: current,
            ANNOTATION_PREVIOUS_VERSION: previous_version,  # None removes one left by an earlier release
            ANNOTATION_CHANGE_CAUSE: f"ringctl release {request.release_id}: {target.container}={request.image}",
        }
        if revision is not None:
            new_annotations[ANNOTATION_PREVIOUS_REVISION] = str(revision)
        patch = {
            "metadata": {"resourceVersion": metadata["resourceVersion"], "annotations": new_annotations},
            "spec": {"template": {"spec": {"containers": [{"name": target.container, "image": request.image}]}}},
        }
        _patch_deployment(apps, target, patch, _STRATEGIC_MERGE)
        bound.info("image set", image=request.image, previous_image=current, previous_revision=revision)
        return UndoRecord.of(request, current, revision, True, previous_version=previous_version)

    def rollout_status(self, target: Target) -> RolloutStatus:
        """One observation, by the rules of ``kubectl rollout status``.

        A paused Deployment is reported as progressing (kubectl keeps waiting, and
        the controller does not enforce the progress deadline while paused); the
        rollout timeout from ``rings.yaml`` ends the wait.
        """
        apps = AppsV1Api(self._client(target))
        deployment = _read_deployment(apps, target)
        status = rollout_status_of(deployment)
        if status.state is RolloutState.PROGRESSING and (deployment.get("spec") or {}).get("paused"):
            status = RolloutStatus(
                state=status.state, message=f"{status.message} (the deployment is paused; resume it to continue)"
            )
        return status

    def rollback(self, undo: UndoRecord) -> RollbackResult:
        """Restore the revision ``deploy`` recorded, like ``kubectl rollout undo --to-revision``.

        Refuses a paused Deployment. A no-op (``changed=False``) when the deploy
        changed nothing or the Deployment's template already equals that revision's.
        """
        target = undo.target
        if not undo.changed:
            return RollbackResult(
                region=target.region, changed=False, image=undo.new_image, message="the deploy changed nothing"
            )
        apps = AppsV1Api(self._client(target))
        deployment = _read_deployment(apps, target)
        current = container_image(deployment, target)
        where = f"deployment {target.deployment} in namespace {target.namespace} of region {target.region}"
        if (deployment.get("spec") or {}).get("paused"):
            raise ConfigError(f"cannot roll back {where}: it is paused; resume it (kubectl rollout resume) and retry")
        bound = log.bind(
            release_id=undo.release_id,
            region=target.region,
            namespace=target.namespace,
            deployment=target.deployment,
            revision=undo.previous_revision,
        )
        if undo.previous_revision is None:
            return self._rollback_image(apps, deployment, undo, current)
        replica_set = self._replica_set_for(apps, deployment, target, undo.previous_revision)
        if replica_set is None:
            if current == undo.previous_image:
                return RollbackResult(
                    region=target.region, changed=False, image=current, message=f"already on {current}"
                )
            raise ConfigError(
                f"revision {undo.previous_revision} of deployment {target.deployment} not found in region "
                f"{target.region} (namespace {target.namespace}); it may have been garbage-collected "
                "(revisionHistoryLimit)"
            )
        template = without_hash(replica_set["spec"]["template"])
        image = template_image(template, target.container)
        if without_hash(deployment["spec"]["template"]) == template:
            bound.info("already on the recorded revision")
            return RollbackResult(
                region=target.region,
                changed=False,
                image=image,
                message=f"already on revision {undo.previous_revision} ({image})",
            )
        annotations = {
            k: v for k, v in (deployment["metadata"].get("annotations") or {}).items() if k in ANNOTATIONS_TO_SKIP
        }
        annotations.update(
            {
                k: v
                for k, v in (replica_set["metadata"].get("annotations") or {}).items()
                if k not in ANNOTATIONS_TO_SKIP
            }
        )
        patch = [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ]
        _patch_deployment(apps, target, patch, _JSON_PATCH)
        bound.info("rolled back", image=image, from_image=current)
        return RollbackResult(
            region=target.region,
            changed=True,
            image=image,
            message=f"restored revision {undo.previous_revision} ({image})",
        )

    # -- internals -----------------------------------------------------------------

    def _rollback_image(
        self, apps: AppsV1Api, deployment: dict[str, Any], undo: UndoRecord, current: str
    ) -> RollbackResult:
        """Without a recorded revision (a Deployment the controller had not seen yet): put the image back."""
        target = undo.target
        if undo.previous_image is None or current == undo.previous_image:
            return RollbackResult(region=target.region, changed=False, image=current, message=f"already on {current}")
        patch = {
            "metadata": {"resourceVersion": deployment["metadata"]["resourceVersion"]},
            "spec": {"template": {"spec": {"containers": [{"name": target.container, "image": undo.previous_image}]}}},
        }
        _patch_deployment(apps, target, patch, _STRATEGIC_MERGE)
        return RollbackResult(
            region=target.region,
            changed=True,
            image=undo.previous_image,
            message=f"restored image {undo.previous_image}",
        )

    def _replica_set_for(
        self, apps: AppsV1Api, deployment: dict[str, Any], target: Target, revision: int
    ) -> dict[str, Any] | None:
        """The Deployment's ReplicaSet for ``revision``.

        Also found when a later rollback reused it under a newer number: the
        controller then lists the old number in ``deployment.kubernetes.io/revision-history``.
        """
        with _translated(target, "list", "replicasets"):
            found = apps.list_namespaced_replica_set(target.namespace, _request_timeout=REQUEST_TIMEOUT)
        listed = _to_dict(apps.api_client, found)
        uid = deployment["metadata"]["uid"]
        owned = [
            rs
            for rs in listed.get("items") or []
            if any(
                ref.get("uid") == uid and ref.get("controller") for ref in rs["metadata"].get("ownerReferences") or []
            )
        ]
        wanted = str(revision)
        for rs in owned:
            if (rs["metadata"].get("annotations") or {}).get(ANNOTATION_REVISION) == wanted:
                return cast(dict[str, Any], rs)
        for rs in owned:
            history = (rs["metadata"].get("annotations") or {}).get(ANNOTATION_REVISION_HISTORY, "")
            if wanted in history.split(","):
                return cast(dict[str, Any], rs)
        return None

    def _client(self, target: Target) -> ApiClient:
        """The API client of ``target``'s context, created on first use."""
        context = target.kube_context
        with self._lock:
            client = self._clients.get(context)
            if client is not None:
                return client
            try:
                contexts, _ = kube_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                    config_file=self._kubeconfig
                )
            except (ConfigException, OSError) as exc:
                raise ConfigError(
                    f"region {target.region}: cannot read the kubeconfig {self._kubeconfig or '(default)'}: "
                    f"{type(exc).__name__}"
                ) from None
            names = sorted(c["name"] for c in contexts or [])
            if context not in names:
                raise ConfigError(
                    f"region {target.region}: unknown kube context {context!r}; "
                    f"the kubeconfig has: {', '.join(names) or 'none'}"
                )
            try:
                client = cast(
                    ApiClient,
                    kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
                        config_file=self._kubeconfig, context=context, persist_config=False
                    ),
                )
            except (ConfigException, OSError, ValueError) as exc:
                # The message may quote the kubeconfig; name only the kind of problem.
                raise ConfigError(
                    f"region {target.region}: kube context {context!r} cannot be loaded ({type(exc).__name__})"
                ) from None
            self._clients[context] = client
            log.info("kubernetes client created", context=context, region=target.region)
            return client


# -- helpers -----------------------------------------------------------------------


def _read_deployment(apps: AppsV1Api, target: Target) -> dict[str, Any]:
    """``target``'s Deployment as its JSON dict."""
    with _translated(target, "get"):
        found = apps.read_namespaced_deployment(target.deployment, target.namespace, _request_timeout=REQUEST_TIMEOUT)
    return _to_dict(apps.api_client, found)


def _patch_deployment(apps: AppsV1Api, target: Target, patch: Any, content_type: str) -> None:
    """Patch ``target``'s Deployment (strategic merge or JSON patch)."""
    with _translated(target, "patch"):
        apps.patch_namespaced_deployment(
            target.deployment, target.namespace, patch, _content_type=content_type, _request_timeout=REQUEST_TIMEOUT
        )


def _to_dict(api_client: ApiClient, obj: Any) -> dict[str, Any]:
    """An API object as its JSON dict (camelCase keys, as the API server sends it)."""
    return cast(dict[str, Any], api_client.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]


def _api_message(exc: ApiException) -> str:
    """The ``message`` of the API server's Status body, else the HTTP reason (never headers)."""
    try:
        body = json.loads(exc.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except (TypeError, ValueError):
        pass
    return f"{exc.status} {exc.reason}"


@contextmanager
def _translated(target: Target, verb: str, resource: str = "deployments") -> Iterator[None]:
    """Translate Kubernetes and transport errors of one API call into ringctl's errors."""
    where = f"region {target.region} (context {target.kube_context})"
    try:
        yield
    except ApiException as exc:
        status = exc.status or 0
        message = _api_message(exc)
        if _ADMISSION_WEBHOOK in message:
            # A validating/mutating webhook said no: not RBAC, not a missing object.
            denied = (
                f"{where}: {verb} {resource} in namespace {target.namespace} denied by admission webhook: {message}"
            )
            if 400 <= status < 500 and status not in _TRANSIENT_STATUSES:
                raise ConfigError(denied) from exc
            raise TransientError(denied) from exc
        if status == 404:
            raise ConfigError(
                f"{where}: deployment {target.deployment} not found in namespace {target.namespace} "
                f"(the namespace or the Deployment does not exist): {message}"
            ) from exc
        if status in (401, 403):
            raise ConfigError(
                f"{where}: forbidden: the worker's credentials in context {target.kube_context} may not "
                f"{verb} {resource} in namespace {target.namespace}: {message}"
            ) from exc
        if status in _TRANSIENT_STATUSES or status >= 500 or status == 0:
            raise TransientError(
                f"{where}: {verb} {resource} in namespace {target.namespace} failed: {message}"
            ) from exc
        raise ConfigError(f"{where}: {verb} {resource} in namespace {target.namespace} refused: {message}") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise TransientError(f"{where}: API server unreachable or too slow ({type(exc).__name__})") from exc
    except OSError as exc:
        raise TransientError(f"{where}: API server unreachable ({type(exc).__name__})") from exc
