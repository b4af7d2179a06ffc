"""``python -m hftlogging.tools.bench``: the same as ``hftlogging bench``."""

from __future__ import annotations

import sys

from hftlogging.tools.bench.runner import main

sys.exit(main())
