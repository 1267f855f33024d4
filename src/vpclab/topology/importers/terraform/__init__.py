"""`vpclab import terraform`: a topology from `terraform show -json` (a plan or a state)
written for the tencentcloud provider.

Read -> resolve -> render -> validate:

- every managed resource instance is read from `planned_values` (a plan) or `values`
  (a state), root module and `child_modules`, with its address (`count`/`for_each`
  indexes and module paths included);
- links (a subnet's VPC, a route's table and peering, ...) are resolved through the
  configuration's `expressions.<attr>.references`, since ids are unknown before
  apply; through `var.` (the module call's argument) and `module.X.Y` (the module's
  output) too. A state has known ids: a link is then found by its id;
- the topology is rendered as YAML, each object with a comment naming its Terraform
  address, and loaded by the ordinary loader: a broken cloud rule is reported with
  the address of the resource that broke it (`ImportInvalid`), nothing is written.

Modules: `plan` reads the file, resolves links and names objects from their addresses;
`accounts` puts each VPC in its provider configuration's account; `convert` builds VPCs,
subnets, tables, peerings, routes and instances; `filters` adds security groups, ACLs, EIPs
and NAT gateways; `render` writes the YAML and validates it.

Nothing is dropped silently: resources vpclab does not model, rules and attributes it cannot
carry (an IPv6 rule, an EIP on a load balancer), and links that cannot be resolved are all
returned as notes with their address, for the CLI to print on stderr.
"""
from .convert import convert
from .plan import Note, Result, lab_name, read

__all__ = ["convert", "read", "lab_name", "Note", "Result"]
