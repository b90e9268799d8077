import sys

from lspfeedback.cli import main

sys.exit(main())
