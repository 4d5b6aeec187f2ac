"""``python -m deblurcore``: the same command line as the ``deblurcore`` script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
