"""``python -m mibench.cli``: the same as the ``mibench`` command."""

import sys

from . import main

sys.exit(main())
