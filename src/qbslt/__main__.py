import sys

# Through the preloaded server (qbslt.launcher): a job does not re-import torch and transformers.
from qbslt.launcher import main

sys.exit(main())
