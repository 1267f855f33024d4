"""`vpclab import tencentcloud`: a topology from the JSON of the describe calls (saved by
`tccli`, or the raw API's `{"Response": ...}`), or read live through the SDK.

Read -> merge -> convert -> render -> validate:

- `snapshot`: every `*.json` file of each DIR (one DIR per account; a subfolder per region),
  recognised by content, parsed by the SDK's own model classes (`tencentcloud-sdk-python-vpc`
  and `-cvm`, the `tencentcloud` extra); the pages of one call merged, missing pages noted;
- `live`: the same calls through the SDK's clients, every page;
- `convert` and `filters`: ids resolved to names (`names`: sanitized, unique, deterministic),
  VPCs, subnets, route tables, peerings, instances, accounts, security groups, ACLs, NAT
  gateways, EIPs and the Internet range;
- `render`: YAML, each object with its cloud id in a comment, loaded by the ordinary loader.

Nothing is dropped silently: every object that cannot be carried is a note with its id and why,
for the CLI to print on stderr. The same snapshot imported twice gives the same bytes.
"""
from .importer import Result, from_dirs, from_pages
from .snapshot import Note

__all__ = ["from_dirs", "from_pages", "Result", "Note"]
