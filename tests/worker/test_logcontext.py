"""The ids an activity's log lines carry, read from its input."""

from __future__ import annotations

from ringctl.activities.models import RollbackInput
from ringctl.providers.models import DeployInput, Target, UndoRecord
from ringctl.worker.logcontext import release_fields

TARGET = Target(region="eu-west-1", kube_context="eu-west-1", namespace="shop", deployment="checkout", container="app")


def test_a_deploy_names_its_release_and_region() -> None:
    deploy = DeployInput(
        target=TARGET, release_id="checkout@1.0.0", service="checkout", version="1.0.0", image="r/checkout:1.0.0"
    )
    assert release_fields(deploy) == {
        "release_id": "checkout@1.0.0",
        "service": "checkout",
        "version": "1.0.0",
        "region": "eu-west-1",
    }


def test_a_rollback_names_them_from_its_undo_record() -> None:
    undo = UndoRecord(
        target=TARGET,
        release_id="checkout@1.0.0",
        previous_image="r/checkout:0.9.0",
        previous_revision=3,
        new_image="r/checkout:1.0.0",
        changed=True,
    )
    assert release_fields(RollbackInput(undo=undo)) == {"release_id": "checkout@1.0.0", "region": "eu-west-1"}


def test_an_input_without_them_binds_nothing() -> None:
    assert release_fields(object()) == {}
