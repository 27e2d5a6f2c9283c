"""Names shared by the worker, the client, the workflow and the tests."""

#: Task queue the worker polls and releases are started on.
TASK_QUEUE = "ringctl"

#: Workflow ids are ``ringctl-release-<service>``: one release per service at a time.
WORKFLOW_ID_PREFIX = "ringctl-release-"

#: The plan file used when none is given.
DEFAULT_PLAN = "rings.yaml"

#: The release workflow's type and its status query, as ``RingRelease`` declares them: the client reads a
#: release by these names without importing the workflow's code (its activities, HTTP and logging).
WORKFLOW_TYPE = "RingRelease"
STATUS_QUERY = "status"

#: The actor of what a release does by itself (deploys, gate results, rollbacks), in its event log.
SYSTEM_ACTOR = "ringctl"

#: Failure types of refused commands: refused for what they ask, or because no worker took them in time.
COMMAND_REJECTED = "CommandRejected"
COMMAND_EXPIRED = "CommandExpired"

#: The memo key holding why a waiting release waits (``ringctl list --waiting``).
MEMO_WAITING = "waiting"
#: Who may act on a release any of its approvers may approve (``RingctlWaitingFor``).
ANYONE = "*"

#: ``workflow.patched`` ids, one per behaviour change of ``RingRelease`` that runs in flight may see.
#: Lifecycle: patched -> deprecate_patch (once no run without the marker can exist) -> removed.
PATCH_PUBLISH_ON_CHANGE = "publish-search-attributes-on-change"
#: An accepted rollback or abort shows at once and waits for deploys in flight (issue 8).
PATCH_INTERRUPTS_WIN = "interrupts-win"
#: A long bake or budget hold continues the release as a new run: no run's history grows without end (issue 11).
PATCH_BOUNDED_HISTORY = "bounded-history"
#: A bake counts the clock's time, its evaluations' included, not one interval per evaluation (issue 11).
PATCH_BAKE_BY_CLOCK = "bake-by-clock"
#: A gate evaluation runs first as a local activity, within the workflow task the timer woke (issue 11).
PATCH_LOCAL_GATES = "local-gate-evaluation"
#: A waiting release indexes who may act on it (``RingctlWaitingFor``) and why it waits (memo ``waiting``) (issue 13).
PATCH_INDEX_WAITING = "index-waiting-for"
#: A release that ends other than completed ends its workflow as failed, with its status (issue 13).
PATCH_END_AS_STATE = "end-as-release-state"
#: A ring waits while the plan's alarms fire in its regions, before its error-budget check (issue 14).
PATCH_ALARM_BLOCKER = "alarm-blocker"
#: After the last ring, every ring's gates keep running for the plan's ``watch``; a breach rolls back (issue 14).
PATCH_POST_RELEASE_WATCH = "post-release-watch"

#: A release continues as a new run once its history passes this many events (or the server suggests it) ...
HISTORY_EVENTS = 5_000
#: The lowest limit ``release start --history-limit`` takes: a run must hold a ring's deploy and rollback.
MIN_HISTORY_EVENTS = 200
#: ... or this many bytes: well under Temporal's warnings (10,240 events, 10 MB) and limits (51,200, 50 MB).
HISTORY_BYTES = 4 * 1024 * 1024


def workflow_id_for(service: str) -> str:
    """The workflow id of a service's release (the per-service lock)."""
    return f"{WORKFLOW_ID_PREFIX}{service}"
