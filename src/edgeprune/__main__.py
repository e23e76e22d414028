"""``python -m edgeprune``."""

import sys

from edgeprune.commands.main import main

sys.exit(main())
