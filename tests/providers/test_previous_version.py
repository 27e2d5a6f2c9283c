"""The version a deploy replaced: named by the provider in the undo record, read from image tags only as a fallback."""

from __future__ import annotations

import pytest

from ringctl.core.versions import image_tag
from ringctl.providers.kubernetes_objects import ANNOTATION_IMAGE, ANNOTATION_VERSION, version_running
from ringctl.providers.models import DeployInput, Target, UndoRecord
from ringctl.providers.sandbox import SandboxDeployTarget, SandboxWorld
from ringctl.workflows.gating import previous_versions

DIGEST = "registry.example.com/checkout@sha256:" + "a" * 64
WHERE = Target(region="eu-west-1", kube_context="eu", namespace="checkout", deployment="checkout", container="app")


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("registry.example.com/checkout:1.4.2", "1.4.2"),
        ("checkout:latest", "latest"),
        ("registry.example.com:5000/checkout:1.0", "1.0"),
        ("registry.example.com:5000/checkout", None),
        ("checkout", None),
        (DIGEST, None),
        ("registry.example.com/checkout:1.4.2@sha256:" + "a" * 64, None),
    ],
)
def test_image_tag_only_for_name_colon_tag(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


def test_kubernetes_trusts_its_version_annotation_only_while_its_image_runs() -> None:
    ours = {ANNOTATION_VERSION: "3.0.0", ANNOTATION_IMAGE: DIGEST}
    assert version_running(ours, DIGEST) == "3.0.0"
    assert version_running(ours, "registry.example.com/checkout:9.9.9") == "9.9.9", "set by hand since"
    assert version_running({ANNOTATION_VERSION: "3.0.0"}, DIGEST) is None, "annotated by an older ringctl"
    assert version_running({}, "registry.example.com/checkout:1.0.0") == "1.0.0"


def record(previous_image: str | None, previous_version: str | None = None, region: str = "eu-west-1") -> UndoRecord:
    return UndoRecord(
        target=WHERE.model_copy(update={"region": region}),
        release_id="checkout@2.0.0",
        previous_image=previous_image,
        previous_revision=1,
        new_image="registry.example.com/checkout:2.0.0",
        changed=True,
        previous_version=previous_version,
    )


def test_the_workflow_uses_the_recorded_version_and_falls_back_to_the_tag_for_old_records() -> None:
    records = [
        record(DIGEST, "1.9.0", "a"),
        record("registry.example.com/checkout:1.8.0", None, "b"),  # an undo record of an older worker
        record(DIGEST, None, "c"),  # a digest names no version
        record(None, None, "d"),
    ]
    assert previous_versions(records) == {"a": "1.9.0", "b": "1.8.0"}
    old = '{"target":%s,"release_id":"r","previous_image":"x:1","previous_revision":1,"new_image":"x:2","changed":true}'
    assert UndoRecord.model_validate_json(old % WHERE.model_dump_json()).previous_version is None


def test_the_sandbox_names_the_version_it_replaced() -> None:
    world = SandboxWorld(initial_image="sandbox/app:0")
    target = SandboxDeployTarget(world)
    try:
        first = target.deploy(DeployInput(target=WHERE, release_id="s@1", service="s", version="1", image=DIGEST))
        assert first.previous_version == "0"
        second = target.deploy(
            DeployInput(target=WHERE, release_id="s@2", service="s", version="2", image="sandbox/app:2")
        )
        assert second.previous_version == "1", "the version deployed, although its image is a digest"
        target.rollback(second)
        assert world.version("eu-west-1") == "1", "a rollback restores the recorded version"
    finally:
        world.close()
