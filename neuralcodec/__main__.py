"""``python -m neuralcodec``: the console script."""
import sys

from .cli import main

sys.exit(main())
