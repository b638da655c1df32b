import sys

from inspection.cli import main

sys.exit(main())
