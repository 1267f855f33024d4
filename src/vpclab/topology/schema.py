"""`vpclab schema`: the JSON Schema (draft 2020-12) of the topology format, for editors.

Generated from the one key table the loader reads too (topology/keys.py), so
the two cannot drift: every key the loader accepts is a property here, required
where the loader requires it, and nothing else is allowed. The loader stays the judge: the schema cannot express the cloud
rules (overlaps, quotas, one peering per pair), only the shape.
"""
from __future__ import annotations

from .keys import KEYS, SCHEMA


def schema() -> dict:
    """The JSON Schema document.

    A file with `include:` (version 3) may leave any required key to a file it includes, so the
    document checks such a file against a copy of every definition without `required`
    (`open-*`): the shape and the names still, not what the merged lab must have."""
    defs = {}
    for section, (allowed, required) in SCHEMA.items():
        described = KEYS.get(section, {})
        body = {"type": ["object", "null"] if section != "top" else "object",
                "properties": {k: described.get(k, {}) for k in sorted(allowed)},
                "additionalProperties": False}
        if required:
            body["required"] = sorted(required)
        defs[section] = body
    defs["top"]["type"] = "object"
    defs.update({f"open-{k}": _open(v) for k, v in list(defs.items())})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "vpclab topology",
            "description": "A vpclab lab: VPCs, subnets, route tables, instances, peerings and the reachability "
                           "expected.",
            "if": {"type": "object", "required": ["include"]},
            "then": {"$ref": "#/$defs/open-top"}, "else": {"$ref": "#/$defs/top"}, "$defs": defs}


def _open(node):
    """`node` without `required`, its references pointing at the open definitions."""
    if isinstance(node, dict):
        return {k: (f"#/$defs/open-{v[len('#/$defs/'):]}" if k == "$ref" and isinstance(v, str) else _open(v))
                for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_open(x) for x in node]
    return node
