"""``edgeprune`` command line: maps flags to configs and calls the API, nothing else.

Each subcommand lives in its own module exposing ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them up. User errors (:class:`EdgepruneError`) are printed
as one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edgeprune.errors import EdgepruneError

SUBCOMMANDS: dict[str, str] = {
    "deploy": "edgeprune.pipeline_cli",
    "analyze": "edgeprune.graph.cli",
    "sensitivity": "edgeprune.sensitivity.cli",
    "plan": "edgeprune.planning.cli",
    "finetune": "edgeprune.finetune.cli",
    "export": "edgeprune.export.cli",
    "bench": "edgeprune.bench.cli",
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line, if any (the first known name)."""
    return next((a for a in argv if a in SUBCOMMANDS), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The top-level parser. Only the chosen subcommand's module is imported (torch stays unloaded for the
    others); with no subcommand, every available one is imported so the help can list them."""
    parser = argparse.ArgumentParser(prog="edgeprune", description="Structured pruning and verified edge deployment.")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen(argv)
    for name, module_name in SUBCOMMANDS.items():
        if chosen is not None and name != chosen:
            subs.add_parser(name)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # subcommand not built yet
            raise
        sub = subs.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edgeprune`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except EdgepruneError as exc:
        print(f"edgeprune {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgeprune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
