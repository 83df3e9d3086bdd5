"""Entry point for ``python -m fieldguide``."""

import sys

from fieldguide.cli import main

sys.exit(main())
