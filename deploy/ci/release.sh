#!/bin/sh
# Start a release of $SERVICE at $VERSION after the image build, and wait for its end (deploy/ci/*.yml).
#
#   SERVICE, VERSION          what to release (the image <service image>:<version> must exist)
#   RINGCTL_PLAN              the plan file (default rings.yaml)
#   RINGCTL_ACTOR             who the audit log names (e.g. ci:<repository>)
#   TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_CLIENT_CERT_PATH, ... or TEMPORAL_API_KEY
#   RINGCTL_WAIT=no           start and return at once (a later job can `ringctl status` it)
#   RINGCTL_COMMIT, RINGCTL_BUILD_URL, RINGCTL_CHANGE
#                             recorded with the release; status, history and notifications show them
#
# Exit codes (ringctl's): 0 completed; 1 refused (bad plan or input: nothing started); 3 ended
# without completing (rolled back, aborted, failed: see `ringctl status`); 4 Temporal or no worker
# answered in time (nothing applied: safe to run again).
# --wait waits through every bake and approval: with a guarded Japan ring that can be days, so a
# pipeline either gives this job that long or sets RINGCTL_WAIT=no.
set -eu
: "${SERVICE:?set SERVICE}" "${VERSION:?set VERSION}"
plan="${RINGCTL_PLAN:-rings.yaml}"

ringctl validate "$plan"
wait_flag="--wait"
[ "${RINGCTL_WAIT:-yes}" = "no" ] && wait_flag=""
set --
[ -n "${RINGCTL_COMMIT:-}" ] && set -- "$@" --commit "$RINGCTL_COMMIT"
[ -n "${RINGCTL_BUILD_URL:-}" ] && set -- "$@" --build-url "$RINGCTL_BUILD_URL"
[ -n "${RINGCTL_CHANGE:-}" ] && set -- "$@" --change "$RINGCTL_CHANGE"
set +e
ringctl release start --service "$SERVICE" --version "$VERSION" --plan "$plan" $wait_flag "$@"
code=$?
set -e
case "$code" in
  0) echo "ringctl: $SERVICE@$VERSION ${wait_flag:+completed}${wait_flag:-started}" ;;
  1) echo "ringctl: refused, nothing was started (see the line above)" >&2 ;;
  3) echo "ringctl: $SERVICE@$VERSION did not complete; ringctl status $SERVICE@$VERSION says why" >&2 ;;
  4) echo "ringctl: Temporal or no worker answered in time; nothing was applied, safe to retry" >&2 ;;
  *) echo "ringctl: exit $code" >&2 ;;
esac
exit "$code"
