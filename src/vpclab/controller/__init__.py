"""The use cases, one module each: static (validate, explain), build (up), teardown (down,
cleanup), operate (the table of live operations), status (status, ls, events), probing
(probe, matrix, test) with targets, verdicts and attribution, usage, and tools (exec,
doctor). Import the module you need (`from vpclab.controller import build`); nothing is
re-exported here.
"""
