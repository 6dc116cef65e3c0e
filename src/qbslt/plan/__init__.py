"""``qbslt plan``: what a Snakemake target costs before it runs (see :mod:`qbslt.plan.estimate`)."""

from qbslt.plan.estimate import DEFAULT_GPU_TFLOPS, DEFAULT_MFU, plan_targets

__all__ = ["DEFAULT_GPU_TFLOPS", "DEFAULT_MFU", "plan_targets"]
