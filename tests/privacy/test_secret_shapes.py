"""default-pii-v1's secret shapes, secret-named keys and their fast path (pure functions)."""

from __future__ import annotations

import logging
import random
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secret_canaries import LEGITIMATE, SECRET_KEYS, SHAPES, Shape

from augur_sdk import DefaultRedactionPolicy, RedactionPolicy
from augur_sdk.redaction import MASK, NoRedactionPolicy
from augur_sdk.redaction_rules import (
    ANY_SHAPE,
    classify_name,
    default_match,
    is_secret_name,
    key_words,
    redact_text,
    reference_redact,
)
from augur_sdk.redaction_rules import SHAPES as DEFAULT_SHAPES

POLICY = DefaultRedactionPolicy()


def test_the_canary_catalog_is_wide() -> None:
    """At least 40 distinct secret shapes and every secret-named key the issue lists."""
    assert len({shape.name for shape in SHAPES}) == len(SHAPES) >= 40
    assert {"access_token", "refresh_token", "client_secret", "private_key", "api-key",
            "auth_token", "secretKey", "db_password"} <= set(SECRET_KEYS)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_every_shape_is_redacted_inside_text(shape: Shape) -> None:
    """Each shape, written inside a sentence, is replaced by a marker; the words around it
    stay; the fast path and the reference agree."""
    for seed in ("a", "b", "c"):
        planted, needle = shape.make(f"{shape.name}/{seed}")
        text = f"before-words {planted}\nafter-words"  # a Cookie: header runs to the line end
        out = POLICY.redact_string(text)
        assert needle not in out, out
        assert out.startswith("before-words ") and out.endswith("\nafter-words"), out
        assert "***REDACTED:" in out
        assert reference_redact(text) == out


@pytest.mark.parametrize("name", SECRET_KEYS)
def test_secret_named_keys_mask_their_string_values(name: str) -> None:
    """A string under a secret-named key is masked (or dropped, for the exact drop list),
    at any depth; the keys around it are untouched."""
    record = {"params": {name: "opaque-value-123", "field": "email"}, "n": 1}
    out = POLICY.apply(record)
    assert "opaque-value-123" not in repr(out)
    assert out["params"]["field"] == "email" and out["n"] == 1
    assert out["params"].get(name, MASK) == MASK


@pytest.mark.parametrize(("name", "secret"), [
    ("access_token", True), ("refresh_token", True), ("client_secret", True),
    ("private_key", True), ("api-key", True), ("auth_token", True), ("secretKey", True),
    ("db_password", True), ("APIKey", True), ("apikey", True), ("x_api_key", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("accessToken", True), ("clientSecret", True),
    ("newPassword", True), ("userpassword", True), ("passphrase", True), ("cookie", True),
    ("Proxy-Authorization", True), ("basic_auth", True), ("credentials", True),
    ("cardNumber", True), ("credit_card", True), ("cvv2", True), ("ssn", True),
    ("signing_key", True), ("encryptionKey", True), ("token", True), ("id_token", True),
    ("input_tokens", False), ("max_tokens", False), ("cache_read_tokens", False),
    ("output_tokens", False), ("tokens", False), ("token_count", False), ("token_id", False),
    ("idempotency_key", False), ("key", False), ("keys", False), ("keyboard", False),
    ("monkey", False), ("hotkey", False), ("key_name", False), ("primary_key", False),
    ("public_key", False), ("cache_key", False), ("sort_key", False), ("author", False),
    ("authority", False), ("auth_type", False), ("password_hint_shown", False),
    ("secret_name", False), ("passed", False), ("tokenizer", False), ("", False),
])
def test_which_names_are_secret(name: str, secret: bool) -> None:
    """The rule: the key's last word (snake, camel, kebab case) names a secret; ``token``
    only as that last, singular word; ``key`` only in compounds (``api_key``, not ``key``)."""
    assert is_secret_name(name) is secret, (name, key_words(name), classify_name(name))


def test_secret_names_mask_strings_only() -> None:
    """Under a secret-named key a number is kept and an object is walked (its own keys and
    strings are redacted as usual), unlike the exact mask list, which masks any value."""
    record = {"access_token": 12345, "credentials": {"user": "ada", "password": "pw1"},
              "refresh_token": None, "api_key_version": "v2", "token": 7}
    assert POLICY.apply(record) == {"access_token": 12345, "credentials": {"user": "ada"},
                                    "refresh_token": None, "api_key_version": "v2",
                                    "token": MASK}


def test_legitimate_fields_survive() -> None:
    """What agents record that looks close to a secret comes out unchanged: token counts, an
    idempotency key, a CUA key action, keyboard and monkey, logprob tokens, digits in ids,
    hashes, numbers and decimals, a Luhn-failing card-like number, prose about keys."""
    assert POLICY.apply(LEGITIMATE) == LEGITIMATE
    for key, value in LEGITIMATE.items():
        if isinstance(value, str) and key not in ("order_id", "digest"):  # ids by their key
            assert POLICY.redact_string(value) == value, key
    nested = {"detail": {"calls": [LEGITIMATE, {"usage": LEGITIMATE}]}}
    assert POLICY.apply(nested) == nested


def test_cards_need_the_luhn_check_and_a_string() -> None:
    """A card number is redacted in a string only when it passes the Luhn check; a JSON
    number, a number in an id's digits, a decimal and a hash are left alone; a card followed
    by its CVV loses the card and keeps the CVV."""
    assert POLICY.redact_string("4111 1111 1111 1111") == "***REDACTED:card_number***"
    assert POLICY.redact_string("4111 1111 1111 1112") == "4111 1111 1111 1112"
    assert POLICY.redact_string("cc 4111111111111111 123") == "cc ***REDACTED:card_number*** 123"
    assert POLICY.redact_string("typed 4111 1111 1111 1111 123") == \
        "typed ***REDACTED:card_number*** 123"
    kept = {"n": 4111111111111111, "order_id": "4111111111111111",
            "hash": "4111111111111111", "x": "0.4111111111111111", "y": "id-4111111111111111",
            "z": "abc4111111111111111", "w": "4111111111111111000"}
    assert POLICY.apply(kept) == kept
    assert POLICY.apply({"number": "4111111111111111"}) == {"number": "***REDACTED:card_number***"}


def test_url_credentials_for_any_host_keep_the_host() -> None:
    """user:password@ is replaced whatever the host (IP, localhost, bare name); the scheme,
    host, port and path stay."""
    for url in ("postgres://admin:pw1@10.0.0.5:5432/db", "redis://:pw1@localhost:6379",
                "https://bot:pw1@intranet/wiki", "http://u:p@ss@example.com/x"):
        out = POLICY.redact_string(url)
        assert "pw1" not in out and "p@ss" not in out, out
        assert out.split("***REDACTED:url_credentials***")[0].endswith("://")
        assert "@" in out and out.endswith(url.rsplit("@", 1)[1])


def test_no_redaction_policy_keeps_secret_names_and_shapes() -> None:
    """NoRedactionPolicy records secret-named keys and secret shapes as given."""
    record = {"access_token": "t", "note": "sk-proj-" + "a" * 40, "card": "4111 1111 1111 1111"}
    assert NoRedactionPolicy().apply(record) == record


def test_a_subclass_extending_the_patterns_keeps_the_checks() -> None:
    """A subclass adding a pattern to DEFAULT_PATTERNS runs the slow path with the same
    checks (Luhn, Basic decoding, secret names) and its own pattern."""

    class Tickets(DefaultRedactionPolicy):
        patterns = (*DefaultRedactionPolicy.patterns, ("ticket", re.compile(r"TCK-[0-9]+")))

    text = ("TCK-42 4111 1111 1111 1111 4111 1111 1111 1112 Basic dXNlcjpwYXNz "
            "Basic settings max_tokens=5 token=abc")
    assert Tickets().redact_string(text) == (
        "***REDACTED:ticket*** ***REDACTED:card_number*** 4111 1111 1111 1112 "
        "***REDACTED:basic_auth*** Basic settings max_tokens=5 token=***REDACTED:secret_kv***")


def test_markers_and_names_stay_readable() -> None:
    """A name=value pair keeps its name and quotes; a non-secret pair is kept while a secret
    pair in its value is still found."""
    assert POLICY.redact_string('{"client_secret": "two words"}') == \
        '{"client_secret": "***REDACTED:secret_kv***"}'
    assert POLICY.redact_string("max_tokens:token=abc") == \
        "max_tokens:token=***REDACTED:secret_kv***"
    assert POLICY.redact_string("key: Enter") == "key: Enter"


# ── the fast path against the reference ─────────────────────────────────────

_FRAGMENTS = [
    "token", "Token", "TOKEN", "key", "api_key", "x-api-key", "apikey", "password", "PWD",
    "passwd", "secret", "client_secret", "max_tokens", "input_tokens", "auth", "Authorization",
    "proxy-authorization", "cookie", "Set-Cookie", "bearer ", "Bearer", "Basic ", "basic",
    "dXNlcjpwYXNz", "c2V0dGluZ3M=", "=", ":", ": ", " ", "  ", "\n", "\t", '"', "'", ",", ";",
    "&", "<", "abc123", "Enter", "4111 1111 1111 1111", "4111111111111111", "5555-5555-5555-4444",
    "3782 822463 10005", " 123", "0.", "-", "_", ".", "/", "+", "@", "user@example.com",
    "a.b@c.io", "://", "u:p@", "https://", "eyJ", "eyJa.b.c", "eyJhbGci.eyJzdWIi.sig", "sk-",
    "sk-proj-", "sk-ant-api03-", "ghp_", "github_pat_", "glpat-", "xoxb-", "xapp-", "AIza",
    "ya29.", "GOCSPX-", "AKIA", "ASIA", "A3T", "hf_", "npm_", "pypi-AgEIcHlwaS5vcmc", "SG.",
    "gsk_", "xai-", "r8_", "pplx-", "dop_v1_", "shpat_", "sq0atp-", "-us1", ":AA", "k_live_",
    "whsec_", "hooks.slack.com/services/", "A" * 20, "a" * 22, "0123456789abcdef" * 2,
    "Z" * 36, "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END PRIVATE KEY-----", "ssn", "cvv", "card_number", "credentials", "***REDACTED:x***",
    "0", "1234", "5678", "2026-05-19T00:00:05.200000Z", "2026-05-19T00:00:05Z",
    "\u212a", "\u017f", "\u0130", "\u0131", "é", "ü", "\u00a0", "\u2028",
]


def _check(text: str) -> None:
    fast, slow = redact_text(text), reference_redact(text)
    assert fast == slow, (text, fast, slow)
    if ANY_SHAPE.search(text):
        assert default_match(text), text  # the pre-check never calls a match clean


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=6), max_size=14).map("".join))
def test_fast_path_equals_the_reference(text: str) -> None:
    """Property: the fast path (substring gates, lower-case scans, name=value pairs found
    from their separators) returns exactly what one ``re.sub`` per shape returns, and the
    pre-check never calls clean a string the combined regex matches."""
    _check(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([s.name for s in SHAPES]), min_size=1, max_size=6),
       st.lists(st.sampled_from(_FRAGMENTS), max_size=6), st.integers(0, 10**6))
def test_fast_path_equals_the_reference_on_real_shapes(names: list[str], noise: list[str],
                                                       seed: int) -> None:
    """Property: the same, on real secrets mixed with noise (several in one string)."""
    by_name = {s.name: s for s in SHAPES}
    parts = [by_name[n].make(f"{n}/{seed}")[0] for n in names]
    rng = random.Random(seed)
    for fragment in noise:
        parts.insert(rng.randrange(len(parts) + 1), fragment)
    _check(" ".join(parts))


def test_the_precheck_on_many_random_strings() -> None:
    """The same on 20,000 strings built from the patterns' literals (a fixed seed), and the
    samples do exercise matches."""
    rng = random.Random(7)
    matched = 0
    for _ in range(20_000):
        text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 10)))
        _check(text)
        matched += ANY_SHAPE.search(text) is not None
    assert matched > 5000


def test_clean_values_skip_every_regex() -> None:
    """The pre-check alone calls the values of an ordinary step clean (no regex runs)."""
    for value in ("click", "click the OK button", "2026-05-19T00:00:05.500000Z",
                  "screenshots/0005_post.png", "viewport_css_px", "button text 'OK'",
                  "bench/step/0005", "dialog closed", "playwright", "Die Schaltfläche OK"):
        assert not default_match(value), value


@pytest.mark.parametrize("text", [
    "a" * 200_000, "1" * 200_000, "4111 " * 40_000, "key=" * 50_000, "token: " * 25_000,
    "://" * 60_000, "-----BEGIN PRIVATE KEY-----" * 5000, "x@" * 100_000, "eyJ." * 50_000,
    "Bearer " * 25_000, "Basic " * 30_000, "sk-" * 60_000, "a-" * 100_000, " " * 200_000 + ":",
    "A" * 199_999 + "=", "authorization: " * 12_000, "user:pw@" * 25_000,
])
def test_linear_time_on_hostile_text(text: str) -> None:
    """200 KB of repeated near-shapes is redacted in well under a second per pass (no
    quadratic backtracking), by both the fast path and the reference."""
    for fn in (redact_text, reference_redact):
        start = time.perf_counter()
        fn(text)
        assert time.perf_counter() - start < 5.0, fn.__name__


def test_default_shapes_are_the_policy_patterns() -> None:
    """The policy's DEFAULT_PATTERNS are the shapes table, and each kind names its marker."""
    assert RedactionPolicy.patterns is DEFAULT_SHAPES
    kinds = {kind for kind, _ in DEFAULT_SHAPES}
    assert {"private_key", "url_credentials", "basic_auth", "card_number", "secret_kv",
            "openai_key", "anthropic_key", "github_token", "slack_token", "stripe_key",
            "google_api_key", "aws_key", "email", "jwt", "bearer"} <= kinds


def test_our_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """A line on the augur_sdk logger, its arguments and the text of an exception logged with
    it pass the default shapes (an internal error's message can quote a record)."""
    from augur_sdk import _internal

    secret = "sk-proj-" + "Q" * 40
    caplog.set_level(logging.DEBUG, logger="augur_sdk")
    try:
        raise ValueError(f"bad record {{'api': '{secret}'}}")
    except ValueError:
        _internal.logger.warning("failed for %s with %s", "user@example.com", secret,
                                 exc_info=True)
    assert secret not in caplog.text and "user@example.com" not in caplog.text
    assert "failed for ***REDACTED:email***" in caplog.text
    assert "ValueError: bad record" in caplog.text and "***REDACTED:openai_key***" in caplog.text


def test_the_docs_list_every_shape() -> None:
    """docs/redaction.md names every kind of the default shapes (a new shape needs a row)."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "redaction.md").read_text()
    missing = sorted({kind for kind, _ in DEFAULT_SHAPES if f"| `{kind}` |" not in page})
    assert missing == []
