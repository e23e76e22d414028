"""``python -m edgeprune.cli``: the command line lives in :mod:`edgeprune.commands`."""

import sys

from edgeprune.commands.main import main

if __name__ == "__main__":
    sys.exit(main())
