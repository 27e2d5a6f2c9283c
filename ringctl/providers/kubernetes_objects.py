"""A Deployment as the API server sends it (a JSON dict), read the way kubectl reads it. Pure functions.

:func:`rollout_status_of` applies the rules of ``kubectl rollout status`` (kubectl's
``polymorphichelpers/rollout_status.go``); :func:`version_running` names the version a
Deployment runs; the rest find container images and compare pod templates. The
annotations ringctl writes, and those the deployment controller writes, are named here.
"""

from __future__ import annotations

import copy
from typing import Any

from ringctl.core.errors import ConfigError
from ringctl.core.versions import image_tag
from ringctl.providers.models import RolloutState, RolloutStatus, Target

#: Annotations ringctl puts on the Deployment's metadata (never on the pod template).
ANNOTATION_RELEASE_ID = "ringctl.io/release-id"
ANNOTATION_VERSION = "ringctl.io/version"
#: The image ringctl deployed as ``ringctl.io/version``: that version is trusted only while this image runs.
ANNOTATION_IMAGE = "ringctl.io/image"
ANNOTATION_PREVIOUS_IMAGE = "ringctl.io/previous-image"
ANNOTATION_PREVIOUS_VERSION = "ringctl.io/previous-version"
ANNOTATION_PREVIOUS_REVISION = "ringctl.io/previous-revision"
ANNOTATION_CHANGE_CAUSE = "kubernetes.io/change-cause"

#: Set by the deployment controller on Deployments and their ReplicaSets.
ANNOTATION_REVISION = "deployment.kubernetes.io/revision"
ANNOTATION_REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
POD_TEMPLATE_HASH = "pod-template-hash"

#: Deployment annotations ``kubectl rollout undo`` keeps instead of copying them from the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        ANNOTATION_REVISION,
        ANNOTATION_REVISION_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

#: Reason of the ``Progressing`` condition when the progress deadline passed.
TIMED_OUT_REASON = "ProgressDeadlineExceeded"


def rollout_status_of(deployment: dict[str, Any]) -> RolloutStatus:
    """Judge a Deployment (as a JSON dict) like kubectl's ``DeploymentStatusViewer``."""
    name = deployment["metadata"]["name"]
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    if deployment["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return RolloutStatus(
            state=RolloutState.PROGRESSING, message="waiting for deployment spec update to be observed"
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == TIMED_OUT_REASON:
            return RolloutStatus(
                state=RolloutState.FAILED,
                message=f"deployment {name!r} exceeded its progress deadline "
                f"({TIMED_OUT_REASON}: {condition.get('message', '')})",
            )
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    current = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < replicas:
        return RolloutStatus(
            state=RolloutState.PROGRESSING, message=f"{updated} out of {replicas} new replicas have been updated"
        )
    if current > updated:
        return RolloutStatus(
            state=RolloutState.PROGRESSING, message=f"{current - updated} old replicas are pending termination"
        )
    if available < updated:
        return RolloutStatus(
            state=RolloutState.PROGRESSING, message=f"{available} of {updated} updated replicas are available"
        )
    return RolloutStatus(state=RolloutState.COMPLETE, message=f"deployment {name!r} successfully rolled out")


def version_running(annotations: dict[str, str], image: str) -> str | None:
    """The version ``image`` is: the ``ringctl.io/version`` ringctl deployed it as, else its tag (``name:tag`` only).

    The annotation counts only while ``ringctl.io/image`` names the running image, so a
    ``kubectl set image`` since (or an image-only rollback) is not mistaken for ringctl's version.
    """
    version = annotations.get(ANNOTATION_VERSION)
    if version and annotations.get(ANNOTATION_IMAGE) == image:
        return version
    return image_tag(image)


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((template.get("spec") or {}).get("containers")) or [])


def template_image(template: dict[str, Any], container: str) -> str | None:
    return next((c.get("image") for c in containers(template) if c.get("name") == container), None)


def container_image(deployment: dict[str, Any], target: Target) -> str:
    """The image of ``target.container``; a missing container is a :class:`ConfigError`."""
    found = containers(deployment["spec"]["template"])
    for container in found:
        if container.get("name") == target.container:
            return str(container.get("image", ""))
    names = ", ".join(c.get("name", "?") for c in found) or "none"
    raise ConfigError(
        f"region {target.region}: deployment {target.deployment} in namespace {target.namespace} has no "
        f"container {target.container!r} (it has: {names})"
    )


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """A pod template without the controller's ``pod-template-hash`` label (kubectl's ``EqualIgnoreHash``)."""
    result = copy.deepcopy(template)
    labels = (result.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH, None)
    return result
