"""``python -m hftlogging``: the same as the ``hftlogging`` command."""

from __future__ import annotations

import sys

from hftlogging.cli import main

sys.exit(main())
