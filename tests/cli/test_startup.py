"""What a ``ringctl`` command imports before it answers: only what that command uses (issue 11).

Each command runs in a fresh interpreter, as the console script runs it, and reports
the top-level packages it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PLAN = ROOT / "rings.yaml"
#: Heavy packages no command that stays local needs: the Temporal SDK, HTTP, cryptography, logging.
REMOTE_ONLY = {"temporalio", "httpx", "cryptography", "structlog", "google"}
#: Packages ``--help`` does not need either: plan validation's.
VALIDATION = {"pydantic", "pydantic_core", "yaml", "holidays"}

_PROBE = """
import json, sys
from ringctl.cli import _main  # the console script's main() without its os._exit
_main()
sys.stdout.flush()
imported = set(sys.modules)
if "structlog" in imported and sys.modules["structlog"].is_configured():
    imported.add("structlog (configured)")
sys.stderr.write("\\nIMPORTED " + json.dumps(sorted(imported)) + "\\n")
"""


def modules_of(*args: str) -> set[str]:
    """The modules imported by ``ringctl ARGS`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    marker = done.stderr.rpartition("\nIMPORTED ")[2]
    assert marker != done.stderr, done.stderr
    return set(json.loads(marker))


def imported_by(*args: str) -> set[str]:
    """The top-level packages imported by ``ringctl ARGS`` in a fresh interpreter."""
    return {name.split(".")[0] for name in modules_of(*args)}


@pytest.mark.parametrize("args", [("--help",), ("validate", "--help"), ("status", "--help"), ("worker", "--help")])
def test_help_imports_only_click(args: tuple[str, ...]) -> None:
    assert imported_by(*args) & (REMOTE_ONLY | VALIDATION) == set()


def test_validate_imports_no_temporal_http_cryptography_or_logging() -> None:
    assert imported_by("validate", str(SHIPPED_PLAN)) & REMOTE_ONLY == set()


def test_validate_checks_a_holiday_country_without_loading_every_calendar() -> None:
    modules = modules_of("validate", str(SHIPPED_PLAN))  # japan: holidays: {country: JP, ...}
    assert "holidays.registry" in modules
    assert {name for name in modules if name.startswith("holidays.countries")} == set()


def test_validate_imports_holidays_only_for_a_plan_with_a_holiday_calendar(tmp_path: Path) -> None:
    data = yaml.safe_load(SHIPPED_PLAN.read_text())
    for ring in [data["staging"], *data["rings"]]:
        ring.pop("holidays", None)
    plan = tmp_path / "rings.yaml"
    plan.write_text(yaml.safe_dump(data))
    imported = imported_by("validate", str(plan))
    assert "pydantic" in imported  # it did validate
    assert imported & (REMOTE_ONLY | {"holidays"}) == set()


def test_status_imports_the_client_not_the_workflow_code() -> None:
    modules = modules_of("status", "checkout@1.1.0", "--address", "127.0.0.1:9")  # nothing listens: exits 4
    assert "ringctl.client.releases" in modules
    assert "ringctl.workflows.ring_release" not in modules
    assert {name.split(".")[0] for name in modules} & {"httpx", "structlog", "cryptography", "holidays"} == set()


def test_a_command_that_runs_providers_configures_structlog() -> None:
    imported = imported_by("validate", "--check-queries", "--prometheus-url", "http://127.0.0.1:9", str(SHIPPED_PLAN))
    assert "structlog (configured)" in imported
