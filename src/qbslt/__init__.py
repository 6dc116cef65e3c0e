"""qbslt: a reproducible pipeline for SSL-SSAW question-based sign language translation."""

from qbslt.numerics import pin_environment

__version__ = "0.1.0"

# Before anything imports torch: the same CPU kernels on every machine (qbslt.numerics).
pin_environment()
