"""``python -m workflow_lib`` is the ``alma-imaging`` command (see :mod:`workflow_lib.cli`)."""

import sys

from .cli import main

sys.exit(main())
