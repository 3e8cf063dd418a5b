"""Entry point of the bundled `chorus` executable: the same as the `chorus` console script."""

import sys

from editor.cli import main

sys.exit(main())
