"""The model-call record (``modelio``): its input check, its capture-mode gate, the images
taken out of its messages, and its GenAI ``chat`` span attributes. Pure functions; the
recorder (``_session/modelio_records.py``) runs them.

What each capture mode keeps (the rest of the record is the *metadata class*: model,
parameters, usage, stop reason, timings, hashes, logprob values):

- below ``model_io``: no messages, system prompt, tool definitions, response text or tool
  calls, and logprob entries without their token text;
- from ``model_io`` up: everything, redacted; base64 images replaced by references to files
  written once under ``modelio/images/`` by their sha256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from augur_sdk import records
from augur_sdk.capture import CaptureMode

SCHEMA_VERSION = "0.1"
IMAGE_DIR = "modelio/images"
_SAFE_LAYER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")

# The model_io class, by dotted path (the docs tables list them).
CONTENT_FIELDS = {
    "request": ("system", "messages", "tools"),
    "response": ("text", "tool_calls"),
}
FIELD_MODES = {f"{part}.{name}": CaptureMode.MODEL_IO
               for part, names in CONTENT_FIELDS.items() for name in names}
FIELD_MODES["response.logprobs[].token"] = CaptureMode.MODEL_IO

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/gif": "gif",
               "image/webp": "webp"}
_DATA_URL = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,", re.ASCII)

Images = dict[str, tuple[bytes, str]]  # bundle path -> (bytes, media type)


# ── the input check ─────────────────────────────────────────────────────────────────────────

def check_layer(layer: Any, field: str = "layer") -> str:
    """A layer names a file (``modelio/NNNN-<layer>-<seq>.json``): a safe file-name part."""
    if not isinstance(layer, str):
        raise TypeError(f"{field}: expected a string, got {type(layer).__name__}")
    if not _SAFE_LAYER.fullmatch(layer):
        raise ValueError(f"{field}: {layer!r} is not a safe file-name part (letters, digits, "
                         "'_', '.', '-'; at most 64; not starting with '.' or '-')")
    return layer


def check_modelio(record: Any, *, step_index: int | None, layer: str | None, validate: bool,
                  capture_logprobs: bool) -> dict[str, Any]:
    """A private, checked copy of a model-call record (the caller's dict is never changed).

    ``layer`` is stamped when the record has none; ``step_index`` must agree with the
    record's; ``schema_version`` and ``ts`` are filled in; ``response.logprobs`` is kept only
    with ``capture_logprobs`` (and defaults to ``[]`` then: requested, none returned)."""
    if not isinstance(record, Mapping):
        raise TypeError(f"record: expected a dict, got {type(record).__name__}")
    if layer is not None:
        check_layer(layer)
    rec: dict[str, Any] = records.clean_json(record, "record")
    if layer is not None:
        rec.setdefault("layer", layer)
    rec.setdefault("schema_version", SCHEMA_VERSION)
    if not rec.get("ts"):
        rec["ts"] = records.utcnow_iso()
    if step_index is not None:
        index = records.require_index(step_index, "step_index")
        own = rec.get("step_index")
        if own is not None and own != index:
            raise ValueError(f"step_index: the record says {own!r}, the argument {index}; "
                             "pass one or make them agree")
        rec["step_index"] = index
    elif rec.get("step_index") is not None:
        records.require_index(rec["step_index"], "record.step_index")
    response = rec.get("response")
    if isinstance(response, dict):
        if capture_logprobs:
            response.setdefault("logprobs", [])
        else:
            response.pop("logprobs", None)
    if validate:
        try:
            records.schema_errors("modelio", rec, "record")
        except ValueError as exc:
            raise ValueError(f"record_modelio: {exc} (modelio.schema.json)") from None
    check_layer(rec.get("layer", "model"), "record.layer")
    if not isinstance(rec["ts"], str):
        raise TypeError(f"record.ts: expected an ISO-8601 string, got {type(rec['ts']).__name__}")
    records.iso_to_ns(rec["ts"], "record.ts")  # the chat span's end: refused here, not lost later
    return rec


def content_key(record: Mapping[str, Any]) -> str:
    """What makes two calls the same call (for ``prompt_hash`` idempotency): the whole record
    but its timestamp."""
    rest = {k: v for k, v in record.items() if k != "ts"}
    blob = json.dumps(rest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def approx_size(value: Any) -> int:
    """About the bytes ``value`` takes as JSON (strings by length, a few bytes per other
    item), without encoding it: what the byte budget counts."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(len(k) + 4 + approx_size(v) for k, v in value.items())
    if isinstance(value, list):
        return 2 + sum(approx_size(v) + 1 for v in value)
    return 8


def file_name(step_index: int | None, layer: str, seq: int) -> str:
    prefix = "run" if step_index is None else f"{step_index:04d}"
    return f"{prefix}-{layer}-{seq}.json"


# ── images ──────────────────────────────────────────────────────────────────────────────────

Masked = Callable[[str], "bytes | None"]  # sha256 of a screenshot -> its masked PNG, if any


def _none(_digest: str) -> bytes | None:
    return None


def extract_images(record: dict[str, Any], masked: Masked = _none) -> Images:
    """Replace every base64 image in the request's messages by a reference to its file
    (changes ``record``, a private copy); return ``{path: (bytes, media type)}``.

    Two shapes are recognised: a ``data:image/...;base64,`` URL string (OpenAI
    ``image_url``/``input_image``) becomes ``"bundle:<path>"``; an Anthropic image source
    ``{"type": "base64", "media_type": ..., "data": ...}`` becomes ``{"type": "bundle",
    "media_type": ..., "path": <path>}``. Data that is not valid base64, and base64 of
    another media type (a PDF document block), is left as it is.

    ``masked``: the sha256 of a screenshot the session masked (``attach_observation`` with
    ``mask_regions`` or the policy's ``screenshot_regions``) -> its masked PNG; such an image
    is stored masked, never as it was sent."""
    images: Images = {}
    request = record.get("request")
    if isinstance(request, dict) and isinstance(request.get("messages"), list):
        request["messages"] = _walk(request["messages"], images, masked)
    return images


def _walk(value: Any, images: Images, masked: Masked) -> Any:
    if isinstance(value, str):
        match = _DATA_URL.match(value)
        if match:
            path = _store(value[match.end():], match.group(1), images, masked)
            return value if path is None else f"bundle:{path}"
        return value
    if isinstance(value, list):
        return [_walk(item, images, masked) for item in value]
    if isinstance(value, dict):
        if value.get("type") == "base64" and isinstance(value.get("data"), str) \
                and isinstance(value.get("media_type"), str):
            path = _store(value["data"], value["media_type"], images, masked)
            if path is not None:
                return {"type": "bundle", "media_type": value["media_type"], "path": path}
        return {k: _walk(v, images, masked) for k, v in value.items()}
    return value


def _store(data: str, media_type: str, images: Images, masked: Masked) -> str | None:
    ext = _EXTENSIONS.get(media_type.lower())
    if ext is None:
        return None  # not an image: left where it is
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    digest = hashlib.sha256(raw).hexdigest()
    replacement = masked(digest)
    if replacement is not None:
        raw, digest = replacement, hashlib.sha256(replacement).hexdigest()
    path = f"{IMAGE_DIR}/{digest}.{ext}"
    images[path] = (raw, media_type)
    return path


def referenced_images(record: Mapping[str, Any]) -> set[str]:
    """The image paths a (gated) record still refers to."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, str):
            if value.startswith(f"bundle:{IMAGE_DIR}/"):
                found.add(value[len("bundle:"):])
        elif isinstance(value, list):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            if value.get("type") == "bundle" and isinstance(value.get("path"), str):
                found.add(value["path"])
            for item in value.values():
                visit(item)

    visit(record.get("request"))
    return found


# ── the capture-mode gate ───────────────────────────────────────────────────────────────────

# Below model_io a record keeps only these (an allow-list: a field the schema does not know,
# recorded with validate=False, is content until shown otherwise).
METADATA_KEEPS = {
    None: ("schema_version", "step_index", "layer", "ts", "prompt_hash", "redaction_applied",
           "duration_ms", "request", "response"),
    "request": ("model", "params"),
    "response": ("stop_reason", "usage", "logprobs"),
}


def gate(record: dict[str, Any], mode: CaptureMode) -> dict[str, Any]:
    """The part of a record ``mode`` keeps; content needs ``model_io``. Never changes
    ``record``."""
    if mode >= CaptureMode.MODEL_IO:
        return record
    out = {k: v for k, v in record.items() if k in METADATA_KEEPS[None]}
    for part in ("request", "response"):
        section = out.get(part)
        if isinstance(section, dict):
            out[part] = {k: v for k, v in section.items() if k in METADATA_KEEPS[part]}
    response = out.get("response")
    if isinstance(response, dict) and isinstance(response.get("logprobs"), list):
        response["logprobs"] = [_bare_logprob(e) for e in response["logprobs"]]
    return out


def _bare_logprob(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    bare = {k: v for k, v in entry.items() if k != "token"}
    if isinstance(bare.get("top_alternatives"), list):
        bare["top_alternatives"] = [_bare_logprob(a) for a in bare["top_alternatives"]]
    return bare


# ── the GenAI chat span ─────────────────────────────────────────────────────────────────────

_PROVIDERS = (("claude", "anthropic"), ("gpt-", "openai"), ("computer-use", "openai"),
              ("o1", "openai"), ("o3", "openai"), ("o4", "openai"), ("gemini", "gcp.gemini"),
              ("mistral", "mistral_ai"), ("grok", "x_ai"), ("deepseek", "deepseek"))


def provider_of(model: str) -> str | None:
    """The ``gen_ai.provider.name`` a model id suggests (``None``: unknown)."""
    lowered = model.lower()
    for prefix, provider in _PROVIDERS:
        if lowered.startswith(prefix):
            return provider
    return None


def span_name(record: Mapping[str, Any]) -> str:
    request = record.get("request")
    model = request.get("model") if isinstance(request, Mapping) else None
    return f"chat {model}" if isinstance(model, str) and model else "chat"


def chat_attributes(record: Mapping[str, Any], *, path: str, provider: str | None,
                    response_model: str | None,
                    reasoning_tokens: int | None) -> dict[str, Any]:
    """GenAI semantic-convention attributes of a (gated) call, and ours (``augur.modelio.*``).
    Message content is there only when the gate kept it."""
    request = record.get("request") if isinstance(record.get("request"), Mapping) else {}
    response = record.get("response") if isinstance(record.get("response"), Mapping) else {}
    assert isinstance(request, Mapping) and isinstance(response, Mapping)
    attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "augur.modelio.path": path,
                             "augur.modelio.layer": str(record.get("layer", "model"))}
    model = request.get("model")
    if isinstance(model, str):
        attrs["gen_ai.request.model"] = model
        attrs["gen_ai.response.model"] = response_model or model
        provider = provider or provider_of(model)
    if provider:
        attrs["gen_ai.provider.name"] = provider
    if isinstance(record.get("step_index"), int):
        attrs["augur.step_index"] = record["step_index"]
    for key in ("prompt_hash", "duration_ms"):
        if key in record and record[key] is not None:
            attrs[f"augur.modelio.{key}"] = record[key]
    params = request.get("params")
    if isinstance(params, Mapping):
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = params.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attrs[f"gen_ai.request.{name}"] = value
    if isinstance(response.get("stop_reason"), str):
        attrs["gen_ai.response.finish_reasons"] = (response["stop_reason"],)
    usage = response.get("usage")
    if isinstance(usage, Mapping):
        for ours, theirs in (("prompt_tokens", "input_tokens"),
                             ("completion_tokens", "output_tokens"),
                             ("cache_hit_tokens", "cache_read.input_tokens"),
                             ("cache_creation_tokens", "cache_creation.input_tokens")):
            if isinstance(usage.get(ours), int):
                attrs[f"gen_ai.usage.{theirs}"] = usage[ours]
    if reasoning_tokens is not None:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning_tokens
    if "messages" in request:
        attrs["gen_ai.input.messages"] = _json(
            [_genai_message(m) for m in request.get("messages") or []])
    if isinstance(request.get("system"), str):
        attrs["gen_ai.system_instructions"] = _json([{"type": "text",
                                                      "content": request["system"]}])
    if "text" in response or "tool_calls" in response:
        parts: list[dict[str, Any]] = []
        if isinstance(response.get("text"), str):
            parts.append({"type": "text", "content": response["text"]})
        for call in response.get("tool_calls") or []:
            parts.append(_tool_call(call))
        message: dict[str, Any] = {"role": "assistant", "parts": parts}
        if isinstance(response.get("stop_reason"), str):
            message["finish_reason"] = response["stop_reason"]
        attrs["gen_ai.output.messages"] = _json([message])
    return attrs


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _genai_message(message: Any) -> dict[str, Any]:
    """A provider-shaped message as a GenAI message (role + typed parts)."""
    if not isinstance(message, Mapping):
        return {"role": "user", "parts": [{"type": "text", "content": str(message)}]}
    content = message.get("content")
    blocks = content if isinstance(content, list) else [content] if content is not None else []
    return {"role": str(message.get("role", "user")),
            "parts": [_part(block) for block in blocks]}


def _part(block: Any) -> dict[str, Any]:
    if isinstance(block, str):
        return {"type": "text", "content": block}
    if not isinstance(block, Mapping):
        return {"type": "text", "content": _json(block)}
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text") and isinstance(block.get("text"), str):
        return {"type": "text", "content": block["text"]}
    ref = referenced_images({"request": block})
    if ref:
        path = sorted(ref)[0]
        source = block.get("source") if isinstance(block.get("source"), Mapping) else {}
        assert isinstance(source, Mapping)
        part = {"type": "uri", "modality": "image", "uri": f"bundle:{path}"}
        if isinstance(source.get("media_type"), str):
            part["mime_type"] = source["media_type"]
        return part
    if kind == "tool_use":
        return _tool_call(block)
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": block.get("tool_use_id"),
                "response": block.get("content")}
    return {"type": str(kind or "unknown"), "content": block}


def _tool_call(call: Any) -> dict[str, Any]:
    if not isinstance(call, Mapping):
        return {"type": "tool_call", "arguments": call}
    function = call.get("function") if isinstance(call.get("function"), Mapping) else None
    name = call.get("name") or (function or {}).get("name")
    arguments = call.get("input", call.get("arguments", (function or {}).get("arguments")))
    return {"type": "tool_call", "id": call.get("id"), "name": name, "arguments": arguments}
