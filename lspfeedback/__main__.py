import sys

from lspfeedback._cli import main

sys.exit(main())
