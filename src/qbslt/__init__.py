"""qbslt: a reproducible pipeline for SSL-SSAW question-based sign language translation."""

__version__ = "0.1.0"
