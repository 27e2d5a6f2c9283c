"""The release manager's and the auditor's tools on a standalone worker, through the CLI (issue 13).

Regressions, as users met them on main before issue 13:
- ``history checkout@2.0.0`` and ``status`` were refused once a newer release of the service existed;
- a release rolled back after it completed was listed twice, and its first run showed as a green COMPLETED;
- the wait said "waiting for 2 approvals" after one arrived, and nobody could ask what waits for them;
- signed approvals were not marked as signed anywhere in the audit;
- ``list --state bogus`` printed an empty table and exited 0; a terminated release was listed as ``pending``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowExecutionStatus

from ringctl.core.constants import workflow_id_for
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.core.searchattributes import SA_VERSION
from tests.support.processes import SHIPPED_PLAN, ring_of
from tests.support.stack import Stack

SPEED = "10000"
MANAGERS = ("alice", "bob", "carol")


def signed_plan(stack: Stack, keys: Path) -> tuple[str, dict[str, str]]:
    """The shipped plan with signed approvals for the release managers: its path, and each key's fingerprint."""
    plan = yaml.safe_load(Path(SHIPPED_PLAN).read_text(encoding="utf-8"))
    fingerprints, public_keys = {}, {}
    for manager in MANAGERS:
        made = stack.cli.run("keys", "generate", manager, "--dir", str(keys))
        assert made.returncode == 0, made.stderr
        public_keys[manager] = (keys / f"{manager}.pub").read_text(encoding="utf-8").strip()
        fingerprints[manager] = next(
            line.split()[1] for line in made.stderr.splitlines() if line.startswith("fingerprint ")
        )
    plan["approvals"] = {"signing": "required", "public_keys": public_keys}
    path = keys / "rings.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return str(path), fingerprints


def waiting(stack: Stack, *args: str) -> list[dict[str, Any]]:
    done = stack.cli.run("list", "--waiting", *args, "--output", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return [row for row in rows if row["release_id"].startswith("checkout@")]


async def runs_of(stack: Stack, version: str) -> list[tuple[WorkflowExecutionStatus | None, str | None]]:
    """The Temporal status and summary of each run of checkout@version, oldest first, as the Temporal UI lists them."""
    client = await Client.connect(stack.server.address, data_converter=DATA_CONVERTER)
    query = f"WorkflowId = '{workflow_id_for('checkout')}'"
    runs = [r async for r in client.list_workflows(query) if r.typed_search_attributes.get(SA_VERSION) == version]
    handles = [client.get_workflow_handle(run.id, run_id=run.run_id) for run in reversed(runs)]
    return [((d := await h.describe()).status, await d.static_summary()) for h in handles]


def test_release_manager_and_auditor_through_a_signed_release_its_rollback_and_the_next(
    stack: Stack, tmp_path: Path
) -> None:
    plan, fingerprints = signed_plan(stack, tmp_path)
    stack.worker()
    release = stack.cli.start("checkout", "23.0.0", "--speed", SPEED, plan=plan)
    stack.cli.wait_state(release, "awaiting_approval", timeout=90)

    # what waits for whom: across services, who may act, why
    [row] = waiting(stack)
    assert row["release_id"] == release and row["ring"] == "japan" and row["state"] == "awaiting_approval"
    assert row["waiting_for"] == ["alice", "bob", "carol", "release-managers"]
    assert row["waiting"] == "waiting for 2 approvals of ring japan (alice, bob, carol)"
    assert [r["release_id"] for r in waiting(stack, "--for", "release-managers")] == [release]
    assert waiting(stack, "--for", "mallory") == []
    table = stack.cli.run("list", "--waiting", "--for", "alice").stdout
    assert release in table and "approval" in table and "alice, bob, carol, release-managers" in table

    approved = stack.cli.run("approve", release, "--ring", "japan", "--key", str(tmp_path / "alice.key"), actor="alice")
    assert approved.returncode == 0, approved.stderr
    assert f"signed, key {fingerprints['alice']}" in approved.stdout
    status = stack.cli.status(release)
    assert status is not None
    assert status["reason"] == "waiting for 1 more approval of ring japan (alice, bob, carol); approved by alice"
    assert waiting(stack, "--for", "alice") == [], "alice approved already: nothing waits for her"
    assert [r["release_id"] for r in waiting(stack, "--for", "bob")] == [release]

    stack.cli.run("approve", release, "--ring", "japan", "--key", str(tmp_path / "bob.key"), actor="bob")
    status = stack.cli.wait_for(release, lambda s: s["state"] != "awaiting_approval", 20, "the approvals to count")
    if status["state"] == "awaiting_window":  # Japan's business hours and freezes stay in force
        carol = str(tmp_path / "carol.key")
        override = (
            "approve",
            release,
            "--ring",
            "japan",
            "--override-window",
            "--reason",
            "audit test",
            "--key",
            carol,
        )
        assert stack.cli.run(*override, actor="carol").returncode == 0
    stack.cli.wait_state(release, "completed", timeout=90)
    rolled = stack.cli.run("rollback", release, "--reason", "late bug report")
    assert rolled.returncode == 0, rolled.stderr
    stack.cli.wait_state(release, "rolled_back", timeout=60)
    paused = stack.cli.run("pause", release)
    assert paused.returncode == 1 and f"release {release} has ended (rolled_back)" in paused.stderr, paused.stderr

    newer = stack.cli.start("checkout", "23.1.0", "--speed", SPEED, plan=plan)
    stack.cli.wait_for(newer, lambda s: s["state"] != "pending", 20, "the next release to start")

    # the superseded release still reads, whole: one release with its rollback
    status = stack.cli.status(release)
    assert status is not None and status["state"] == "rolled_back", status
    actions = [e["action"] for e in status["events"]]
    assert actions[0] == "start" and "complete" in actions and actions.index("rollback") > actions.index("complete")
    japan = ring_of(status, "japan")
    assert {(a["approver"], a["key_fingerprint"]) for a in japan["approvals"]} == {
        ("alice", fingerprints["alice"]),
        ("bob", fingerprints["bob"]),
    }
    text = stack.cli.run("history", release).stdout
    assert f"[signed, key {fingerprints['alice']}]" in text and "late bug report" in text
    rows = json.loads(stack.cli.run("list", "--service", "checkout", "--output", "json").stdout)
    assert [(r["release_id"], r["state"]) for r in rows if r["release_id"] == release] == [(release, "rolled_back")]
    assert asyncio.run(runs_of(stack, "23.0.0")) == [
        (WorkflowExecutionStatus.COMPLETED, f"release {release} started by ci-pipeline"),
        (WorkflowExecutionStatus.FAILED, f"rollback of {release} (ended completed) by oncall"),
    ]

    # the export's hash chain holds, and breaks where it is changed
    export = stack.cli.run("history", release, "--output", "json")
    assert export.returncode == 0, export.stderr
    path = tmp_path / "audit.json"
    path.write_text(export.stdout, encoding="utf-8")
    verified = stack.cli.run("history", "--verify", str(path))
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stderr
    document = json.loads(export.stdout)
    approval = next(i for i, e in enumerate(document["entries"]) if e["action"] == "approve")
    document["entries"][approval]["actor"] = "mallory"
    path.write_text(json.dumps(document), encoding="utf-8")
    tampered = stack.cli.run("history", "--verify", str(path))
    assert tampered.returncode == 1 and f"entry {approval + 1} (approve by mallory" in tampered.stderr
    assert "Traceback" not in tampered.stderr and len(tampered.stderr.splitlines()) == 1

    aborted = stack.cli.run("abort", newer, "--reason", "audit test done", "--yes")
    assert aborted.returncode == 0, aborted.stderr


def test_list_refuses_an_unknown_state_and_shows_a_terminated_release_as_terminated(stack: Stack) -> None:
    bogus = stack.cli.run("list", "--state", "bogus")
    assert bogus.returncode == 2 and "'bogus' is not a state" in bogus.stderr

    stack.worker()
    release = stack.cli.start("checkout", "23.2.0", "--speed", SPEED)
    baking = stack.cli.wait_for(
        release, lambda s: any(r["next_check_at"] for r in s["rings"]), 30, "a ring's next gate check to be shown"
    )
    ring = next(r for r in baking["rings"] if r["next_check_at"])
    assert ring["state"] in ("baking", "holding") and ring["bake_remaining"] is not None, ring

    async def terminate() -> None:
        client = await Client.connect(stack.server.address)
        await client.get_workflow_handle(workflow_id_for("checkout")).terminate("by hand")

    asyncio.run(terminate())
    rows = json.loads(stack.cli.run("list", "--state", "terminated", "--output", "json").stdout)
    assert release in [r["release_id"] for r in rows]
    listed = stack.cli.run("list", "--service", "checkout").stdout.splitlines()
    assert listed[0].split() == ["RELEASE", "STATE", "RING", "STARTED", "(UTC)", "ENDED", "(UTC)"]
    assert any(line.startswith(release) and " terminated " in line for line in listed)
