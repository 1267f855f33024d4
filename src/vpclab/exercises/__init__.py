"""Exercises (`vpclab lab ...`): broken labs to fix, graded by a declarative check.

`catalog` finds the exercises under `lab/NN-*/` and reads each `check.yaml`
(title, task, start topology, items with hints, a reference solution and a
plausible wrong fix); `grader` evaluates the items against a live lab with the
controller's own probes, routes, peerings and cloud rules; `session` starts,
resets and lists exercise labs and keeps the hint state in the lab's store.
"""
