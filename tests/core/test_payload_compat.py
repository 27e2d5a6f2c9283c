"""Stored payloads decode leniently and purely; plan files are checked strictly.

A release's plan travels in workflow and activity payloads. During a rolling
upgrade a worker one version older decodes payloads written by a newer one (and
the other way round), and a payload may be decoded inside the workflow sandbox,
where importing ``holidays`` (which reads the clock) or reading the tz database
is not allowed. So decoding a payload ignores unknown fields, does not re-apply
bounds a later version may have tightened, and imports, reads and looks up
nothing; the plan-file checks (``ringctl validate``, ``release start``) stay as
strict as ever.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.common.v1 import Payload

from ringctl.activities.notify import NotifyInput
from ringctl.activities.schedule import CheckWindowInput
from ringctl.core.errors import PlanError
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.core.plan import BurnRateGate, ErrorBudgetGate, Plan, ThresholdGate
from ringctl.core.planfile import load_plan, parse_plan
from ringctl.workflows.models import ReleaseInput

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rings.yaml"
CONVERTER = DATA_CONVERTER.payload_converter


def release_input(plan: Plan) -> ReleaseInput:
    return ReleaseInput(
        release_id="checkout@1.4.2",
        service="checkout",
        version="1.4.2",
        image="registry.example.com/shop/checkout:1.4.2",
        plan=plan,
        started_by="ci-pipeline",
    )


def encode(value: Any) -> tuple[Payload, dict[str, Any]]:
    """``value`` as a payload of the pydantic converter, and its JSON as data to edit."""
    [payload] = CONVERTER.to_payloads([value])
    return payload, json.loads(payload.data)


def decode(payload: Payload, data: dict[str, Any], type_: type[Any]) -> Any:
    """Decode ``data`` (edited JSON of ``payload``) as the converter does for a worker."""
    edited = Payload(metadata=dict(payload.metadata), data=json.dumps(data).encode())
    [value] = CONVERTER.from_payloads([edited], [type_])
    return value


#: Where a newer version might add a field, as (path in the ReleaseInput JSON, field).
NEW_FIELDS: list[tuple[tuple[Any, ...], str]] = [
    ((), "priority"),
    (("plan",), "canary_analysis"),
    (("plan", "rings", 0), "bogus"),
    (("plan", "rings", 0, "gates", 0), "quantile"),
    (("plan", "rings", 0, "regions", 0), "zone"),
    (("plan", "rings", 0, "approval"), "quorum"),
    (("plan", "services", 0, "slos", 0), "alerting"),
    (("plan", "services", 0, "slos", 0, "burn_rate", 0), "severity"),
    (("plan", "rings", -1, "holidays"), "observed"),
    (("plan", "rings", -1, "windows", 0), "jitter"),
    (("plan", "approvals"), "algorithm"),
    (("plan", "notifications"), "email"),
    (("plan", "prometheus"), "headers"),
]


def at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def shipped_plan_with_a_window() -> Plan:
    """The shipped plan, its Japan ring also given a deployment window (the shipped one has none)."""
    data = yaml.safe_load(SHIPPED.read_text())
    data["rings"][-1]["windows"] = [{"timezone": "Asia/Tokyo", "days": "mon-fri", "start": "10:00", "end": "16:00"}]
    return parse_plan(yaml.safe_dump(data), "rings.yaml")


def test_older_worker_decodes_a_newer_payload_with_unknown_fields_at_every_level() -> None:
    original = release_input(shipped_plan_with_a_window())
    payload, data = encode(original)
    for path, field in NEW_FIELDS:
        at(data, path)[field] = {"added": "by a newer version"}
    assert decode(payload, data, ReleaseInput) == original


def test_newer_worker_decodes_an_older_payload_without_optional_fields() -> None:
    original = release_input(load_plan(SHIPPED))
    payload, data = encode(original)
    for path, field in [
        (("plan",), "rollback_retention"),
        (("plan",), "notifications"),
        (("plan",), "approvals"),
        (("plan", "rings", 0), "max_parallel"),
        (("plan", "rings", 0), "windows"),
        (("plan", "rings", 0, "gates", 0), "missing_data"),
        ((), "speed"),
    ]:
        del at(data, path)[field]
    decoded = decode(payload, data, ReleaseInput)
    assert decoded.plan.rollback_retention.days == 7 and decoded.plan.rings[0].max_parallel == 1
    assert decoded.plan.notifications.webhooks == [] and decoded.plan.approvals.signing == "off"
    assert decoded.speed == 1.0


#: A gate as the flat model before the union wrote it: every kind's fields, the unused ones null.
FLAT_GATE: dict[str, Any] = {
    "name": "g",
    "kind": "threshold",
    "query": "q",
    "comparison": "<=",
    "threshold": 0.01,
    "window": "5m",
    "long_window": None,
    "objective": None,
    "interval": "1m",
    "samples_query": None,
    "min_samples": 0.0,
    "missing_data": "hold",
    "consecutive_healthy": 1,
    "slo": None,
}


def test_gates_of_the_flat_model_before_the_union_still_decode() -> None:
    payload, data = encode(release_input(load_plan(SHIPPED)))
    data["plan"]["rings"][0]["gates"] = [
        FLAT_GATE,
        {**FLAT_GATE, "name": "b", "kind": "burn_rate", "threshold": 14.4, "long_window": "1h", "objective": 0.999},
        {**FLAT_GATE, "name": "e", "kind": "error_budget", "comparison": ">", "threshold": 0, "objective": 0.999},
    ]
    threshold, burn, budget = decode(payload, data, ReleaseInput).plan.rings[0].gates
    assert isinstance(threshold, ThresholdGate) and threshold.derive([0.02]) == 0.02
    assert isinstance(burn, BurnRateGate) and burn.windows() == [timedelta(minutes=5), timedelta(hours=1)]
    assert isinstance(budget, ErrorBudgetGate) and budget.derive([0.0005]) == 0.5


def test_the_yaml_loader_still_refuses_the_same_unknown_fields(tmp_path: Path) -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    data["rings"][0]["bogus"] = 1
    data["rings"][0]["gates"] = [{**data["rings"][0]["gates"][0], "quantile": 0.99}]
    data["rings"][0]["regions"][0]["zone"] = "a"
    data["notifications"]["email"] = "x"
    data["canary_analysis"] = True
    path = tmp_path / "rings.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PlanError) as error:
        load_plan(path)
    assert set(error.value.problems) == {
        "rings[0].bogus: unknown field",
        "rings[0].gates[0].quantile: unknown field",
        "rings[0].regions[0].zone: unknown field",
        "notifications.email: unknown field",
        "canary_analysis: unknown field",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ringctl", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{path}: rings[0].bogus: unknown field" in done.stderr.splitlines()


def test_schema_still_forbids_unknown_fields() -> None:
    schema = Plan.model_json_schema()
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values() if d.get("type") == "object")


def test_bounds_a_later_version_tightened_do_not_stop_an_older_payload_from_decoding() -> None:
    # Accepted by earlier versions (before durations were capped at 366d and intervals at 1s).
    original = release_input(load_plan(SHIPPED))
    payload, data = encode(original)
    data["plan"]["rollback_retention"] = "400d"
    data["plan"]["services"][0]["slos"][0]["interval"] = "0.5s"
    data["plan"]["services"][0]["slos"][0]["window"] = "400d"
    decoded = decode(payload, data, ReleaseInput)
    assert decoded.plan.rollback_retention.days == 400
    gates = decoded.plan.gates_for("checkout", decoded.plan.rings[0])  # the workflow builds these
    assert min(g.interval.total_seconds() for g in gates) == 0.5
    assert decoded.plan.budget_gates_for("checkout", decoded.plan.rings[0])[0].window.days == 400
    with pytest.raises(PlanError, match="rollback_retention: duration must be at most 366d"):
        parse_plan(SHIPPED.read_text().replace("rollback_retention: 7d", "rollback_retention: 400d"))


def test_activity_payloads_of_plan_models_are_lenient_too() -> None:
    plan = shipped_plan_with_a_window()
    schedule = plan.rings[-1].schedule
    check = CheckWindowInput(schedule=schedule, now="2026-06-03T12:00:00Z")  # type: ignore[arg-type]
    payload, data = encode(check)
    data["schedule"]["holidays"]["observed"] = True
    data["schedule"]["windows"][0]["jitter"] = "5m"
    data["schedule"]["new_rule"] = []
    assert decode(payload, data, CheckWindowInput) == check
    notify = NotifyInput.model_validate(
        {
            "webhook": {"url": "https://hooks.example.com/x", "name": "releases"},
            "event": "started",
            "release_id": "checkout@1",
            "service": "checkout",
            "version": "1",
            "ring": None,
            "text": "started",
            "at": "2026-06-03T12:00:00Z",
            "actor": "ci",
        }
    )
    payload, data = encode(notify)
    data["webhook"]["secret_header"] = "x"
    assert decode(payload, data, NotifyInput) == notify


#: Decodes a ReleaseInput payload in a fresh interpreter and reports what that imported, read and timed.
_DECODE_IN_A_FRESH_PROCESS = """
import json, sys, time
payload_json = open(sys.argv[1], "rb").read()
plan_dict = json.loads(open(sys.argv[2], "rb").read())

from temporalio.api.common.v1 import Payload
from ringctl.core.payloads import DATA_CONVERTER
from ringctl.core.plan import Plan
from ringctl.workflows.models import ReleaseInput

imported_before = sorted(m for m in ("holidays", "dateutil") if m in sys.modules)
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
clock = []
for name in ("localtime", "gmtime", "time", "mktime"):
    real = getattr(time, name)
    setattr(time, name, lambda *a, _name=name, _real=real: clock.append(_name) or _real(*a))

payload = Payload(metadata={"encoding": b"json/plain"}, data=payload_json)
[decoded] = DATA_CONVERTER.payload_converter.from_payloads([payload], [ReleaseInput])
plan = Plan.model_validate(plan_dict)
print(json.dumps({
    "imported_before": imported_before,
    "imported": sorted(m for m in ("holidays", "dateutil") if m in sys.modules),
    "opened": opened,
    "clock": clock,
    "holidays": decoded.plan.rings[-1].holidays.country,
    "windows": len(decoded.plan.rings[-1].windows),
    "same": plan == decoded.plan,
}))
"""


def test_decoding_the_shipped_plan_imports_reads_and_times_nothing(tmp_path: Path) -> None:
    plan = shipped_plan_with_a_window()
    assert plan.rings[-1].holidays is not None and plan.rings[-1].windows  # holidays: and a timezone
    payload, _ = encode(release_input(plan))
    (tmp_path / "payload.json").write_bytes(payload.data)
    (tmp_path / "plan.json").write_text(json.dumps(plan.model_dump(mode="json")))
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_IN_A_FRESH_PROCESS, str(tmp_path / "payload.json"), str(tmp_path / "plan.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["imported_before"] == [], "importing ringctl.core.plan must not import holidays or dateutil"
    assert report["imported"] == [], report
    assert report["opened"] == [], report
    assert report["clock"] == [], report
    assert report["holidays"] == "JP" and report["windows"] == 1 and report["same"]


def test_decoding_does_not_run_plan_file_checks_but_loading_does() -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    data = {key: value for key, value in data.items() if not key.startswith("x-")}
    data["rings"][-1]["holidays"] = {"country": "XX", "timezone": "Asia/Tokio"}
    assert Plan.model_validate(data).rings[-1].holidays is not None  # pure: no calendar, no tz database
    with pytest.raises(PlanError) as error:
        parse_plan(yaml.safe_dump(data), "rings.yaml")
    assert error.value.problems == [
        "rings[3].holidays.country: no public-holiday calendar for country 'XX'; use an ISO 3166-1 code such as "
        "'JP' (got 'XX')",
        "rings[3].holidays.timezone: unknown timezone 'Asia/Tokio'; use an IANA name such as 'Asia/Tokyo' "
        "(got 'Asia/Tokio')",
    ]
