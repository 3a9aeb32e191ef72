"""``layout.dumps`` writes exactly what ``json.dumps(sort_keys=True, indent=2,
ensure_ascii=False)`` writes (the bundle's file format), on its fast path and its fallback."""

from __future__ import annotations

import enum
import json
import math
import random
from collections import OrderedDict
from typing import Any

import pytest

from augur_sdk.bundle import layout


def reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


STRINGS = ["", "plain", 'quote " and \\ backslash', "tab\tnew\nline\r", "\x00\x1f\x7f",
           "é ü ß 日本語 🙂", "\u2028\u2029", "lone \ud800 surrogate", "</script>"]
NUMBERS = [0, -1, 2**63, -(2**80), 0.0, -0.0, 1.5, 1e16, 1e-7, 5e-324, 1.7976931348623157e308,
           math.nan, math.inf, -math.inf, 0.1 + 0.2]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        return rng.choice([*STRINGS, *NUMBERS, True, False, None])
    if roll < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [rng.choice(STRINGS) + str(rng.randint(0, 9)) for _ in range(rng.randint(0, 5))]
    return {key: random_json(rng, depth + 1) for key in keys}


def test_random_json_is_written_byte_for_byte_like_json_dumps() -> None:
    rng = random.Random(11)
    values = [random_json(rng) for _ in range(3000)]
    values += [{}, [], {"a": {}}, {"a": []}, [[]], {"b": 1, "a": 2, "B": 3, "_": 4}]
    mismatches = [v for v in values if layout.dumps(v) != reference(v)]
    assert mismatches == []


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize("value", [
    {"t": (1, 2)},                      # tuples are lists to json
    {1: "int key", 2: "another"},       # non-string keys are turned into strings
    {"e": Level.HIGH},                  # an int subclass
    OrderedDict([("z", 1), ("a", 2)]),  # a dict subclass
    {"n": [True, 1, 1.0]},
])
def test_values_off_the_fast_path_are_written_like_json_dumps(value: Any) -> None:
    assert layout.dumps(value) == reference(value)


def test_what_json_refuses_is_refused_the_same_way() -> None:
    looped: list[Any] = []
    looped.append(looped)
    for bad, error in [(looped, ValueError), ({"b": b"bytes"}, TypeError),
                       ({1: "x", "a": "y"}, TypeError)]:
        with pytest.raises(error):
            reference(bad)
        with pytest.raises(error):
            layout.dumps(bad)
