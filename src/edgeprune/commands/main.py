"""``edgeprune``: builds the parser from :data:`edgeprune.commands.COMMANDS` and is the one error boundary.

Known failure families become one line on stderr naming the culprit and exit 2: user errors
(:class:`EdgepruneError`), OS errors (missing files, permissions, a full disk), errors raised inside the user's
own code (their file:line). Anything else is an internal error: one line saying so and where the traceback was
written. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
import sys
import sysconfig
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edgeprune.commands import COMMANDS
from edgeprune.commands.flags import Parser, parents
from edgeprune.errors import EdgepruneError

EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 3, 130, 143


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that cleanup runs (staging folders, temp files, locks)."""


_MAIN_PID = os.getpid()


def _on_sigterm(signum: int, frame: object) -> None:
    if os.getpid() != _MAIN_PID:  # a forked worker (DataLoader) inherited the handler: die the default way
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


def one_line(text: str) -> str:
    """Errors are one line: line breaks inside a message (a tool's output quoted in it) are joined."""
    return " | ".join(line.strip() for line in str(text).strip().splitlines() if line.strip())


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named on the command line, if any (the first known name)."""
    return next((a for a in argv if a in COMMANDS), None)


def build_parser(argv: Sequence[str] = ()) -> Parser:
    """The top-level parser. Only the chosen command's module is imported (torch stays unloaded for the others);
    with no command, every one is imported so the help can list them."""
    parser = Parser(prog="edgeprune", description="Structured pruning and verified edge deployment.")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    chosen = _chosen(argv)
    for name, module_name in COMMANDS.items():
        if chosen is not None and name != chosen:
            subs.add_parser(name, add_help=False)
            continue
        module = importlib.import_module(module_name)
        sub = subs.add_parser(name, help=module.HELP, description=module.HELP, parents=parents(*module.FLAGS))
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _apply_common(args: object) -> dict[str, str | None]:
    """Set the environment the common flags ask for; returns what to restore (main may run in-process)."""
    wanted = {
        "EDGEPRUNE_NO_PROGRESS": getattr(args, "quiet", False),
        "EDGEPRUNE_QUIET": getattr(args, "quiet", False),
        "EDGEPRUNE_VERBOSE": getattr(args, "verbose", False),
        "EDGEPRUNE_NO_CACHE": getattr(args, "no_cache", False),
    }
    saved = {name: os.environ.get(name) for name, on in wanted.items() if on}
    for name in saved:
        os.environ[name] = "1"
    return saved


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _os_error(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device{' writing ' + str(where) if where else ''}; free some space and rerun"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied: {where or exc.strerror}"
    reason = exc.strerror or str(exc)
    return f"{reason}: {where}" if where else reason


def _third_party(filename: str) -> bool:
    """True for a file of an installed package or of Python itself (not edgeprune's, not the user's code)."""
    path = os.path.realpath(filename)
    installed = ("purelib", "platlib", "stdlib", "platstdlib")
    roots = {os.path.realpath(sysconfig.get_paths()[k]) for k in installed}
    own = os.path.realpath(os.path.dirname(os.path.dirname(__file__)))
    return not path.startswith(own + os.sep) and any(path.startswith(root + os.sep) for root in roots)


@contextlib.contextmanager
def _third_party_warnings_hidden() -> Iterator[None]:
    """Warnings raised by installed packages (torch, converters) never reach the user's terminal, so an error line
    is the only line (``--verbose`` shows them); warnings from the user's own code still do."""
    if os.environ.get("EDGEPRUNE_VERBOSE"):
        yield
        return
    shown = warnings.showwarning

    def show(
        message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        if not _third_party(filename):
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def with_make_hint(message: str) -> str:
    """Under ``make deploy`` (which sets ``EDGEPRUNE_MAKE_FORCE``), a refusal asking for ``--force`` also says how
    to pass it through make."""
    hint = os.environ.get("EDGEPRUNE_MAKE_FORCE")
    if hint and "--force" in message:
        return f"{message} (from make: {hint})"
    return message


def _internal(command: str, exc: BaseException) -> str:
    from edgeprune.cache import cache_root

    folder = cache_root() / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        log.write_text("".join(traceback.format_exception(exc)))
    except OSError:
        log = Path("(could not write a log; rerun with --debug)")
    first = (str(exc).splitlines() or [""])[0][:200]
    return f"internal error ({type(exc).__name__}: {first}); traceback written to {log}; please report it"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edgeprune`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    saved = _apply_common(args)
    prefix = f"edgeprune {args.command}"
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an API caller's worker): leave signals alone
        previous = None
    try:
        with _third_party_warnings_hidden():
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"{prefix}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except EdgepruneError as exc:
        if args.debug:
            raise
        print(f"{prefix}: error: {one_line(with_make_hint(str(exc)))}", file=sys.stderr)
        return EXIT_USER
    except OSError as exc:
        if args.debug:
            raise
        print(f"{prefix}: error: {one_line(_os_error(exc))}", file=sys.stderr)
        return EXIT_USER
    except MemoryError:
        print(f"{prefix}: error: out of memory; try a smaller model, batch or input size", file=sys.stderr)
        return EXIT_USER
    except Exception as exc:  # the boundary: anything unexpected is reported, never a bare traceback
        if args.debug:
            raise
        print(f"{prefix}: {_internal(args.command, exc)}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        _restore(saved)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
