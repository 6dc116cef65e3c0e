"""Sigma (arXiv 2509.21223): skeleton-based pre-training for sign language understanding, built
from the abstract (docs/model-choices.md, "Sigma").

Modules: ``modeling_sigma`` (skeleton encoder, sign-aware visual encoder, text side), ``losses`` (the
pre-training objectives, named after the abstract's terms), ``data`` (keypoint batches), ``run``
(pre-training + downstream gloss-free translation of every variant of one dataset and seed).
Table 9 is rendered by :mod:`qbslt.reports.table9`. SigmaConfig and the checks of the ``sigma:``
section of params.yaml and its variants live in :mod:`qbslt.sigma.configuration_sigma`
(:class:`qbslt.experiment.Experiment` checks them at DAG time).
"""
