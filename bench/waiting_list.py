"""``ringctl list --waiting`` over 1,000 waiting releases, beside its baselines from the same run (issue 13).

Target: under a second for 1,000 releases, as one visibility query (not one query per release).

Starts its own ``temporal server start-dev`` (with ringctl's search attributes) and indexes
releases as the worker indexes them: each started with the search attributes and memo of a
release waiting for two approvals of japan, or of one baking (not waiting). No worker polls
their task queue, so they stay as indexed. Then, medians over ``--runs`` interleaved rounds:

* ``ringctl list --waiting --output json`` (the console script, spawn to exit) with 1 release
  waiting (measured before the others exist) and with ``--releases`` waiting among as many
  baking: the ratio is what 1,000 cost beyond one;
* the same with ``--for bob``;
* in process: the visibility query alone (``waiting_releases``), beside reading each release
  by itself (one ``describe`` per release, 20 at a time): the approach the issue rules out.

    .venv/bin/python bench/waiting_list.py                  # ~1 minute
    .venv/bin/python bench/waiting_list.py --releases 20    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from bench.procstats import run_to_exit
from ringctl.client.listing import waiting_releases
from ringctl.core.constants import MEMO_WAITING, workflow_id_for
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.core.searchattributes import SA_RING, SA_SERVICE, SA_STATE, SA_VERSION, SA_WAITING_FOR
from tests.support.processes import RINGCTL, TemporalServer

#: Who may approve japan in the shipped plan, as a waiting release indexes it.
APPROVERS = ["alice", "bob", "carol", "release-managers"]
WAITING_TEXT = "waiting for 2 approvals of ring japan (alice, bob, carol)"
#: The target: seconds for ``list --waiting`` over 1,000 waiting releases.
TARGET_SECONDS = 1.0


async def index(client: Client, names: range, waiting: bool) -> None:
    """Start releases ``svc-<i>@1.0.0`` indexed as waiting for japan's approvals, or as baking canary."""
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        service = f"svc-{i}"
        pairs = [
            SearchAttributePair(SA_SERVICE, service),
            SearchAttributePair(SA_VERSION, "1.0.0"),
            SearchAttributePair(SA_STATE, "awaiting_approval" if waiting else "baking"),
            SearchAttributePair(SA_RING, "japan" if waiting else "canary"),
            SearchAttributePair(SA_WAITING_FOR, APPROVERS if waiting else []),
        ]
        async with gate:
            await client.start_workflow(
                "RingRelease",
                {"bench": "indexed only"},
                id=workflow_id_for(service),
                task_queue="bench-no-worker",
                search_attributes=TypedSearchAttributes(pairs),
                memo={MEMO_WAITING: WAITING_TEXT} if waiting else None,
            )

    await asyncio.gather(*(one(i) for i in names))


async def cli_seconds(address: str, *args: str) -> float:
    """Spawn-to-exit seconds of ``ringctl list --waiting ARGS --output json``; it must list something."""
    began = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        str(RINGCTL),
        "list",
        "--waiting",
        *args,
        "--output",
        "json",
        "--address",
        address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0 and out.strip() != b"[]", err.decode()
    return time.perf_counter() - began


async def medians(address: str, runs: int) -> dict[str, float]:
    """Median seconds of ``list --waiting`` and ``list --waiting --for bob``, interleaved, after a warm-up."""
    times: dict[str, list[float]] = {"all": [], "for bob": []}
    for round_ in range(runs + 1):
        for name, args in (("all", ()), ("for bob", ("--for", "bob"))):
            seconds = await cli_seconds(address, *args)
            if round_:
                times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


async def in_process(client: Client, releases: int, runs: int) -> tuple[float, float]:
    """Median seconds of the one visibility query, and of reading each waiting release by itself."""
    query, each = [], []
    gate = asyncio.Semaphore(20)

    async def describe(i: int) -> None:
        async with gate:
            await client.get_workflow_handle(workflow_id_for(f"svc-{i}")).describe()

    for _ in range(runs):
        began = time.perf_counter()
        rows = await waiting_releases(client)
        query.append(time.perf_counter() - began)
        assert len(rows) == releases, f"{len(rows)} of {releases} waiting releases listed"
        began = time.perf_counter()
        await asyncio.gather(*(describe(i) for i in range(releases)))
        each.append(time.perf_counter() - began)
    return statistics.median(query), statistics.median(each)


async def listed(client: Client, releases: int) -> None:
    """Wait until visibility lists every waiting release (it indexes asynchronously)."""
    for _ in range(300):
        if len(await waiting_releases(client)) == releases:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"visibility did not list {releases} waiting releases in 30 s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=1000, help="waiting releases (and as many baking)")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (medians)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = TemporalServer(Path(directory)).start()
        try:
            client = await Client.connect(server.address, data_converter=DATA_CONVERTER)
            await index(client, range(1), waiting=True)
            await listed(client, 1)
            one = await medians(server.address, args.runs)
            began = time.perf_counter()
            await index(client, range(1, args.releases), waiting=True)
            await index(client, range(args.releases, 2 * args.releases), waiting=False)
            print(
                f"indexed {args.releases} waiting and {args.releases} baking releases in {time.perf_counter() - began:.1f} s"
            )
            await listed(client, args.releases)
            many = await medians(server.address, args.runs)
            query, each = await in_process(client, args.releases, args.runs)
        finally:
            server.stop()
    n = args.releases
    for name in ("all", "for bob"):
        ratio = many[name] / one[name]
        print(
            f"ringctl list --waiting{' --' + name if name != 'all' else ''}: {n} waiting among {2 * n}: "
            f"{many[name]:.3f} s beside 1 waiting: {one[name]:.3f} s ({ratio:.2f}x)"
        )
    print(
        f"in process: the visibility query {query * 1000:.0f} ms beside one describe per release {each * 1000:.0f} ms "
        f"({each / query:.1f}x the query)"
    )
    worst = max(many.values())
    verdict = "met" if worst < TARGET_SECONDS else f"not met ({worst:.3f} s)"
    print(f"target: list --waiting over {n} waiting releases under {TARGET_SECONDS:g} s: {verdict}")


if __name__ == "__main__":
    run_to_exit(main())
