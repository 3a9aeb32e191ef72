"""Hostile input: property tests throw arbitrary values at every recording entry point.

Each call must either record a valid record or raise ``ValueError``/``TypeError`` whose
message starts with the field's name; never another exception, never a failure later at
``close()`` (internal errors re-raise under test), never a half-written file, never a path
outside ``out_dir`` (the tree around it is snapshotted), and the bundle validates.

``AUGUR_HYPOTHESIS_EXAMPLES`` sets the examples per property (default 40).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability_support import (
    child_env,
    temp_files,
    torn_or_bad_jsonl,
    tree,
    unreadable_json,
)

from augur_sdk import DebugSession
from augur_sdk.redaction import DefaultRedactionPolicy
from augur_sdk.testing import make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record

EXAMPLES = int(os.environ.get("AUGUR_HYPOTHESIS_EXAMPLES", "40"))
HOSTILE = settings(
    max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example, HealthCheck.filter_too_much],
)
RUN_ID = "run_hostile"

# ── value strategies ─────────────────────────────────────────────────────────

# Text including lone surrogates (not UTF-8 encodable), NUL and other control characters.
any_text = st.text(st.characters(exclude_categories=()), max_size=20)
# Long strings, with and without breaks: unbroken runs of the characters an email address
# or a token is made of (once quadratic in redaction, bug 7), and near-misses of a secret.
huge_text = st.sampled_from(["x " * 100_000, "x" * 100_000, "A" * 100_000, "ü" * 100_000,
                             "a.b%c+d-e_" * 10_000, "a" * 50_000 + "@" + "b" * 50_000,
                             "Bearer " + "t" * 100_000, "api_key=" + "k" * 100_000,
                             "\ud800" * 10, "\x00" * 1000,
                             "https://example.com/" + "a/" * 50_000])
odd_numbers = st.sampled_from([math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1, 2**64,
                               10**30, -0.0, 1e308, 5e-324, 10**400])
odd_objects = st.sampled_from([object(), {1, 2}, complex(1, 2), Decimal("1.5"), b"bytes",
                               bytearray(b"ba"), memoryview(b"mv"), datetime(2026, 1, 1),
                               datetime(2026, 1, 1, tzinfo=UTC), Path("/etc/passwd"),
                               range(3), frozenset({1}), ...])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), any_text,
                    st.binary(max_size=8), odd_numbers, odd_objects, huge_text)
keys = st.one_of(any_text, any_text, st.integers(), st.none(), st.tuples(st.integers()))


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for n in range(depth):
        value = {"k": value} if n % 2 else [value]
    return value


deep = st.integers(1, 400).map(nested)
# Values JSON can carry (so that many calls are accepted and go all the way to disk).
json_text = st.one_of(st.text(max_size=30), st.sampled_from(["x " * 50_000, "ü" * 50_000]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
              st.floats(allow_nan=False, allow_infinity=False), json_text),
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.text(max_size=10), kids, max_size=4)),
    max_leaves=10)
values = st.one_of(
    st.recursive(scalars, lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=4),
        st.tuples(kids, kids)), max_leaves=10),
    deep,
)

# Where in a step a hostile value goes (top-level keys from the schema, and nested ones).
STEP_PATHS = [
    ("step_id",), ("step_index",), ("step_type",), ("status",), ("started_at",), ("ended_at",),
    ("duration_ms",), ("intent",), ("failure_class",), ("observation_pre",),
    ("observation_post",), ("action",), ("action", "type"), ("action", "params"),
    ("action", "params", "x"), ("grounding",), ("grounding", "confidence"),
    ("grounding", "coordinates", "x"), ("verdict",), ("verdict", "status"),
    ("verdict", "score"), ("latency",), ("costs",), ("branch_context",), ("group_id",),
    ("capture_mode",), ("env_fingerprint",), ("events",), ("logs",), ("required",),
    ("step_iterations",), ("judge_decisions",), ("recovery_decision",), ("unknown_key",),
]
EVENT_PATHS = [("ts",), ("step_index",), ("layer",), ("kind",), ("summary",), ("detail",),
               ("detail", "x"), ("detail", "nested", "list"), ("extra",)]

timestamps = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
                     "2026-05-19T00:00:00+14:00", "2026-05-19T00:00:00-12:00",
                     "2026-05-19 00:00:00z", "2016-12-31T23:59:60Z", "2026-02-30T00:00:00Z",
                     "1970-01-01T00:00:00,5Z", "2026-05-19T00:00:00.1234567891Z"]),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
)
unit = st.floats(0, 1)
# Values a careful agent might really send to each field (most are accepted), so that the
# accepted path -- encode, span, bundle file, close, validate -- gets as much traffic as the
# rejected one. Observations: see test_observation_path_outside_the_bundle_is_rejected.
PLAUSIBLE_STEP: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("step_id",): st.sampled_from([f"{RUN_ID}/step/0001", f"{RUN_ID}/step/1", "custom-7"]),
    ("step_index",): st.integers(0, 10**6),
    ("intent",): json_text, ("step_type",): json_text, ("group_id",): json_text,
    ("verdict_source",): json_text, ("failure_class",): st.sampled_from(
        ["no_state_change", "timeout", "mantis.modal", "x.y", "Not A Class"]),
    ("status",): st.sampled_from(["pending", "running", "succeeded", "failed", "skipped",
                                  "recovered"]),
    ("started_at",): timestamps, ("ended_at",): st.one_of(st.none(), timestamps),
    ("duration_ms",): st.one_of(st.none(), st.integers(0, 2**70)),
    ("step_iterations",): st.integers(1, 2**70), ("required",): st.booleans(),
    ("loop_detected",): st.booleans(),
    ("action", "type"): json_text, ("action", "params"): st.dictionaries(
        st.text(max_size=8), json_values, max_size=4),
    ("action", "params", "x"): json_values, ("action", "dispatch_backend"): json_text,
    ("grounding", "confidence"): st.one_of(unit, st.floats(-1, 2)),
    ("grounding", "coordinates"): st.fixed_dictionaries(
        {"x": st.floats(allow_nan=False, allow_infinity=False),
         "y": st.integers(-(2**70), 2**70)}),
    ("grounding", "evidence"): json_text, ("grounding", "target_label"): json_text,
    ("verdict", "status"): st.sampled_from(["passed", "failed", "recoverable", "skipped",
                                            "unknown"]),
    ("verdict", "score"): unit, ("verdict", "reason"): json_text,
    ("verdict", "evidence_refs"): st.lists(json_text, max_size=3),
    ("latency",): st.dictionaries(st.sampled_from(["planner_ms", "total_ms"]),
                                  st.integers(0, 2**63), max_size=2),
    ("costs",): st.dictionaries(st.sampled_from(["total_usd", "tokens_in"]),
                                st.integers(0, 10**9), max_size=2),
    ("events",): st.lists(json_text, max_size=3), ("logs",): st.lists(json_text, max_size=3),
    ("observation_pre",): st.sampled_from([None, "screenshots/0001_pre.png"]),
    ("observation_post",): st.sampled_from([None, "screenshots/0001_post.png"]),
}
PLAUSIBLE_EVENT: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("ts",): timestamps, ("summary",): json_text,
    ("layer",): st.sampled_from(["planner", "grounding", "model", "dispatch", "verifier",
                                 "step_recovery", "routing", "runner", "adapter"]),
    ("kind",): st.sampled_from(["decision", "observation", "error", "info", "metric"]),
    ("detail",): st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    ("detail", "x"): json_values, ("step_index",): st.integers(0, 10**6),
}


def put(record: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> None:
    target = record
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    if delete:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


def mutated(base: dict[str, Any], paths: list[tuple[str, ...]],
            plausible: dict[tuple[str, ...], st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """``base`` with 1-4 fields changed: half the time to a hostile value anywhere (or
    deleted), half the time to a value a real agent might send; or any value at all."""
    @st.composite
    def build(draw: st.DrawFn) -> Any:
        roll = draw(st.integers(0, 11))
        if roll == 0:
            return draw(values)  # not even a dict (mostly)
        if roll == 1:
            return draw(st.dictionaries(keys, values, max_size=6))
        record = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.booleans()):
                put(record, draw(st.sampled_from(paths)), draw(values),
                    draw(st.integers(0, 4)) == 0)
            else:
                path = draw(st.sampled_from(sorted(plausible)))
                put(record, path, draw(plausible[path]), False)
        return record
    return build()


# ── the harness ──────────────────────────────────────────────────────────────


@contextmanager
def sandbox() -> Iterator[Path]:
    """A fresh out_dir two levels below a snapshotted root; nothing outside it may change."""
    base = Path(tempfile.mkdtemp(prefix="augur-hostile-"))
    out = base / "a" / "b" / "out"
    out.parent.mkdir(parents=True)
    (base / "a" / "keep.txt").write_text("not ours")
    before = tree(base)
    try:
        yield out
        outside = {p for p in tree(base) if not (p == "a/b/out" or p.startswith("a/b/out/"))}
        assert outside == before, f"paths changed outside out_dir: {outside ^ before}"
        assert (base / "a" / "keep.txt").read_text() == "not ours"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def accepted(call: Callable[[], Any], fields: tuple[str, ...]) -> bool:
    """True if the call went through; False if it raised a clear error naming the field."""
    try:
        call()
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert message.startswith(fields), f"{type(exc).__name__} does not name the field: {message[:300]!r}"
        label = message.split(':')[0][:40].encode('utf-8', 'backslashreplace').decode()
        event(f"rejected: {label} ({type(exc).__name__})")
        return False
    event("accepted")
    return True


CONVENTION = "breaks the convention '<run_id>/step/<zero-padded index>'"


def assert_bundle_sound(out: Path, *, step_id_warned: bool = False) -> None:
    """Valid bundle, no .tmp, every JSON file and JSONL line whole.

    ``step_id_warned``: a step_id that does not follow '<run_id>/step/<NNNN>' is accepted
    with a WARNING and reported by the validator, by design (drop-in for augur-sdk 0.6.1).
    """
    issues = [i for i in validate_bundle(out)
              if not (step_id_warned and CONVENTION in i.message)]
    assert issues == [], [i.render()[:300] for i in issues]
    assert temp_files(out) == [] and unreadable_json(out) == [] and torn_or_bad_jsonl(out) == []


def session(out: Path, **kwargs: Any) -> DebugSession:
    options: dict[str, Any] = {"run_id": RUN_ID, "client_name": "hostile",
                               "capture_mode": "full", "out_dir": out}
    options.update(kwargs)
    return DebugSession(**options)


# ── the properties ───────────────────────────────────────────────────────────


@HOSTILE
@given(step=mutated(step_record(RUN_ID, 1), STEP_PATHS, PLAUSIBLE_STEP))
def test_record_step_accepts_or_names_the_field(step: Any) -> None:
    """record_step(hostile) records a valid step or raises ValueError/TypeError naming 'step...'."""
    with sandbox() as out:
        with session(out) as s:
            s.record_step(step_record(RUN_ID, 0))
            ok = accepted(lambda: s.record_step(step), ("step",))
            s.record_step(step_record(RUN_ID, 2))  # the session keeps working
        assert_bundle_sound(out, step_id_warned=ok and step["step_id"] != (
            f"{RUN_ID}/step/{step['step_index']:04d}"))
        on_disk = sorted(p.name for p in (out / "steps").glob("*.json"))
        assert {"0000.json", "0002.json"} <= set(on_disk)
        assert len(on_disk) == 2 + (ok and step["step_index"] not in (0, 2))


@HOSTILE
@given(event=mutated(event_record(0, 1), EVENT_PATHS, PLAUSIBLE_EVENT))
def test_record_event_accepts_or_names_the_field(event: Any) -> None:
    """record_event(hostile) appends one valid line or raises ValueError/TypeError naming 'event...'."""
    with sandbox() as out:
        with session(out) as s:
            s.record_step(step_record(RUN_ID, 0))
            ok = accepted(lambda: s.record_event(event), ("event",))
        assert_bundle_sound(out)
        lines = sum(len(p.read_bytes().splitlines()) for p in out.glob("events/*.jsonl"))
        assert lines == int(ok)


def png_with_header(width: int, height: int, body: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body


valid_png = st.builds(lambda w, h, seed: make_png(w, h, seed=seed),
                      st.integers(1, 40), st.integers(1, 40), st.integers(0, 99))
def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any],
           share: int = 8) -> st.SearchStrategy[Any]:
    """``good`` in ``share`` draws out of 10, else ``bad`` (hypothesis dedups one_of)."""
    return st.integers(0, 9).flatmap(lambda roll: good if roll < share else bad)


png_like = mostly(valid_png, st.one_of(
    valid_png.map(bytearray), valid_png.map(memoryview),
    valid_png.map(lambda b: b[: len(b) // 2]),  # truncated
    st.binary(max_size=64),
    st.builds(png_with_header, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
              st.binary(max_size=32)),
    scalars,
), share=6)
step_indexes = mostly(st.integers(0, 10**6), st.one_of(
    st.integers(-3, 10**40), st.booleans(), st.floats(), any_text, st.none(), st.just(2**63)))
regions = st.one_of(
    st.none(), st.none(),
    st.lists(st.tuples(*[st.integers(-50, 100)] * 4), max_size=3),
    st.lists(st.fixed_dictionaries({"x1": st.integers(-5, 50), "y1": st.integers(-5, 50),
                                    "x2": st.integers(-5, 50), "y2": st.integers(-5, 50)},
                                   optional={"label": scalars}), max_size=2),
    values,
)


@HOSTILE
@given(index=step_indexes, kind=mostly(st.sampled_from(["pre", "post"]), scalars),
       data=png_like, mask=regions)
def test_attach_observation_accepts_or_names_the_field(
        index: Any, kind: Any, data: Any, mask: Any) -> None:
    """attach_observation(hostile) writes the PNG under screenshots/ or raises naming the argument."""
    if mask and not (isinstance(data, bytes) and data.endswith(make_png(1, 1)[-12:])):
        event("mask_regions on a damaged or non-PNG")  # bug 11's inputs
    with sandbox() as out:
        with session(out) as s:
            paths: list[Any] = []
            ok = accepted(lambda: paths.append(s.attach_observation(
                step_index=index, kind=kind, png_bytes=data, mask_regions=mask)),
                ("step_index", "kind", "png_bytes", "mask_regions"))
        assert_bundle_sound(out)
        shots = sorted(p.relative_to(out).as_posix() for p in out.glob("screenshots/*.png"))
        if ok:
            assert shots == [paths[0]] == [f"screenshots/{index:04d}_{kind}.png"]
            if not mask:
                assert (out / paths[0]).read_bytes() == bytes(data)
        else:
            assert shots == []


# Strings, some of them shaped like a credential that the default redaction policy rewrites
# (bug 8), and values of the wrong type, which must be rejected naming run_id.
wrong_type_run_ids = st.one_of(
    st.integers(), st.none(), st.binary(max_size=16), st.lists(any_text, max_size=3),
    st.booleans(), st.floats(), st.sampled_from([b"run_1", bytearray(b"run_1"), ["run_1"],
                                                 ("run_1",), {"run_id": "r"}, Path("run_1")]),
)
hostile_run_ids = mostly(st.one_of(
    any_text,
    st.sampled_from(["Bearer abc123", "api_key=abc123", "password=hunter2",
                     "token: sk-abcdef0123456789", "run-for-jane.doe@example.com",
                     "Bearer " + "t" * 10_000, "x" * 100_000]),
    st.sampled_from(["../../x", "..", ".", "/etc/passwd", "/tmp/../../x", "C:\\x\\..\\y",
                     "a/b/../../../c", "~root", "$HOME", "\x00", "a\x00b", "", " ", "\n",
                     "run_\u202e\u0301", "\ud83d\ude00", "\udcff", "x/" * 50_000,
                     "steps/0000.json", "manifest.json"]),
), wrong_type_run_ids, share=7)


@HOSTILE
@given(run_id=hostile_run_ids)
def test_unusual_run_ids_stay_inside_out_dir(run_id: Any) -> None:
    """A hostile run_id raises naming 'run_id' or records a valid bundle, writing only inside out_dir."""
    with sandbox() as out:
        if not accepted(lambda: session(out, run_id=run_id, capture_mode="screenshots"),
                        ("run_id", "session.run_id")):
            assert not out.exists()
            return
        assert isinstance(run_id, str), f"a {type(run_id).__name__} run_id was accepted"
        if DefaultRedactionPolicy().apply(run_id) != run_id:
            event("accepted: run_id rewritten by redaction")
        with session(out, run_id=run_id, capture_mode="screenshots") as s:
            pre = s.attach_observation(step_index=0, kind="pre", png_bytes=make_png())
            s.record_step(step_record(run_id, 0, pre=pre))
            s.record_event(event_record(0))
        assert_bundle_sound(out)


tag_maps = st.one_of(st.dictionaries(keys, values, max_size=4),
                     st.dictionaries(any_text, any_text, max_size=4), values)


# Keys of any kind, unhashable ones included (bug 9).
unhashable_keys = st.one_of(
    st.sampled_from([[1], ["k"], {"k": "v"}, {1, 2}, bytearray(b"k")]),
    st.lists(scalars, max_size=3), st.dictionaries(any_text, scalars, max_size=2))
tag_keys = mostly(any_text, st.one_of(scalars, values, unhashable_keys), share=5)


def hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@HOSTILE
@given(tags=tag_maps, key=tag_keys,
       value=st.one_of(any_text, scalars))
def test_tags_accept_or_name_the_field(tags: Any, key: Any, value: Any) -> None:
    """tags= and add_tag() take hostile keys/values or raise naming 'tags'; the session record stays valid."""
    with sandbox() as out:
        if not accepted(lambda: session(out, tags=tags), ("tags",)):
            assert not out.exists()
            tags = {}
        with session(out, tags=tags) as s:
            s.record_step(step_record(RUN_ID, 0))
            if not hashable(key):
                event("add_tag: unhashable key")
            accepted(lambda: s.add_tag(key, value), ("tags",))
        assert_bundle_sound(out)


# ── the bugs the properties found, as examples ───────────────────────────────


# fixed: was a strict xfail before the fix; kept as a regression test
@pytest.mark.parametrize("call", ["record_step", "record_event", "attach_observation"])
def test_absurd_step_index_is_rejected_at_the_call(tmp_path: Path, call: str) -> None:
    """A step_index too large for a file name raises ValueError naming step_index at the call."""
    huge = 10**300
    out = tmp_path / "b"
    with session(out) as s, pytest.raises(ValueError, match=r"^(step|event)?\.?step_index"):
        if call == "record_step":
            s.record_step(step_record(RUN_ID, huge))
        elif call == "record_event":
            s.record_event(event_record(huge))
        else:
            s.attach_observation(step_index=huge, kind="pre", png_bytes=make_png())


# fixed: was a strict xfail before the fix; kept as a regression test
@pytest.mark.parametrize("data", [
    make_png(32, 24)[:40],  # truncated
    make_png(32, 24)[:33] + b"garbage" * 10,
    png_with_header(50_000, 50_000, b""),  # decompression-bomb sized header
], ids=["truncated", "garbage-after-IHDR", "bomb-header"])
def test_masking_a_malformed_png_raises_a_clear_error(tmp_path: Path, data: bytes) -> None:
    """attach_observation(mask_regions=...) on an undecodable PNG raises ValueError naming png_bytes."""
    with session(tmp_path / "b") as s, pytest.raises(ValueError, match=r"^png_bytes"):
        s.attach_observation(step_index=0, kind="pre", png_bytes=data,
                             mask_regions=[(0, 0, 5, 5)])


# fixed: was a strict xfail before the fix; kept as a regression test
@pytest.mark.parametrize("run_id", ["Bearer abc123", "api_key=abc123", "password=hunter2"])
def test_credential_shaped_run_id_keeps_step_ids_valid(tmp_path: Path, run_id: str) -> None:
    """A run_id that redaction rewrites still yields step_ids that follow '<run_id>/step/NNNN'."""
    out = tmp_path / "b"
    with session(out, run_id=run_id) as s:
        s.record_step(step_record(run_id, 0))
    assert validate_bundle(out) == []


REDACT_LONG_TOKEN = """
import sys, time
from augur_sdk import DebugSession
sys.path.insert(0, sys.argv[2])
from support import event_record, step_record
with DebugSession(run_id="r", client_name="a", capture_mode="trace", out_dir=sys.argv[1]) as s:
    s.record_step(step_record("r", 0))
    started = time.perf_counter()
    s.record_event({**event_record(0), "detail": {"blob": "A" * 100_000}})  # e.g. base64url
    print(round(time.perf_counter() - started, 3))
"""


# fixed: was a strict xfail before the fix; kept as a regression test
def test_redaction_time_is_linear_in_string_length(tmp_path: Path) -> None:
    """record_event with a 100 kB token (no spaces, no '@') returns within seconds."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", REDACT_LONG_TOKEN, str(tmp_path / "b"),
             str(Path(__file__).resolve().parent.parent)],
            capture_output=True, text=True, timeout=10, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("record_event with a 100 kB token did not return within 10 s")
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) < 2.0


# fixed: was a strict xfail before the fix; kept as a regression test
@pytest.mark.parametrize("ref", ["/etc/passwd", "../outside.png", "screenshots/../../x.png"])
def test_observation_path_outside_the_bundle_is_rejected(tmp_path: Path, ref: str) -> None:
    """observation_pre must be a bundle-relative path inside the bundle: else ValueError naming it, and validate flags it."""
    (tmp_path / "outside.png").write_bytes(make_png())
    out = tmp_path / "b"
    with session(out) as s, pytest.raises(ValueError, match=r"^step\.observation_pre"):
        s.record_step(step_record(RUN_ID, 0, pre=ref))
    # and a bundle that holds such a reference anyway (older producer) does not validate
    step = out / "steps/0000.json"
    with session(out) as s:
        s.record_step(step_record(RUN_ID, 0))
    data = step.read_text().replace('"observation_pre": null', f'"observation_pre": "{ref}"')
    step.write_text(data)
    assert any("observation_pre" in i.render() for i in validate_bundle(out))


# fixed: was a strict xfail before the fix; kept as a regression test
@pytest.mark.parametrize("key", [{1, 2}, ["k"], {"k": "v"}], ids=["set", "list", "dict"])
def test_add_tag_with_an_unhashable_key_names_the_field(tmp_path: Path, key: Any) -> None:
    """add_tag with an unhashable key raises TypeError naming 'tags'."""
    with session(tmp_path / "b") as s, pytest.raises(TypeError, match=r"^tags"):
        s.add_tag(key, "v")


# Bug 14 (found by test_attach_observation_accepts_or_names_the_field with 1000 examples,
# about one example in a hundred; fixed): a mask_regions that is not a list of regions raised
# Python's "'int' object is not iterable", and falsy ones were taken as "no mask".
@pytest.mark.parametrize("mask", [1, True, 1.5, object(), 0, False, "", "x1y1", {"x1": 1}],
                         ids=["int", "bool", "float", "object", "zero", "false", "empty-str",
                              "str", "dict"])
def test_non_iterable_mask_regions_names_the_field(tmp_path: Path, mask: Any) -> None:
    """attach_observation(mask_regions=<not a list of regions>, falsy ones included) raises
    TypeError naming mask_regions."""
    with session(tmp_path / "b") as s, pytest.raises(TypeError, match=r"^mask_regions"):
        s.attach_observation(step_index=0, kind="pre", png_bytes=make_png(),
                             mask_regions=mask)
