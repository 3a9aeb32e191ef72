"""What ``default-pii-v1`` recognises (pure): the rule for secret-named keys, the credential
and PII shapes found inside strings, and the fast path that applies those shapes.

Every shape is a ``(kind, pattern)`` pair; a match becomes ``***REDACTED:<kind>***``, except
where :data:`REPLACERS` holds a function for the pattern: it sees the match and returns the
replacement (the match itself when a check fails: a number that fails the Luhn check, a
``Basic`` word that does not decode to ``user:password``, a ``name=value`` pair whose name is
not a secret's name). :func:`reference_redact` applies the table as written, one ``re.sub``
per shape; :func:`redact_text` is the fast path the default policy uses and must return the
same string (a differential property test checks it). The provider formats are public facts
(prefix, alphabet, length) as secret scanners document them; the patterns are our own.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Callable

Shape = tuple[str, re.Pattern[str]]

# ── secret-named keys ────────────────────────────────────────────────────────

# A key is split into lower-case words (snake, kebab, dotted, camel and Pascal case; digits
# dropped). It names a secret when its LAST word is one of these...
_SECRET_LAST_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "passcode", "secret", "credential",
    "credentials", "cookie", "cookies", "authorization", "auth", "token", "ssn", "cvv", "cvc",
})
# ...or it is ``key`` right after one of these (``api_key``, ``secretKey``, ``x-api-key``):
# a bare ``key`` is a keyboard key in a CUA action, ``idempotency_key`` is not a secret.
_KEY_QUALIFIERS = frozenset({
    "api", "access", "private", "secret", "signing", "encryption", "client", "master", "auth",
    "account", "storage", "subscription", "app", "application", "ssh", "license",
})
# One-word spellings (``apikey``, ``accesstoken``, ``dbpassword``, ``clientsecret``).
_SECRET_SUFFIXES = ("password", "passwd", "pwd", "secret", "token", "cookie")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Keys whose digit-only string values are identifiers, never card numbers.
_ID_LAST_WORDS = frozenset({
    "id", "ids", "uuid", "guid", "hash", "sha", "sha1", "sha256", "sha512", "md5", "digest",
    "checksum", "etag", "index", "seq",
})

NAME_PLAIN, NAME_SECRET, NAME_TOKEN, NAME_ID = 0, 1, 2, 3


def key_words(key: str) -> list[str]:
    """``"AWS_SECRET_ACCESS_KEY"`` -> ``["aws", "secret", "access", "key"]``; ``"secretKey"``
    -> ``["secret", "key"]``; ``"APIKey"`` -> ``["api", "key"]``; digits are dropped."""
    return [w.lower() for w in _WORD.findall(key) if not w.isdigit()]


def classify_name(key: str) -> int:
    """What a key's name says about its string value: ``NAME_SECRET`` (mask it),
    ``NAME_TOKEN`` (mask it unless it is a model's output token next to a ``logprob``),
    ``NAME_ID`` (an identifier: digits there are not a card number) or ``NAME_PLAIN``."""
    words = key_words(key)
    if not words:
        return NAME_PLAIN
    last = words[-1]
    if last == "token":
        return NAME_TOKEN
    if last in _SECRET_LAST_WORDS or last.endswith(_SECRET_SUFFIXES):
        return NAME_SECRET
    if last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS:
        return NAME_SECRET
    if last.endswith("key") and last[:-3] in _KEY_QUALIFIERS:
        return NAME_SECRET
    if (last == "number" and words[-2:-1] == ["card"]) or (
            last == "card" and words[-2:-1] == ["credit"]) or last in ("cardnumber",
                                                                       "creditcard"):
        return NAME_SECRET
    if last in _ID_LAST_WORDS:
        return NAME_ID
    return NAME_PLAIN


def is_secret_name(key: str) -> bool:
    """Whether ``key`` names a secret (``access_token``, ``client_secret``, ``api-key``,
    ``secretKey``, ``db_password``; not ``input_tokens``, ``idempotency_key``, ``key``)."""
    return classify_name(key) in (NAME_SECRET, NAME_TOKEN)


# ── shapes inside strings ────────────────────────────────────────────────────

# Shapes come in groups by what each needs present in the text (see ``shape_groups``).
G_PEM, G_AT, G_JWT, G_WORD, G_KV, G_CARD, G_KEYS = (1 << i for i in range(7))
_TOKEN = r"[A-Za-z0-9_\-]"
# Words one of which every secret's name holds (see ``classify_name``), in lower case.
_NAME_WORDS = ("secret", "token", "key", "pass", "pwd", "auth", "cred", "cookie", "ssn", "cvv",
               "cvc", "card")


def _lead(literal: str) -> str:
    """``literal`` at the start of a word, written literal-first: a pattern that starts with a
    literal is searched for that literal (fast), one that starts with ``\b`` is tried at every
    position (30x slower on long text)."""
    lit = re.escape(literal)
    return f"{lit}(?<![A-Za-z0-9_]{lit})"


# What follows a secret's name: ``=``, ``: ``, ``": "``, then a value (not a marker).
_PAIR_TAIL = r"([\"']?\s*[:=]\s*)(?![\"']?\*\*\*REDACTED:)(?=[^\s,;&<>])"
# The value: quoted to its closing quote (or the line end), else up to a space or , ; & < >.
_VALUE = re.compile(r"\"[^\"\r\n]*\"?|'[^'\r\n]*'?|[^\s,;&\"'<>]+")

# (kind, group, literal every match holds or "", pattern), in the order they are applied:
# whole blocks and URLs before e-mail addresses, provider keys before name=value pairs. The
# (?i) patterns use lower-case literals only: on ASCII text they match the lower-cased text
# in the same places, where they run without the flag (faster).
_TABLE: tuple[tuple[str, int, str, re.Pattern[str]], ...] = (
    # A PEM private-key block, to its END line (or to the end of the text when cut short).
    ("private_key", G_PEM, "-----BEGIN", re.compile(
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)")),
    # user:password in a URL, whatever the host (an IP, localhost, a bare name).
    ("url_credentials", G_AT, "@", re.compile(
        r"(?<=://)[^\s/?#@:]{0,256}:[^\s/?#]{0,256}(?=@)")),
    ("jwt", G_JWT, "eyJ", re.compile(
        _lead("eyJ") + r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")),
    # An Authorization header in text, scheme and credentials together.
    ("authorization", G_KV, "", re.compile(
        "(?i)" + _lead("authorization") + r"[\"']?\s*[:=]\s*[\"']?"
        r"(?:[A-Za-z][A-Za-z0-9_\-]{0,30}\s+[A-Za-z0-9._~+/\-]{8,}=*|[A-Za-z0-9._~+/\-]{16,}=*)")),
    ("bearer", G_WORD, "", re.compile("(?i)" + _lead("bearer") + r"\s+[A-Za-z0-9._~+/\-]+=*")),
    ("basic_auth", G_WORD, "", re.compile(
        "(?i)" + _lead("basic") + r"\s+[A-Za-z0-9+/]{6,}={0,2}(?![A-Za-z0-9+/=])")),
    # Provider keys, by prefix: each holds a run of 20 or more of [A-Za-z0-9_-].
    ("anthropic_key", G_KEYS, "sk-ant-", re.compile(
        _lead("sk-ant-") + rf"(?:api|admin|oat|sid)[0-9]{{2}}-{_TOKEN}{{20,}}")),
    ("openai_key", G_KEYS, "sk-", re.compile(
        _lead("sk-") + rf"(?:(?:proj|svcacct|admin|None|or-v1)-{_TOKEN}{{20,}}"
        r"|[A-Za-z0-9]{32,}(?![A-Za-z0-9]))")),
    ("github_token", G_KEYS, "gh", re.compile(_lead("gh") + r"[pousr]_[A-Za-z0-9]{36,}")),
    ("github_token", G_KEYS, "github_pat_", re.compile(
        _lead("github_pat_") + r"[A-Za-z0-9_]{22,}")),
    ("gitlab_token", G_KEYS, "gl", re.compile(
        _lead("gl") + rf"(?:pat|dt|ptt|rt|soat)-{_TOKEN}{{20,}}")),
    ("slack_token", G_KEYS, "xox", re.compile(_lead("xox") + r"[abeoprs]-[0-9A-Za-z\-]{20,}")),
    ("slack_token", G_KEYS, "xapp-", re.compile(_lead("xapp-") + r"[0-9A-Za-z\-]{20,}")),
    ("slack_webhook", G_KEYS, "hooks.slack.com/", re.compile(
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_+\-]*[A-Za-z0-9]{20,}")),
    ("stripe_key", G_KEYS, "k_", re.compile(
        r"[rs]k_(?<![A-Za-z0-9_][rs]k_)(?:live|test)_[A-Za-z0-9]{16,}")),
    ("stripe_key", G_KEYS, "whsec_", re.compile(_lead("whsec_") + r"[A-Za-z0-9]{20,}")),
    ("google_api_key", G_KEYS, "AIza", re.compile(_lead("AIza") + rf"{_TOKEN}{{35}}")),
    ("google_oauth", G_KEYS, "ya29.", re.compile(_lead("ya29.") + rf"{_TOKEN}{{20,}}")),
    ("google_oauth", G_KEYS, "GOCSPX-", re.compile(_lead("GOCSPX-") + rf"{_TOKEN}{{20,}}")),
    ("aws_key", G_KEYS, "A", re.compile(
        _lead("A") + r"(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[0-9A-Z]{16}\b")),
    ("huggingface_token", G_KEYS, "hf_", re.compile(_lead("hf_") + r"[A-Za-z0-9]{30,}")),
    ("npm_token", G_KEYS, "npm_", re.compile(_lead("npm_") + r"[A-Za-z0-9]{36,}")),
    ("pypi_token", G_KEYS, "pypi-", re.compile(
        _lead("pypi-") + rf"AgEIcHlwaS5vcmc{_TOKEN}{{40,}}")),
    ("sendgrid_key", G_KEYS, "SG.", re.compile(
        _lead("SG.") + rf"{_TOKEN}{{22}}\.{_TOKEN}{{43}}")),
    ("groq_key", G_KEYS, "gsk_", re.compile(_lead("gsk_") + r"[A-Za-z0-9]{40,}")),
    ("xai_key", G_KEYS, "xai-", re.compile(_lead("xai-") + r"[A-Za-z0-9]{60,}")),
    ("replicate_token", G_KEYS, "r8_", re.compile(_lead("r8_") + r"[A-Za-z0-9]{30,}")),
    ("perplexity_key", G_KEYS, "pplx-", re.compile(_lead("pplx-") + r"[A-Za-z0-9]{40,}")),
    ("digitalocean_token", G_KEYS, "_v1_", re.compile(
        _lead("do") + r"[opr]_v1_[a-f0-9]{64}")),
    ("shopify_token", G_KEYS, "shp", re.compile(
        _lead("shp") + r"(?:at|ca|pa|ss)_[a-fA-F0-9]{32}")),
    ("square_token", G_KEYS, "sq0", re.compile(_lead("sq0") + rf"(?:atp|csp)-{_TOKEN}{{22,}}")),
    ("mailchimp_key", G_KEYS, "-us", re.compile(
        r"(?<![A-Za-z0-9_])[0-9a-f]{32}-us[0-9]{1,2}\b")),
    ("telegram_bot_token", G_KEYS, ":AA", re.compile(
        rf"(?<![A-Za-z0-9_])[0-9]{{8,10}}:AA{_TOKEN}{{33}}")),
    # name=value and "name": "value" pairs.
    ("api_key", G_KV, "", re.compile(
        "(?i)" + _lead("api") + r"[_-]?key\s*[:=]\s*[^\s,;&\"']+")),
    ("cookie_header", G_KV, "", re.compile("(?i)" + _lead("cookie") + r"\s*:\s*[^\r\n]+")),
    ("password_kv", G_KV, "", re.compile(
        r"(?i)p(?<![A-Za-z0-9_]p)(?:assword|asswd|wd)\s*[:=]\s*[^\s,;&\"']+")),
    # Any other pair whose name (a whole run of [A-Za-z0-9_.-], at most 97 long) holds one of
    # the name words: the value (``_VALUE``) is masked when the name is a secret's name.
    ("secret_kv", G_KV, "", re.compile(
        r"(?i)(?<![A-Za-z0-9_.\-])(?=[A-Za-z0-9_.\-]{0,96}?(?:" + "|".join(_NAME_WORDS)
        + r"))([A-Za-z0-9_.\-]{1,97})" + _PAIR_TAIL)),
    # A payment card: 13-19 digits, whole or in the usual groups; counted only when it
    # passes the Luhn check. Not inside a longer run of letters, digits, dots or dashes (ids,
    # hashes, decimals).
    ("card_number", G_CARD, "", re.compile(
        r"(?<![A-Za-z0-9_.+\-/])[2-6][0-9]{3}(?:[0-9]{9,15}"
        r"|[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{1,4}(?:[ \-][0-9]{1,3})?"
        r"|[ \-][0-9]{6}[ \-][0-9]{4,5})(?![A-Za-z0-9_])")),
    # The lookbehind starts a match only where a local part starts, and the bounds keep the
    # scan linear: without them a long token with no "@" took seconds (quadratic).
    ("email", G_AT, "@", re.compile(
        r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@"
        r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}")),
)

SHAPES: tuple[Shape, ...] = tuple((kind, pattern) for kind, _, _, pattern in _TABLE)
_SHAPE = {kind: pattern for kind, pattern in reversed(SHAPES)}  # the first of each kind
_SECRET_KV = _SHAPE["secret_kv"]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _replace_card(match: re.Match[str]) -> str:
    """The longest prefix of the match, ending at a group boundary, that is a card number
    (a card followed by its CVV is still found)."""
    text = match.group(0)
    cuts = [len(text)] + [i for i in range(len(text) - 1, 0, -1) if text[i] in " -"]
    for cut in cuts:
        digits = text[:cut].replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            return "***REDACTED:card_number***" + text[cut:]
    return text


def _replace_basic(match: re.Match[str]) -> str:
    """Only a credential that decodes to printable ``user:password`` ("Basic settings" is
    prose)."""
    text = match.group(0)
    encoded = text.split()[-1]
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return text
    if b":" in decoded and all(32 <= b < 127 for b in decoded):
        return "***REDACTED:basic_auth***"
    return text


def _masked(name: str, sep: str, value: str) -> str:
    quote = value[0] if value[0] in "\"'" else ""
    return f"{name}{sep}{quote}***REDACTED:secret_kv***{quote}"


def _secret_kv_sub(text: str) -> str:
    """``secret_kv`` as written: a match whose name is a secret's name has its value
    masked (the name stays); after any other match the search goes on right after its
    separator (``max_tokens:token=abc`` still hides ``abc``). Linear: only masked values are
    read to their end."""
    out: list[str] = []
    pos = 0
    while (m := _SECRET_KV.search(text, pos)) is not None:
        if is_secret_name(m.group(1)):
            value = _VALUE.match(text, m.end())
            assert value is not None  # the pattern checked that a value starts there
            out += (text[pos:m.start()], _masked(m.group(1), m.group(2), value.group()))
            pos = value.end()
        else:
            out.append(text[pos:m.end()])
            pos = m.end()
    return "".join((*out, text[pos:])) if out else text


REPLACERS: dict[re.Pattern[str], Callable[[re.Match[str]], str]] = {
    _SHAPE["card_number"]: _replace_card,
    _SHAPE["basic_auth"]: _replace_basic,
}


def any_of(shapes: tuple[Shape, ...]) -> re.Pattern[str]:
    """One pattern matching wherever any of ``shapes`` matches."""
    parts = []
    for _, pattern in shapes:
        body = pattern.pattern.removeprefix("(?i)")
        flag = "i" if pattern.flags & re.IGNORECASE else ""
        parts.append(f"(?{flag}:{body})" if flag else f"(?:{body})")
    return re.compile("|".join(parts))


ANY_SHAPE = any_of(SHAPES)


def _each(text: str, shapes: tuple[Shape, ...]) -> str:
    for kind, pattern in shapes:
        if pattern is _SECRET_KV:
            text = _secret_kv_sub(text)
            continue
        replace = REPLACERS.get(pattern)
        text = pattern.sub(replace if replace is not None else f"***REDACTED:{kind}***", text)
    return text


def apply_shapes(text: str, shapes: tuple[Shape, ...]) -> str:
    """``text`` with every shape replaced in turn: :func:`redact_text` for the default
    shapes, else one ``re.sub`` per shape."""
    return redact_text(text) if shapes is SHAPES else _each(text, shapes)


def reference_redact(text: str) -> str:
    """The default shapes as written, one ``re.sub`` each: what :func:`redact_text` must
    return."""
    return _each(text, SHAPES)


# ── the fast path ────────────────────────────────────────────────────────────

# The only non-ASCII characters Python's ``(?i)`` matches to ASCII letters: the dotted and
# dotless i, the long s and the Kelvin sign. Folded first, they cannot hide a literal.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
# Every name=value shape has a name word, up to 96 name characters, then ":" or "=";
# searched in the lower-cased text, where the words are plain literals (fast on long text).
_KV_GATE = re.compile(r"(?:" + "|".join(_NAME_WORDS) + r")[a-z0-9_.\-]{0,96}[\"']?\s*[:=]")
# How every card form starts (a first digit, three more, maybe a space or dash, four more),
# charset-first; and a run of 20 of [A-Za-z0-9_-], which every provider key holds.
_CARD_GATE = re.compile(
    r"[2-6](?<![A-Za-z0-9_.+\-/][2-6])[0-9][0-9][0-9][ \-]?[0-9][0-9][0-9][0-9]")
_RUN20 = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{20}")
_LONG = 256
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
                       r"(?:Z|[+\-][0-9]{2}:[0-9]{2})")


def _anchor(need: str) -> str:
    """A character every match of a provider key holds that long prose rarely does."""
    later = {"gh": "_", "shp": "_", "gl": "-", "xox": "-", "sq0": "-"}  # after the prefix
    return later.get(need) or next((c for c in need if c in "_-.:"), need[0])


_KEY_SHAPES = tuple((_anchor(need), need, pattern) for _, group, need, pattern in _TABLE
                    if group == G_KEYS)
_ANCHORS = "".join(sorted({anchor for anchor, _, _ in _KEY_SHAPES}))


def shape_groups(text: str) -> int:
    """The groups (``G_*`` bits) that may have a shape matching ``text``; 0 when none can.

    Decided by what every shape of a group needs, mostly with substring tests:

    * ``-----BEGIN`` (PEM), ``@`` (e-mail, URL credentials), ``eyJ`` (JWT);
    * any case of ``bearer`` or ``basic``;
    * a name word (``key``, ``token``, ``secret``...), then ``:`` or ``=`` (name=value pairs);
    * a digit 2-6 not inside a word or number, 3 digits, maybe a space or dash, 4 digits
      (cards);
    * a run of 20 of ``[A-Za-z0-9_-]`` and a provider key's pattern (exact for this group).

    Non-ASCII text is folded first (``(?i)`` matches four non-ASCII letters to ASCII ones).
    """
    n = len(text)
    if 20 <= n <= 35 and text[4:5] == "-" and _ISO_TIME.fullmatch(text):
        return 0  # a timestamp (every record has some): no shape matches one
    found = 0
    if "-----BEGIN" in text:
        found |= G_PEM
    if "@" in text:
        found |= G_AT
    if "eyJ" in text:
        found |= G_JWT
    low = text.lower() if text.isascii() else text.translate(_FOLD).lower()
    if "bearer" in low or "basic" in low:
        found |= G_WORD
    if ("=" in text or ":" in text) and (
            "key" in low or "token" in low or "secret" in low or "pass" in low or "pwd" in low
            or "auth" in low or "cred" in low or "cookie" in low or "ssn" in low
            or "cvv" in low or "cvc" in low or "card" in low) and _KV_GATE.search(low):
        found |= G_KV
    # A character class is scanned at ~5 ns a character, a literal at ~0.2: long text is
    # first asked for a digit (cards) and goes straight to the key prefixes.
    if n >= 13 and (n < _LONG or "0" in text or "1" in text or "2" in text or "3" in text
                    or "4" in text or "5" in text or "6" in text or "7" in text
                    or "8" in text or "9" in text) and _CARD_GATE.search(text):
        found |= G_CARD
    if n >= 20 and (_RUN20.search(text) if n < _LONG else any(c in text for c in _ANCHORS)):
        for anchor, need, pattern in _KEY_SHAPES:
            if anchor in text and need in text and pattern.search(text):
                found |= G_KEYS
                break
    return found


def default_match(text: str) -> bool:
    """False when no default shape can match ``text`` (never False when one does)."""
    return shape_groups(text) != 0


_ON_LOW = {pattern: re.compile(pattern.pattern.removeprefix("(?i)"))
           for _, group, _, pattern in _TABLE
           if pattern.flags & re.IGNORECASE and pattern not in REPLACERS}
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_TAIL = re.compile(_PAIR_TAIL)
_SEPARATOR = re.compile(r"[:=]")


def _sub_on_low(low_pattern: re.Pattern[str], text: str, marker: str) -> str:
    """``(?i)`` pattern's ``sub`` on ASCII ``text``, run without the flag on its lower case."""
    out: list[str] = []
    pos = 0
    for m in low_pattern.finditer(text.lower()):
        out += (text[pos:m.start()], marker)
        pos = m.end()
    return "".join((*out, text[pos:])) if out else text


def _secret_pairs(text: str) -> str:
    """:func:`_secret_kv_sub` on ASCII ``text``, each pair found from its ``:`` or ``=``
    backwards to the name (the regex tries a name at every word start: slow on long text)."""
    out: list[str] = []
    pos = 0
    for sep in _SEPARATOR.finditer(text):
        if sep.start() < pos:
            continue  # inside a masked value
        end = sep.start()
        while end > pos and text[end - 1].isspace():
            end -= 1
        if end > pos and text[end - 1] in "\"'":
            end -= 1
        start = end
        while start > 0 and text[start - 1] in _NAME_CHARS:
            start -= 1
        if start == end or start < pos or end - start > 97:
            continue
        name = text[start:end]
        low = name.lower()
        if not any(word in low for word in _NAME_WORDS):
            continue
        tail = _TAIL.match(text, end)
        if tail is None:
            continue
        if is_secret_name(name):
            value = _VALUE.match(text, tail.end())
            assert value is not None
            out += (text[pos:start], _masked(name, tail.group(1), value.group()))
            pos = value.end()
        else:
            out.append(text[pos:tail.end()])
            pos = tail.end()
    return "".join((*out, text[pos:])) if out else text


def redact_text(text: str) -> str:
    """The default shapes applied to ``text``: the same string as :func:`reference_redact`,
    running only the groups :func:`shape_groups` allows, and on ASCII text the ``(?i)``
    patterns on the lower case and ``secret_kv`` from the separators."""
    groups = shape_groups(text)
    if not groups:
        return text
    for kind, group, need, pattern in _TABLE:
        if not groups & group or need not in text:
            continue
        ascii_text = text.isascii()
        if pattern is _SECRET_KV:
            text = _secret_pairs(text) if ascii_text else _secret_kv_sub(text)
            continue
        low_pattern = _ON_LOW.get(pattern) if ascii_text else None
        if low_pattern is not None:
            text = _sub_on_low(low_pattern, text, f"***REDACTED:{kind}***")
            continue
        replace = REPLACERS.get(pattern)
        text = pattern.sub(replace if replace is not None else f"***REDACTED:{kind}***", text)
    return text
