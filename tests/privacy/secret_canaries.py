"""Secret shapes agents carry, as canaries: each shape makes any number of distinct instances.

``SHAPES`` holds text shapes (a secret written inside a string); ``SECRET_KEYS`` the
secret-named keys whose string values must be masked; ``LEGITIMATE`` what agents record that
looks close and must survive. Every instance's ``needle`` is the part that must never leave
the process: plain ASCII without quotes, backslashes or newlines, so it is found verbatim in
JSON files, protobuf bytes, span attributes and log lines alike.
"""

from __future__ import annotations

import base64
import hashlib
import string
from collections.abc import Callable
from dataclasses import dataclass

ALNUM = string.ascii_letters + string.digits
TOKEN = ALNUM + "_-"
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"


def rand(seed: str, alphabet: str, n: int) -> str:
    """``n`` characters of ``alphabet``, fixed by ``seed`` (distinct seeds, distinct strings)."""
    out: list[str] = []
    counter = 0
    while len(out) < n:
        digest = hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        out += [alphabet[b % len(alphabet)] for b in digest]
        counter += 1
    return "".join(out[:n])


def luhn_complete(prefix: str) -> str:
    """``prefix`` with the check digit that makes it pass the Luhn check."""
    for check in "0123456789":
        digits = prefix + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def card(seed: str, first: str, length: int) -> str:
    """A Luhn-valid card number of ``length`` digits starting with ``first``."""
    return luhn_complete(first + rand(seed, "0123456789", length - len(first) - 1))


def grouped(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(digits[at:at + size])
        at += size
    return sep.join(parts)


@dataclass(frozen=True)
class Shape:
    """A secret shape: ``make(seed)`` returns (text to plant, needle that must not leak)."""

    name: str
    make: Callable[[str], tuple[str, str]]


def _same(fn: Callable[[str], str]) -> Callable[[str], tuple[str, str]]:
    """A shape whose whole planted text is the secret."""
    def make(seed: str) -> tuple[str, str]:
        secret = fn(seed)
        return secret, secret
    return make


def _in(template: str, fn: Callable[[str], str]) -> Callable[[str], tuple[str, str]]:
    """A shape planted inside ``template`` (``{}`` is the secret, the needle)."""
    def make(seed: str) -> tuple[str, str]:
        secret = fn(seed)
        return template.format(secret), secret
    return make


def _pem(label: str) -> Callable[[str], tuple[str, str]]:
    def make(seed: str) -> tuple[str, str]:
        lines = [rand(f"{seed}/{i}", B64, 64) for i in range(3)]
        body = "\n".join(lines)
        return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----", lines[1]
    return make


def _basic(seed: str) -> tuple[str, str]:
    encoded = base64.b64encode(f"svc-{rand(seed, ALNUM, 6)}:{rand(seed + 'p', ALNUM, 14)}"
                               .encode()).decode()
    return f"sent Basic {encoded} to the proxy", encoded


def _azure(seed: str) -> tuple[str, str]:
    key = rand(seed, B64, 86) + "=="
    return (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};"
            "EndpointSuffix=core.windows.net", key)


SHAPES: tuple[Shape, ...] = (
    # LLM providers.
    # OpenAI keys hold "T3BlbkFJ" ("OpenAI" in base64) between two random halves.
    Shape("openai_project_key", _same(lambda s: "sk-proj-" + rand(s, TOKEN, 74) + "T3BlbkFJ"
                                      + rand(s + "b", TOKEN, 74))),
    Shape("openai_service_key", _same(lambda s: "sk-svcacct-" + rand(s, TOKEN, 74) + "T3BlbkFJ"
                                      + rand(s + "b", TOKEN, 74))),
    Shape("openai_legacy_key", _same(lambda s: "sk-" + rand(s, ALNUM, 20) + "T3BlbkFJ"
                                     + rand(s + "b", ALNUM, 20))),
    Shape("anthropic_key", _same(lambda s: "sk-ant-api03-" + rand(s, TOKEN, 93) + "AA")),
    Shape("anthropic_admin_key", _same(lambda s: "sk-ant-admin01-" + rand(s, TOKEN, 64))),
    Shape("openrouter_key", _same(lambda s: "sk-or-v1-" + rand(s, HEX, 64))),
    Shape("groq_key", _same(lambda s: "gsk_" + rand(s, ALNUM, 52))),
    Shape("xai_key", _same(lambda s: "xai-" + rand(s, ALNUM, 80))),
    Shape("huggingface_token", _same(lambda s: "hf_" + rand(s, ALNUM, 34))),
    Shape("replicate_token", _same(lambda s: "r8_" + rand(s, ALNUM, 37))),
    Shape("perplexity_key", _same(lambda s: "pplx-" + rand(s, ALNUM, 48))),
    Shape("google_api_key", _same(lambda s: "AIza" + rand(s, TOKEN, 35))),
    Shape("google_oauth_token", _same(lambda s: "ya29." + rand(s, TOKEN, 80))),
    Shape("google_client_secret", _same(lambda s: "GOCSPX-" + rand(s, TOKEN, 28))),
    # Code hosts, registries, chat, payments, clouds.
    Shape("github_classic_token", _same(lambda s: "ghp_" + rand(s, ALNUM, 36))),
    Shape("github_oauth_token", _same(lambda s: "gho_" + rand(s, ALNUM, 36))),
    Shape("github_app_token", _same(lambda s: "ghs_" + rand(s, ALNUM, 36))),
    Shape("github_fine_grained_pat", _same(
        lambda s: "github_pat_" + rand(s, ALNUM, 22) + "_" + rand(s + "b", ALNUM, 59))),
    Shape("gitlab_token", _same(lambda s: "glpat-" + rand(s, TOKEN, 20))),
    Shape("npm_token", _same(lambda s: "npm_" + rand(s, ALNUM, 36))),
    Shape("pypi_token", _same(lambda s: "pypi-AgEIcHlwaS5vcmc" + rand(s, TOKEN, 70))),
    Shape("slack_bot_token", _same(lambda s: "xoxb-" + rand(s, "0123456789", 12) + "-"
                                   + rand(s + "b", "0123456789", 13) + "-"
                                   + rand(s + "c", ALNUM, 24))),
    Shape("slack_user_token", _same(lambda s: "xoxp-" + rand(s, "0123456789", 12) + "-"
                                    + rand(s + "b", "0123456789", 12) + "-"
                                    + rand(s + "c", HEX, 32))),
    Shape("slack_app_token", _same(lambda s: "xapp-1-A" + rand(s, UPPER, 10) + "-"
                                   + rand(s + "b", "0123456789", 13) + "-"
                                   + rand(s + "c", HEX, 64))),
    Shape("slack_webhook", _in("https://hooks.slack.com/services/T0123ABCD/B0456EFGH/{}",
                               lambda s: rand(s, ALNUM, 24))),
    Shape("stripe_live_key", _same(lambda s: "sk_live_" + rand(s, ALNUM, 99))),
    Shape("stripe_restricted_key", _same(lambda s: "rk_live_" + rand(s, ALNUM, 99))),
    Shape("stripe_webhook_secret", _same(lambda s: "whsec_" + rand(s, ALNUM, 32))),
    Shape("sendgrid_key", _same(lambda s: "SG." + rand(s, TOKEN, 22) + "."
                                + rand(s + "b", TOKEN, 43))),
    Shape("digitalocean_token", _same(lambda s: "dop_v1_" + rand(s, HEX, 64))),
    Shape("shopify_token", _same(lambda s: "shpat_" + rand(s, HEX, 32))),
    Shape("square_token", _same(lambda s: "sq0atp-" + rand(s, TOKEN, 22))),
    Shape("mailchimp_key", _same(lambda s: rand(s, HEX, 32) + "-us14")),
    Shape("telegram_bot_token", _same(lambda s: "7" + rand(s, "0123456789", 8) + ":AA"
                                      + rand(s + "b", TOKEN, 33))),
    Shape("aws_access_key_id", _same(lambda s: "AKIA" + rand(s, UPPER, 16))),
    Shape("aws_session_key_id", _same(lambda s: "ASIA" + rand(s, UPPER, 16))),
    Shape("aws_secret_access_key", _in("aws_secret_access_key={}", lambda s: rand(s, B64, 40))),
    Shape("azure_storage_key", _azure),
    # Tokens and credentials in text.
    Shape("jwt", _same(lambda s: "eyJhbGciOiJIUzI1NiJ9." + rand(s, TOKEN, 40) + "."
                       + rand(s + "b", TOKEN, 43))),
    Shape("bearer_token", _in("call failed with Bearer {}", lambda s: rand(s, TOKEN, 40))),
    Shape("basic_auth_in_text", _basic),
    Shape("authorization_header", _in("Authorization: Token {}", lambda s: rand(s, ALNUM, 40))),
    Shape("pem_rsa_private_key", _pem("RSA PRIVATE KEY")),
    Shape("pem_openssh_private_key", _pem("OPENSSH PRIVATE KEY")),
    Shape("pem_encrypted_private_key", _pem("ENCRYPTED PRIVATE KEY")),
    Shape("url_credentials_ip", _in("postgres://admin:{}@10.0.0.5:5432/orders",
                                    lambda s: rand(s, ALNUM, 16))),
    Shape("url_credentials_localhost", _in("redis://:{}@localhost:6379/0",
                                           lambda s: rand(s, ALNUM, 16))),
    Shape("url_credentials_host", _in("https://bot:{}@intranet/wiki",
                                      lambda s: rand(s, ALNUM, 16))),
    # Payment cards in free text (Luhn-valid; the usual groupings).
    Shape("card_spaced", _in("paid with {} today",
                             lambda s: grouped(card(s, "4", 16), (4, 4, 4, 4), " "))),
    Shape("card_dashed", _in("card {} exp 12/29",
                             lambda s: grouped(card(s, "5", 16), (4, 4, 4, 4), "-"))),
    Shape("card_plain", _in("number {}", lambda s: card(s, "6", 16))),
    Shape("card_amex", _in("amex {} on file",
                           lambda s: grouped(card(s, "37", 15), (4, 6, 5), " "))),
    Shape("card_then_cvv", _in("typed {} 123 into the form",
                               lambda s: grouped(card(s, "4", 16), (4, 4, 4, 4), " "))),
    # name=value pairs in text.
    Shape("client_secret_pair", _in("client_secret={}", lambda s: rand(s, TOKEN, 24))),
    Shape("access_token_in_url", _in("https://app.example/cb?access_token={}&state=9",
                                     lambda s: rand(s, TOKEN, 24))),
    Shape("refresh_token_json", _in('{{"refresh_token": "{}"}}', lambda s: rand(s, TOKEN, 24))),
    Shape("password_pair", _in("password={}", lambda s: rand(s, ALNUM, 14))),
    Shape("db_password_env", _in("DB_PASSWORD={}", lambda s: rand(s, ALNUM, 14))),
    Shape("api_key_pair", _in("api_key={}", lambda s: rand(s, ALNUM, 20))),
    Shape("x_api_key_header", _in("X-Api-Key: {}", lambda s: rand(s, ALNUM, 20))),
    Shape("cookie_header", _in("Cookie: session={}", lambda s: rand(s, ALNUM, 20))),
    Shape("private_key_yaml", _in("private_key: {}", lambda s: rand(s, B64, 40))),
    Shape("auth_token_env", _in("SLACK_AUTH_TOKEN={}", lambda s: rand(s, TOKEN, 24))),
    Shape("secret_key_camel", _in("secretKey: {}", lambda s: rand(s, TOKEN, 24))),
    # PII.
    Shape("email", _in("contact {} for access", lambda s: f"{rand(s, HEX, 10)}@example.com")),
)

# Secret-named keys (snake, camel, kebab case): a string value under them is masked.
SECRET_KEYS = ("access_token", "refresh_token", "client_secret", "private_key", "api-key",
               "auth_token", "secretKey", "db_password", "X-Api-Key", "accessToken",
               "AWS_SECRET_ACCESS_KEY", "sessionCookie", "credentials", "card_number")

# What agents legitimately record, close to the above: must survive redaction unchanged.
LEGITIMATE: dict[str, object] = {
    "input_tokens": 1234, "output_tokens": 88, "max_tokens": 4096, "cache_read_tokens": 512,
    "cache_creation_tokens": 7, "total_tokens": "1334", "tokens": ["The", " cat"],
    "token_count": "42", "idempotency_key": "idem-7f3a9c1e-5b2d-4e8f-a6c0-1d2e3f4a5b6c",
    "action": {"type": "key", "key": "Enter", "keys": ["ctrl", "shift", "t"]},
    "keyboard": "us-intl", "monkey": "patched", "hotkey": "ctrl+s", "key_name": "Escape",
    "primary_key": "order_id", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@laptop",
    "keys_pressed": "Tab Tab Enter", "author": "Ada", "authority": "ca.example",
    "passed": "3 of 4 checks", "token_id": "17", "cache_key": "page:/checkout",
    "logprobs": [{"token": "Hello", "logprob": -0.25, "bytes": [72]}],
    "order_id": "4111111111111111", "sha256": "41111111111111114111111111111111deadbeef",
    "digest": "5555555555554444", "step_index": 4111111111111111, "amount": 4111111111111111,
    "started_at": "2026-05-19T10:11:12.345678Z", "ratio": "0.4111111111111111",
    "run_id": "run_4111111111111111", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "uuid": "123e4567-e89b-12d3-a456-426614174000", "path": "screenshots/0003_post.png",
    "note": "Basic settings are on the Basic tab", "text": "the API key field is empty",
    "summary": "pressed key: Enter, then max_tokens=4096 and input_tokens: 12",
    "url": "https://example.com/login?next=/home", "phone": "+1 415 555 0100",
    "sentence": "the task-runner finished in 4111 ms; sk-learn is a library",
    "card_like": "4111 1111 1111 1112",  # fails the Luhn check
    "version": "2026.05.19-1234567890",
}
