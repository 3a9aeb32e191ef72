"""The golden normalizer masks what varies between runs and nothing else."""

from __future__ import annotations

from pathlib import Path

from golden_normalize import Normalizer, sha256


def test_input_times_kept_clock_times_masked() -> None:
    """Times in the scenario's fixed input hour stay exact; other times become <clock-…>."""
    text = ('{"started_at": "2026-01-02T03:04:05.000000Z", "ended_at": "2026-12-07T13:10:37.8Z",'
            ' "start": 1767323045000000000, "end": 1796649037824283000}')
    assert Normalizer().text(text) == (
        '{"started_at": "2026-01-02T03:04:05.000000Z", "ended_at": "<clock-iso>",'
        ' "start": 1767323045000000000, "end": <clock-ns>}')


def test_ids_numbered_by_first_sight() -> None:
    """Trace and span ids become <trace-N>/<span-N> in order of first sight, across calls."""
    norm = Normalizer()
    run, step = "e4be329294e0f31d", "119dd5e69c4758f6"
    trace = "4200b30a3daabaec296fb5e004a0bcec"
    assert norm.text(f"{trace} {run} {step} {run}") == "<trace-1> <span-1> <span-2> <span-1>"
    assert norm.text(f"parent={step}") == "parent=<span-2>"


def test_hex_id_with_a_run_of_digits_is_an_id() -> None:
    """A trace id that holds 19 decimal digits is numbered as an id, not taken for a time."""
    trace = "1796649037824283000cdf2d01c37fbf"
    assert Normalizer().text(f'"trace_id": "{trace}"') == '"trace_id": "<trace-1>"'


def test_generated_ids_ports_and_paths_masked() -> None:
    """debug_session_id, client_id, UUIDs, loopback ports and temp dirs are masked."""
    norm = Normalizer({"/tmp/pytest-7/golden0": "<tmp>"})
    text = ("dbg_c95e5b3680a84aa5 sdk_9f2a4b745160 9f44a898-fa83-4661-9153-5dbdc65fa366 "
            "http://127.0.0.1:41234/api/v1 /tmp/pytest-7/golden0/bundle")
    assert norm.text(text) == ("dbg_<generated> sdk_<generated> <uuid> "
                               "http://127.0.0.1:<port>/api/v1 <tmp>/bundle")


def test_other_hex_kept() -> None:
    """Hashes and git shas (not 16 or 32 hex digits) are kept byte-exact."""
    text = ("0123456789abcdef0123456789abcdef01234567 "
            "79d7269fabd01027c293e58889f82b6c9e33c7456281c602fda92896fa6aa580")
    assert Normalizer().text(text) == text


def test_signature_of_varying_file_checked(tmp_path: Path) -> None:
    """A varying file's sha256 becomes whether it matches the file; other sha256s stay."""
    (tmp_path / "trace.json").write_text('{"ended_at": "2030-05-05T00:00:00Z"}\n')
    (tmp_path / "steps.json").write_text('{"started_at": "2026-01-02T03:04:05Z"}\n')
    norm = Normalizer()
    norm.learn_varying(tmp_path)
    good = sha256((tmp_path / "trace.json").read_bytes())
    steady = sha256((tmp_path / "steps.json").read_bytes())
    text = f'"trace.json": "{good}", "steps.json": "{steady}"'
    assert norm.text(text) == (
        f'"trace.json": "<sha256 of varying file: matches>", "steps.json": "{steady}"')
    assert norm.text(f'"trace.json":"{"0" * 64}"') == (
        '"trace.json":"<sha256 of varying file: MISMATCH>"')


def test_timer_heartbeats_dropped_opening_heartbeat_kept() -> None:
    """Only the timer's periodic heartbeats leave the stream log; the opening one stays."""
    from golden_capture import without_timer_heartbeats

    opening = {"path": "/api/v1/heartbeat", "body": '{"run_id":"r","last_event":"session_opened"}'}
    timer = {"path": "/api/v1/heartbeat", "body": '{"run_id":"r"}'}
    step = {"path": "/api/v1/runs/r/steps/0", "body": "{}"}
    assert without_timer_heartbeats([opening, step, timer]) == [opening, step]
