"""The ``edgeprune`` command line: one module per command, shared flags from :mod:`edgeprune.commands.flags`.

Each command module exposes ``HELP``, ``FLAGS`` (the shared flag groups it takes), ``add_arguments(parser)``
for its own flags and ``run(args) -> int``; :mod:`edgeprune.commands.main` wires them up.
"""

COMMANDS: dict[str, str] = {
    "deploy": "edgeprune.commands.deploy",
    "analyze": "edgeprune.commands.analyze",
    "sensitivity": "edgeprune.commands.sensitivity",
    "plan": "edgeprune.commands.plan",
    "prune": "edgeprune.commands.prune",
    "finetune": "edgeprune.commands.finetune",
    "export": "edgeprune.commands.export",
    "bench": "edgeprune.commands.bench",
    "compare": "edgeprune.commands.compare",
}
