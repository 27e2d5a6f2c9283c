"""Loading plan files people write: whatever a file holds, one line per problem, exit 1, quickly.

Every file of ``tests/plans/bad/`` is a small variant of ``tests/plans/minimal.yaml``
(bad encodings, duplicate keys, alias bombs, deep nesting, huge or infinite
numbers, wrong units, unknown fields, ...). Each goes through the real CLI,
``ringctl validate FILE``, as a subprocess; FIFOs, ``/dev/zero``, directories and
oversized files are made at test time. The CLI checks of ``release start``,
``rollback``, ``abort``, ``approve`` and ``--as`` run before anything connects to
Temporal, so these tests need no server (``--address 127.0.0.1:1`` makes sure).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringctl.core.durations import MAX_DURATION, parse_duration
from ringctl.core.errors import PlanError
from ringctl.core.planfile import MAX_PLAN_BYTES, MAX_PROBLEMS, load_plan, parse_plan
from ringctl.core.safeyaml import MAX_DEPTH, MAX_NODES
from ringctl.core.versions import check_version
from tests.support.cli_runs import Run, ringctl

ROOT = Path(__file__).resolve().parents[2]
PLANS = Path(__file__).resolve().parents[1] / "plans"
BAD = PLANS / "bad"
MINIMAL = PLANS / "minimal.yaml"
#: The console script next to the interpreter (as installed), else ``python -m ringctl``.
#: A ``ringctl validate`` of a bad file must end within this, start-up included.
DEADLINE = 2.0
NOWHERE = ("--address", "127.0.0.1:1")

#: What each corpus file must be refused with (a substring of its one-line problem).
EXPECTED: dict[str, str] = {
    "alias-bomb-billion-laughs.yaml": f"too many values: more than {MAX_NODES} with aliases expanded",
    "alias-bomb-mappings.yaml": "too many values",
    "alias-deep-chain.yaml": f"nested more than {MAX_DEPTH} levels deep",
    "alias-recursive.yaml": "alias *loop is used inside the node it refers to",
    "alias-undefined.yaml": "found undefined alias 'nowhere'",
    "duplicate-key-bake.yaml": "duplicate key 'bake': first at line 20, again at line 22",
    "duplicate-key-flow-mapping.yaml": "duplicate key 'name'",
    "duplicate-key-quoted.yaml": "duplicate key 'bake': first at line 20, again at line 21",
    "duplicate-key-top-level.yaml": "duplicate key 'rollback_retention': first at line 34, again at line 35",
    "encoding-control-character.yaml": "line 26, column 58: invalid YAML: control character U+0007 is not allowed",
    "encoding-cp1252-quote.yaml": "line 26: not UTF-8 text: byte 0x93",
    "encoding-latin1.yaml": "line 26: not UTF-8 text: byte 0xe9",
    "encoding-nul-byte.yaml": "line 24, column 59: not UTF-8 text: a NUL byte at offset 604",
    "encoding-truncated-utf8.yaml": "not UTF-8 text: byte 0xc3",
    "encoding-utf16be-bom.yaml": "line 1: not UTF-8 text: it starts with a UTF-16 or UTF-32 byte order mark",
    "encoding-utf16le-bom.yaml": "not UTF-8 text",
    "encoding-utf16le-no-bom.yaml": "line 1, column 2: not UTF-8 text: a NUL byte",
    "encoding-utf32-bom.yaml": "not UTF-8 text",
    "freeze-end-before-start.yaml": "rings[0].freezes[0]: end 2026-12-24 must be after start 2026-12-26",
    "freeze-far-future.yaml": "rings[0].freezes[0].start: year must be between 1970 and 2999 (got '9999-12-24')",
    "freeze-impossible-date.yaml": "line 26, column 17: invalid YAML: cannot read '2026-02-30' as timestamp",
    "holiday-country-unknown.yaml": "rings[1].holidays.country: no public-holiday calendar for country 'XX'",
    "holiday-subdivision-unknown.yaml": "rings[1].holidays: unknown subdivision 'ZZ' of JP",
    "huge-value.yaml": "rings[0].regions[0].country: String should match pattern",
    "japan-not-last.yaml": "rings[0].regions[0].country: Japan must be last",
    "many-problems.yaml": "… and 80 more problems",
    "nesting-100-block.yaml": f"nested more than {MAX_DEPTH} levels deep",
    "nesting-100-flow.yaml": f"line 20, column 72: invalid YAML: nested more than {MAX_DEPTH} levels deep",
    "nesting-5000-unclosed.yaml": f"nested more than {MAX_DEPTH} levels deep",
    "nesting-600-flow.yaml": f"nested more than {MAX_DEPTH} levels deep",
    "number-bake-1e999.yaml": "rings[0].bake: duration must be at most 366d, got inf",
    "number-bake-huge-digits.yaml": "rings[0].bake: duration must be at most 366d, got '9999",
    "number-bake-inf.yaml": "rings[0].bake: duration must be at most 366d, got inf",
    "number-bake-iso-huge.yaml": "rings[0].bake: expected an ISO 8601 duration such as 'PT5M', got 'P99999999999D'",
    "number-bake-negative.yaml": "rings[0].bake: duration must not be negative, got '-5m'",
    "number-consecutive-healthy-huge.yaml": "staging.gates[0].consecutive_healthy: Input should be less than or equal to 1000 (got 1000000)",
    "number-interval-1e20-float.yaml": "staging.gates[0].interval: duration must be at most 366d, got 1e+20",
    "number-interval-1e20-text.yaml": "staging.gates[0].interval: expected a duration such as '90s', '5m', '1h30m', '2d', got '1e20'",
    "number-interval-too-short.yaml": "staging.gates[0].interval: interval must be at least 1s (got '100ms')",
    "number-max-parallel-5000-digits.yaml": "line 21, column 19: invalid YAML: cannot read '1000",
    "number-max-parallel-huge.yaml": "rings[0].max_parallel: Input should be less than or equal to 1000 (got 100000)",
    "number-min-approvals-huge.yaml": "rings[1].approval.min_approvals: Input should be less than or equal to 100 (got 101)",
    "number-min-samples-inf.yaml": "staging.gates[0].min_samples: Input should be a finite number (got inf)",
    "number-retention-99999999999d.yaml": "rollback_retention: duration must be at most 366d, got '99999999999d'",
    "number-retention-9999999d.yaml": "rollback_retention: duration must be at most 366d, got '9999999d'",
    "number-rollout-timeout-999999999d.yaml": "rings[0].rollout_timeout: duration must be at most 366d, got '999999999d'",
    "number-threshold-1e999.yaml": "staging.gates[0].threshold: Input should be a finite number (got inf)",
    "number-threshold-nan.yaml": "staging.gates[0].threshold: Input should be a finite number (got nan)",
    "signing-bad-key.yaml": "approvals.public_keys: public key of 'alice' is not valid base64",
    "syntax-tab-indent.yaml": "line 21, column 1: invalid YAML: found",  # libyaml and PyYAML word it differently
    "syntax-unclosed-flow.yaml": "line 25, column 12: invalid YAML: ",
    "timezone-path.yaml": "rings[1].windows[0].timezone: unknown timezone '../../etc/passwd'",
    "timezone-unknown.yaml": "rings[1].windows[0].timezone: unknown timezone 'Asia/Tokio'",
    "type-empty.yaml": "expected a mapping with services, staging and rings, got None",
    "type-not-a-mapping.yaml": 'expected a mapping with services, staging and rings, got ["services", "rings"]',
    "type-python-tag.yaml": "line 20, column 11: invalid YAML: could not determine a constructor for the tag",
    "type-regions-string.yaml": "rings[0].regions: Input should be a valid list (got 'canary-1')",
    "type-two-documents.yaml": "line 35, column 1: invalid YAML: but found another document",
    "type-unhashable-key.yaml": "invalid YAML: found unhashable key",
    "unit-bake-boolean.yaml": "rings[0].bake: expected a duration such as '90s', '5m', '1h30m', '2d', got True",
    "unit-bake-words.yaml": "rings[0].bake: expected a duration such as '90s', '5m', '1h30m', '2d', got '5 minutes'",
    "unit-bake-years.yaml": "rings[0].bake: expected a duration such as '90s', '5m', '1h30m', '2d', got '1y'",
    "unknown-field-gate-typo.yaml": "staging.gates[0].treshold: unknown field",
    "unknown-field-region.yaml": "rings[0].regions[0].kube_contxt: unknown field",
    "unknown-field-ring.yaml": "rings[0].bogus: unknown field",
    "unknown-field-top-level.yaml": "ringz: unknown field",
}


def assert_plan_refused(run: Run, path: str | Path, expected: str) -> None:
    """Exit 1, no traceback, every stderr line ``PATH: ...``, the expected problem, within the deadline."""
    assert run.returncode == 1, run
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    lines = run.stderr.splitlines()
    assert lines, run
    assert all(line.startswith(f"{path}: ") for line in lines), run.stderr
    assert expected in run.stderr, run.stderr
    assert len(lines) <= MAX_PROBLEMS + 1 and all(len(line) < len(str(path)) + 500 for line in lines), run.stderr
    assert run.seconds < DEADLINE, f"{path} took {run.seconds:.2f}s"


@pytest.fixture(scope="module")
def validated() -> dict[str, Run]:
    """``ringctl validate`` of every corpus file, a few subprocesses at a time."""
    files = sorted(BAD.iterdir())
    workers = max(1, min(4, (os.cpu_count() or 2)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        runs = pool.map(lambda path: ringctl("validate", str(path.relative_to(ROOT))), files)
        return {path.name: run for path, run in zip(files, runs, strict=True)}


def test_corpus_has_a_small_variant_of_the_minimal_plan_for_every_expectation() -> None:
    assert load_plan(MINIMAL).stages[-1].name == "japan"
    names = {path.name for path in BAD.iterdir()}
    assert names == set(EXPECTED)
    assert len(names) >= 40
    assert all((BAD / name).stat().st_size < 64 * 1024 for name in names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_plan_is_one_clear_error_from_ringctl_validate(validated: dict[str, Run], name: str) -> None:
    assert_plan_refused(validated[name], f"tests/plans/bad/{name}", EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_plan_raises_plan_error_and_nothing_else(name: str) -> None:
    start = time.monotonic()
    with pytest.raises(PlanError) as error:
        load_plan(BAD / name)
    assert time.monotonic() - start < 1.0
    assert all("\n" not in problem for problem in error.value.problems)
    assert any(EXPECTED[name] in problem for problem in error.value.problems), error.value.problems


def test_many_problems_are_cut_to_the_first_twenty_and_counted(validated: dict[str, Run]) -> None:
    lines = validated["many-problems.yaml"].stderr.splitlines()
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[0].endswith("rings[0].regions[1].country: String should match pattern '^[A-Z]{2}$' (got 'Japan')")
    assert lines[-1] == "tests/plans/bad/many-problems.yaml: … and 80 more problems"


def test_a_huge_value_is_shown_cut_short(validated: dict[str, Run]) -> None:
    [line] = validated["huge-value.yaml"].stderr.splitlines()
    assert line.endswith("XXX...)") and len(line) < 200


# -- files that are not plain files, made at test time ---------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    yield path


def special_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    big = tmp_path / "big.yaml"
    big.write_bytes(MINIMAL.read_bytes() + b"#" * MAX_PLAN_BYTES)
    many = tmp_path / "many.yaml"
    many.write_text(MINIMAL.read_text() + "x-many: [" + ",".join(["1"] * (MAX_NODES + 10)) + "]\n")
    return {
        "dev-zero": (Path("/dev/zero"), "cannot read file: it is a character device, not a regular file"),
        "directory": (tmp_path, "cannot read file: it is a directory, not a regular file"),
        "oversized": (big, f"file too large: {big.stat().st_size} bytes, at most {MAX_PLAN_BYTES}"),
        "too-many-values": (many, f"too many values: more than {MAX_NODES} with aliases expanded"),
        "missing": (tmp_path / "nope.yaml", "cannot read file: No such file or directory"),
    }


def test_fifo_is_refused_without_blocking(fifo: Path) -> None:
    assert_plan_refused(ringctl("validate", str(fifo), timeout=10), fifo, "it is a FIFO, not a regular file")
    start = ("release", "start", "--service", "checkout", "--version", "1.0.0", "--plan", str(fifo), *NOWHERE)
    assert_plan_refused(ringctl(*start, timeout=10), fifo, "it is a FIFO, not a regular file")


@pytest.mark.parametrize("kind", ["dev-zero", "oversized", "too-many-values", "missing"])
def test_special_file_is_refused_by_validate(tmp_path: Path, kind: str) -> None:
    path, expected = special_files(tmp_path)[kind]
    assert_plan_refused(ringctl("validate", str(path), timeout=10), path, expected)


def test_directory_is_refused_by_validate_like_any_bad_plan(tmp_path: Path) -> None:
    path, expected = special_files(tmp_path)["directory"]
    assert_plan_refused(ringctl("validate", str(path), timeout=10), path, expected)


@pytest.mark.parametrize("kind", ["dev-zero", "directory", "oversized", "too-many-values"])
def test_special_file_is_refused_by_release_start_before_connecting(tmp_path: Path, kind: str) -> None:
    path, expected = special_files(tmp_path)[kind]
    start = ("release", "start", "--service", "checkout", "--version", "1.0.0", "--plan", str(path), *NOWHERE)
    assert_plan_refused(ringctl(*start, timeout=10), path, expected)


@pytest.mark.parametrize(
    "name",
    [
        "encoding-latin1.yaml",
        "encoding-utf16le-bom.yaml",
        "duplicate-key-bake.yaml",
        "alias-bomb-billion-laughs.yaml",
        "nesting-600-flow.yaml",
        "number-retention-99999999999d.yaml",
        "unknown-field-ring.yaml",
    ],
)
def test_bad_plan_is_refused_by_release_start_before_connecting(name: str) -> None:
    path = f"tests/plans/bad/{name}"
    run = ringctl("release", "start", "--service", "checkout", "--version", "1.0.0", "--plan", path, *NOWHERE)
    assert_plan_refused(run, path, EXPECTED[name])


# -- the loader in process ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100, 500, 1000, 100_000])
def test_deep_nesting_never_raises_recursion_error(depth: int) -> None:
    for text in (
        "services: " + "[" * depth + "]" * depth,
        "services: " + "{a: " * depth + "1" + "}" * depth,
        "".join("  " * i + f"k{i}:\n" for i in range(min(depth, 300))) + "  " * min(depth, 300) + "v: 1\n",
    ):
        with pytest.raises(PlanError, match=f"nested more than {MAX_DEPTH} levels deep"):
            parse_plan(text, "deep.yaml")


def test_nesting_of_a_real_plan_is_far_from_the_limit() -> None:
    assert load_plan(ROOT / "rings.yaml").rings


@pytest.mark.parametrize(
    "value",
    ["99999999999d", "999999999d", "367d", float("inf"), 1e20, 1e300, 10**400, "9" * 500 + "s", "P99999999999D"],
)
def test_durations_beyond_the_maximum_are_a_value_error_never_an_overflow(value: object) -> None:
    with pytest.raises(ValueError, match=r"at most 366d|ISO 8601") as error:
        parse_duration(value)
    assert len(str(error.value)) < 150
    assert timedelta(days=366) == MAX_DURATION
    assert parse_duration("366d") == MAX_DURATION and parse_duration("0s") == timedelta(0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "99999999999d", 10**400])
def test_without_the_maximum_a_duration_is_still_finite_and_representable(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value, maximum=None)


#: Characters YAML gives meaning to, and some it refuses, to build YAML-ish text from.
_YAMLISH = st.sampled_from(
    [*" \n\t:-[]{},&*!|>'\"#%@`?.0123456789eE+_", "a", "x", "é", "\x00", "\x07", "\ufeff", "<<", "*a", "&a", ".inf"]
)
_MINIMAL_TEXT = MINIMAL.read_text()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_YAMLISH, max_size=200).map("".join))
def test_any_yamlish_text_is_a_plan_or_a_plan_error(text: str) -> None:
    try:
        parse_plan(text, "fuzz.yaml")
    except PlanError as error:
        assert error.problems
        assert all("\n" not in problem and len(problem) < 600 for problem in error.problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_MINIMAL_TEXT)), st.integers(0, 40), st.lists(_YAMLISH, max_size=30).map("".join))
def test_a_damaged_minimal_plan_is_a_plan_or_a_plan_error(at: int, cut: int, insert: str) -> None:
    text = _MINIMAL_TEXT[:at] + insert + _MINIMAL_TEXT[at + cut :]
    try:
        parse_plan(text, "fuzz.yaml")
    except PlanError as error:
        assert all("\n" not in problem and len(problem) < 600 for problem in error.problems)


# -- version, reason and actor checks of the CLI --------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.4.2", "v2", "2024-05-01_rc.1", "A" * 128, "_x"])
def test_valid_image_tags_are_versions(version: str) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize("version", ["", " ", "1.0 beta", " 1.0", ".1", "-rc", "a" * 129, "1/2", "1:2", "é"])
def test_invalid_image_tags_are_not_versions(version: str) -> None:
    with pytest.raises(ValueError):
        check_version(version)


@pytest.mark.parametrize("version", ["", "   ", "1.0 beta", "1.0\n", "-x"])
def test_release_start_refuses_a_version_that_is_not_an_image_tag(version: str) -> None:
    run = ringctl("release", "start", "--service", "checkout", "--version", version, "--plan", str(MINIMAL), *NOWHERE)
    assert run.returncode == 2, run
    assert "Invalid value for --version" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("rollback", "checkout", "--reason", ""),
        ("rollback", "--service", "checkout", "--reason", "   "),
        ("abort", "checkout@1.0.0", "--reason", ""),
        ("abort", "checkout@1.0.0", "--reason", "\t"),
    ],
)
def test_blank_reason_is_a_usage_error(args: tuple[str, ...]) -> None:
    run = ringctl(*args, *NOWHERE)
    assert run.returncode == 2, run
    assert "Invalid value for '--reason': must not be empty" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("override", ["--override-budget", "--override-window"])
@pytest.mark.parametrize("reason", [None, "", "  "])
def test_approve_with_an_override_needs_a_reason(override: str, reason: str | None) -> None:
    extra = () if reason is None else ("--reason", reason)
    run = ringctl("approve", "checkout@1.0.0", "--ring", "japan", override, *extra, *NOWHERE)
    assert run.returncode == 2, run
    assert f"Invalid value for --reason: must say why, with {override}" in run.stderr


@pytest.mark.parametrize("actor", ["", "  "])
def test_empty_actor_is_a_usage_error(actor: str) -> None:
    run = ringctl("status", "checkout@1.0.0", "--as", actor, *NOWHERE)
    assert run.returncode == 2, run
    assert "Invalid value for --as: must not be empty" in run.stderr
