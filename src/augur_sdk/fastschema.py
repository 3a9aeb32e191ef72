"""A fast yes/no check for augur-schema records, compiled at runtime from the schemas.

``jsonschema`` costs ~0.4 ms per step record, the largest single cost of ``record_step``.
This module compiles the schemas that ``augur-schema`` installs (never a copy of them) into
plain Python predicates for the keywords those schemas use. It only ever answers "valid":
when a record fails the predicate, the caller runs ``jsonschema`` for the error message, so
messages are unchanged. A schema using any keyword not handled here is not compiled at all
(``compile_schema`` returns None) and ``jsonschema`` is used for every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
            checks.append(lambda v, names=tuple(names): any(_is_type(v, n) for n in names))
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
            checks.append(lambda v, req=tuple(arg): not isinstance(v, dict)
                          or all(k in v for k in req))
        elif key == "properties":
            checks.append(_properties({name: _compile(sub, refs) for name, sub in arg.items()}))
        elif key == "additionalProperties":
            known = frozenset(schema.get("properties", {}))
            if "patternProperties" in schema:
                raise Unsupported("patternProperties")
            checks.append(_additional(known, _compile(arg, refs)))
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
    return lambda v: all(check(v) for check in checks)


def _properties(props: dict[str, Check]) -> Check:
    return lambda v: not isinstance(v, dict) or all(
        check(v[name]) for name, check in props.items() if name in v)


def _additional(known: frozenset[str], extra: Check) -> Check:
    return lambda v: not isinstance(v, dict) or all(
        extra(item) for k, item in v.items() if k not in known)


def _items(item: Check) -> Check:
    return lambda v: not isinstance(v, list) or all(item(x) for x in v)


def _any_of(options: list[Check]) -> Check:
    return lambda v: any(opt(v) for opt in options)


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
