import sys

from qbslt.cli import main

sys.exit(main())
