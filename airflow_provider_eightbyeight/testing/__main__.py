"""``python -m airflow_provider_eightbyeight.testing [options]`` starts the emulator; ``... add ...`` adds objects
to a running one (the same commands as ``eightbyeight-emulator``, see :mod:`.cli`).
"""

from __future__ import annotations

import sys

from airflow_provider_eightbyeight.testing.cli import main

if __name__ == "__main__":
    sys.exit(main())
