"""Small builders for the OpenAPI response schemas that endpoints declare next to their code.

`component("Name", schema)` registers a named schema (rendered under components/schemas) and
returns a $ref to it; the tests validate real responses against these schemas, so they stay true.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

COMPONENTS: dict[str, Schema] = {}

DECIMAL: Schema = {
    "type": "string",
    "pattern": r"^[0-9]+(\.[0-9]+)?$",
    "description": "Decimal in plain notation at the asset's precision.",
    "example": "0.01000000",
}
SIGNED_DECIMAL: Schema = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
INT: Schema = {"type": "integer", "format": "int64"}
TIME_MS: Schema = {"type": "integer", "format": "int64", "description": "ms since the epoch"}
BOOL: Schema = {"type": "boolean"}
STRING: Schema = {"type": "string"}
EMPTY: Schema = {"type": "object", "additionalProperties": False, "properties": {}}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """An object whose properties are all required except `optional`."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def one_of(*schemas: Schema) -> Schema:
    return {"oneOf": list(schemas)}


def any_of(*schemas: Schema) -> Schema:
    return {"anyOf": list(schemas)}


def component(name: str, schema: Schema) -> Schema:
    existing = COMPONENTS.get(name)
    if existing is not None and existing != schema:
        raise ValueError(f"two different schemas named {name}")
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


ERROR = component(
    "Error",
    obj(
        {
            "code": {"type": "integer", "maximum": -1, "example": -1121},
            "msg": {"type": "string", "example": "Invalid symbol."},
        }
    ),
)
