"""How long ``RingRelease`` lets each activity run and how often it retries: every activity option in one place.

Deploy, rollout wait, rollback and gate activities heartbeat every second, so a
worker lost mid-call is noticed within :data:`REGION_CALL_HEARTBEAT` and the call
is retried on another worker.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

DEPLOY_TIMEOUT = timedelta(minutes=2)
#: A worker lost mid-call is noticed within this timeout, and the call is retried on another worker.
REGION_CALL_HEARTBEAT = timedelta(seconds=5)
#: Added to a ring's rollout timeout to bound the rollout wait.
ROLLOUT_TIMEOUT_MARGIN = timedelta(minutes=1)
#: Added to the plan's Prometheus timeout to bound one gate evaluation (all its queries run at once).
GATE_TIMEOUT_MARGIN = timedelta(seconds=10)
#: Gate evaluations: a worker lost mid-evaluation is retried; Prometheus errors are missing data, not failures.
GATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5), maximum_attempts=3
)
#: A gate evaluation runs first as a local activity within the workflow task the bake's timer woke: one
#: workflow task and no activity task per tick. Commands sent meanwhile wait for that task to end, so it
#: gets this long, once; slower (or failing) evaluations run again as the activity above, which a
#: rollback cancels at once.
LOCAL_GATE_BUDGET = timedelta(seconds=2)
LOCAL_GATE_RETRY = RetryPolicy(maximum_attempts=1)
ROLLBACK_TIMEOUT = timedelta(minutes=2)
#: Deploy and rollout calls: a few retries with backoff, then the region fails cleanly.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5)
#: Rollback matters more than anything else: keep trying longer.
ROLLBACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=20
)
WINDOW_CHECK_TIMEOUT = timedelta(seconds=30)
NOTIFY_TIMEOUT = timedelta(seconds=30)
#: A webhook gets a few quick tries; one that keeps failing gets a single try per later message.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5), maximum_attempts=3
)
NOTIFY_RETRY_DOWN = RetryPolicy(maximum_attempts=1)
#: How long a finished release waits for its last notifications before it closes anyway.
NOTIFY_FLUSH = timedelta(seconds=30)
