"""``python -m bench``: see bench/README.md."""

from __future__ import annotations

import sys

from bench.runner import main

sys.exit(main())
