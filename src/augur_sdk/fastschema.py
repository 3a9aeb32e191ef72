"""A fast yes/no check for augur-schema records, compiled at runtime from the schemas.

``jsonschema`` costs ~0.4 ms per step record, the largest single cost of ``record_step``;
the compiled check takes ~12 us.
This module compiles the schemas that ``augur-schema`` installs (never a copy of them) into
plain Python predicates for the keywords those schemas use. It only ever answers "valid":
when a record fails the predicate, the caller runs ``jsonschema`` for the error message, so
messages are unchanged. A schema using any keyword not handled here is not compiled at all
(``compile_schema`` returns None) and ``jsonschema`` is used for every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from augur_schema import load_schema

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "examples", "default",
                          "format", "x-conversions", "$comment", "deprecated"})


class Unsupported(Exception):
    pass


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float)
    raise Unsupported(f"type {name!r}")


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _compile(schema: Any, refs: dict[str, Check]) -> Check:
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict):
        raise Unsupported("schema is not an object")
    checks: list[Check] = []
    for key, arg in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "type":
            names = arg if isinstance(arg, list) else [arg]
            for name in names:
                _is_type(None, name)  # raises Unsupported for unknown type names
            checks.append(_type_check(tuple(names)))
        elif key == "enum":
            checks.append(lambda v, opts=tuple(arg): any(_json_equal(v, o) for o in opts))
        elif key == "const":
            checks.append(lambda v, c=arg: _json_equal(v, c))
        elif key == "minimum":
            checks.append(lambda v, m=arg: not _is_type(v, "number") or v >= m)
        elif key == "maximum":
            checks.append(lambda v, m=arg: not _is_type(v, "number") or v <= m)
        elif key == "minLength":
            checks.append(lambda v, m=arg: not isinstance(v, str) or len(v) >= m)
        elif key == "minItems":
            checks.append(lambda v, m=arg: not isinstance(v, list) or len(v) >= m)
        elif key == "pattern":
            rx = re.compile(arg)
            checks.append(lambda v, rx=rx: not isinstance(v, str) or rx.search(v) is not None)
        elif key == "required":
            checks.append(_required(tuple(arg)))
        elif key == "properties":
            if "additionalProperties" in schema:
                continue  # checked together with additionalProperties, in one pass
            checks.append(_properties({name: _compile(sub, refs) for name, sub in arg.items()},
                                      None))
        elif key == "additionalProperties":
            if "patternProperties" in schema:
                raise Unsupported("patternProperties")
            props = {name: _compile(sub, refs)
                     for name, sub in schema.get("properties", {}).items()}
            checks.append(_properties(props, _compile(arg, refs)))
        elif key == "items":
            checks.append(_items(_compile(arg, refs)))
        elif key == "anyOf":
            checks.append(_any_of([_compile(sub, refs) for sub in arg]))
        elif key == "$ref":
            checks.append(_ref(arg, refs))
        else:
            raise Unsupported(key)
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    return _all_of(tuple(checks))


# The combinators below are plain loops, not generator expressions: a record check calls them
# hundreds of times, and a generator costs more to create than most of these checks.

_TYPE_CHECKS: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: not isinstance(v, bool) and (
        isinstance(v, int) or (isinstance(v, float) and v.is_integer())),
    "number": lambda v: not isinstance(v, bool) and isinstance(v, int | float),
}


def _type_check(names: tuple[str, ...]) -> Check:
    if len(names) == 1:
        return _TYPE_CHECKS[names[0]]
    options = tuple(_TYPE_CHECKS[n] for n in names)
    return _any_of(options)


def _all_of(checks: tuple[Check, ...]) -> Check:
    def check(v: Any) -> bool:
        for c in checks:  # noqa: SIM110 (a loop: no generator per call)
            if not c(v):
                return False
        return True
    return check


def _required(names: tuple[str, ...]) -> Check:
    def check(v: Any) -> bool:
        if isinstance(v, dict):
            for name in names:
                if name not in v:
                    return False
        return True
    return check


def _properties(props: dict[str, Check], extra: Check | None) -> Check:
    """``properties`` (and ``additionalProperties`` when ``extra`` is given) in one pass over
    the object's own keys."""
    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key, item in v.items():
            sub = props.get(key)
            if sub is None:
                if extra is not None and not extra(item):
                    return False
            elif not sub(item):
                return False
        return True
    return check


def _items(item: Check) -> Check:
    def check(v: Any) -> bool:
        if isinstance(v, list):
            for x in v:
                if not item(x):
                    return False
        return True
    return check


def _any_of(options: Sequence[Check]) -> Check:
    options = tuple(options)

    def check(v: Any) -> bool:
        for opt in options:  # noqa: SIM110 (a loop: no generator per call)
            if opt(v):
                return True
        return False
    return check


def _ref(target: str, refs: dict[str, Check]) -> Check:
    if "#" in target:
        raise Unsupported(f"$ref with a fragment: {target}")
    name = target.rsplit("/", 1)[-1]
    if name not in refs:
        refs[name] = lambda v: False  # placeholder while compiling (cycles)
        compiled = _compile(load_schema(name), refs)
        refs[name] = compiled
    return lambda v: refs[name](v)


@cache
def compile_schema(name: str) -> Check | None:
    """A predicate for the named augur-schema schema, or None if it cannot be compiled."""
    try:
        return _compile(load_schema(name), {})
    except Unsupported:
        return None
