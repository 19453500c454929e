"""The inbox's edit form: one field per argument, built from the action's argument schema, and
the edited arguments read back from what the browser posts.

Nothing here validates: the edited arguments go to the request as an `edit` answer, and the
review node validates them with the model the schema came from, exactly as for an API client.
What the browser posts is only made into the JSON types the schema names: a number field
becomes a number, a list of text one item per line, anything else JSON. Text that does not
convert is passed on as text, so the node's own message says what is wrong with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from signoff.protocol.shapes import ActionRequest

FieldKind = Literal["text", "textarea", "number", "integer", "checkbox", "lines", "json"]
LONG_TEXT = 200
"""Text that may be longer than this (`maxLength`) gets a multi-line box."""


@dataclass(frozen=True)
class FormField:
    """One input of the edit form."""

    name: str
    """The argument's name, also the input's `name`."""
    label: str
    kind: FieldKind
    value: str
    """What the input shows: the argument as shown in the request, or as last posted."""
    required: bool
    help: str
    """The schema's description and the kind of input expected."""


def edit_fields(action: ActionRequest, posted: dict[str, str] | None = None) -> list[FormField]:
    """The fields for editing `action`'s arguments, showing `posted` values (a refused edit)
    where given, else the arguments shown."""
    schema = action.get("args_schema") or _schema_of(action["args"])
    required = set(schema.get("required") or [])
    properties: dict[str, Any] = schema.get("properties") or {}
    fields = []
    for name in [*properties, *(name for name in action["args"] if name not in properties)]:
        spec = properties.get(name, {})
        kind = _kind(spec)
        shown = (
            posted[name] if posted and name in posted else _as_text(action["args"].get(name), kind)
        )
        fields.append(
            FormField(
                name=name,
                label=str(spec.get("title") or name.replace("_", " ").capitalize()),
                kind=kind,
                value=shown,
                required=name in required,
                help=" ".join(filter(None, [spec.get("description"), _hint(kind)])),
            )
        )
    return fields


def edited_args(fields: list[FormField], posted: dict[str, str]) -> dict[str, Any]:
    """The arguments an edit form posted, each in the JSON type of its field; empty optional
    fields are left out."""
    args: dict[str, Any] = {}
    for field in fields:
        text = posted.get(field.name, "")
        if field.kind == "checkbox":
            args[field.name] = text == "on"
        elif text.strip() or field.required:
            args[field.name] = _from_text(text, field.kind)
    return args


def _kind(spec: dict[str, Any]) -> FieldKind:
    options = [o for o in spec.get("anyOf", [spec]) if o.get("type") != "null"]
    spec = options[0] if len(options) == 1 else {}
    kind = spec.get("type")
    if kind == "string":
        return "textarea" if spec.get("maxLength", LONG_TEXT + 1) > LONG_TEXT else "text"
    if kind in ("number", "integer"):
        return kind
    if kind == "boolean":
        return "checkbox"
    if kind == "array" and (spec.get("items") or {}).get("type") == "string":
        return "lines"
    return "json"


def _hint(kind: FieldKind) -> str:
    return {"lines": "One per line.", "json": "JSON."}.get(kind, "")


def _schema_of(args: dict[str, Any]) -> dict[str, Any]:
    """A schema guessed from the arguments shown, for actions that carry none."""
    types = {str: "string", bool: "boolean", int: "integer", float: "number"}
    return {
        "properties": {
            name: {"type": types.get(type(value), "object")} for name, value in args.items()
        },
        "required": list(args),
    }


def _as_text(value: Any, kind: FieldKind) -> str:
    if value is None:
        return ""
    if kind == "lines" and isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if kind == "checkbox":
        return "on" if value else ""
    if isinstance(value, str) and kind != "json":
        return value
    return json.dumps(value, indent=2) if kind == "json" else str(value)


def _from_text(text: str, kind: FieldKind) -> Any:
    if kind in ("text", "textarea"):
        return text
    if kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # the node's validation names the field and what it expects
