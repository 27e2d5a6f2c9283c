"""Kubernetes API errors during a deploy, made by a real admission webhook on one region's API server.

The fleet, worker and CLI are those of :mod:`tests.system.test_fleet`. A validating admission webhook
run by the test (:mod:`tests.support.admission_faults`) is installed on eu-west-1's cluster only and
denies the worker's updates of the checkout Deployment with chosen HTTP statuses; kube-apiserver
answers the worker's PATCH with that very status, so the worker meets real 409 and 5xx responses
from a real API server. A few of them are retried (``RETRY``: 5 attempts, 1, 2, 4, 8 s apart) and
the region gets the image once; a region that keeps answering 503 fails after the last attempt and
na-eu's ``on_failure: rollback`` rolls back every region the release changed. Everything is checked
on the API servers, in the webhook's record of what it was asked, and in the Temporal history.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.admission_faults import faulty_admission, worker_user
from tests.support.fleet import Fleet
from tests.support.fleet_bed import ENDED, WHOLE_RELEASE, Bed, attempts, region_of
from tests.support.fleet_checks import assert_deployed_once, assert_rolled_back, assert_untouched
from tests.support.processes import ring_of
from tests.support.stack import Stack

#: The region whose API server the webhook makes refuse the worker's deploy PATCHes.
REGION = "eu-west-1"


@pytest.fixture
def bed(stack: Stack, fleet: Fleet) -> Bed:
    """Every region back on the previous images before the test."""
    fleet.reset()
    return Bed(stack, fleet)


def test_transient_conflict_and_server_errors_are_retried_and_deploy_once(bed: Bed, tmp_path: Path) -> None:
    """409, 503 and 500 on the first three deploy PATCHes: the fourth attempt deploys, once."""
    fleet, cli = bed.fleet, bed.stack.cli
    victim, user = fleet.context_of(REGION), worker_user(fleet)
    before = fleet.views("checkout")
    with faulty_admission(fleet, victim, "checkout", tmp_path / "admission", user=user) as webhook:
        webhook.deny(409, 503, 500)
        worker = bed.worker()
        release = bed.start("checkout", "2.10.0")
        status = cli.wait_for(release, lambda s: ring_of(s, "na-eu")["state"] == "promoted", 120, "na-eu promoted")
    assert region_of(status, REGION)["state"] == "promoted", region_of(status, REGION)
    after = fleet.views("checkout")
    assert_deployed_once(before, after, fleet.image("checkout", "2.10.0"), bed.contexts("staging", "canary", "na-eu"))
    assert_untouched(before, after, bed.contexts("japan"))
    assert [(s.user, s.code) for s in webhook.seen] == [(user, 409), (user, 503), (user, 500), (user, None)]
    assert attempts(bed, "deploy")[REGION] == 4
    denied = f"region {REGION} (context {victim}): patch deployments in namespace checkout denied by admission webhook"
    assert worker.log().count(denied) == 3


def test_persistent_server_errors_fail_the_region_and_roll_back(bed: Bed, tmp_path: Path) -> None:
    """503 on every deploy PATCH: the region fails after 5 attempts and na-eu rolls back."""
    fleet, cli = bed.fleet, bed.stack.cli
    victim, user = fleet.context_of(REGION), worker_user(fleet)
    before = fleet.views("checkout")
    with faulty_admission(fleet, victim, "checkout", tmp_path / "admission", user=user) as webhook:
        webhook.deny_always(503)
        bed.worker()
        release = bed.start("checkout", "2.11.0")
        failed = cli.wait_for(release, lambda s: region_of(s, REGION)["state"] == "failed", 120, f"{REGION} failed")
        final = cli.wait_state(release, *ENDED, timeout=WHOLE_RELEASE)
    assert final["state"] == "rolled_back", final["reason"]
    # the deepest cause is the client's ApiException: the HTTP status line as the worker received it
    message = region_of(failed, REGION)["message"]
    assert "(503)" in message and "Reason: Service Unavailable" in message, message
    assert REGION in ring_of(final, "na-eu")["message"], final
    assert [(s.user, s.code) for s in webhook.seen] == [(user, 503)] * 5
    assert attempts(bed, "deploy")[REGION] == 5
    after = fleet.views("checkout")
    changed = [c for c in bed.contexts("staging", "canary", "na-eu") if c != victim]
    assert_rolled_back(before, after, fleet.image("checkout", "2.11.0"), changed)
    assert_untouched(before, after, [victim, *bed.contexts("apac", "japan")])
