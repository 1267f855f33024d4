"""`vpclab schema`: the JSON Schema (draft 2020-12) of the topology format, for editors.

Generated from the one key table the loader reads too (topology/keys.py), so
the two cannot drift: every key the loader accepts is a property here, required
where the loader requires it, and nothing else is allowed. The loader stays the judge: the schema cannot express the cloud
rules (overlaps, quotas, one peering per pair), only the shape.
"""
from __future__ import annotations

from .keys import KEYS, SCHEMA


def schema() -> dict:
    """The JSON Schema document."""
    defs = {}
    for section, (allowed, required) in SCHEMA.items():
        described = KEYS.get(section, {})
        body = {"type": ["object", "null"] if section != "top" else "object",
                "properties": {k: described.get(k, {}) for k in sorted(allowed)},
                "additionalProperties": False}
        if required:
            body["required"] = sorted(required)
        defs[section] = body
    top = defs.pop("top")
    top["type"] = "object"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "vpclab topology", "description": "A vpclab lab: VPCs, subnets, route tables, instances, "
                                                      "peerings and the reachability expected.",
            **top, "$defs": defs}
