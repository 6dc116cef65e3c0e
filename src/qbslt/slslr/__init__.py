"""SL-SLR (arXiv 2509.05188): self-supervised representation learning for isolated sign recognition.

Built from the abstract (every open choice: docs/model-choices.md, "SL-SLR"):

* :mod:`configuration_slslr` the ``slslr`` section of params.yaml, built and checked at DAG time;
* :mod:`clips`        isolated-sign clips cut at gloss boundaries, split by signer (recognition train/test);
* :mod:`isolated`     an isolated-sign dataset (paper profile) as a frame store and one clip per video;
* :mod:`informative`  per-frame weights of the informative parts of a clip (hand motion, hands in view);
* :mod:`augment`      the sign-specific augmentation (keeps the sign, perturbs the rest) and a generic one;
* :mod:`losses`       the free-negative loss (no negative pairs, BYOL-style) and the InfoNCE baseline;
* :mod:`modeling_slslr` the clip encoder (SSL-SSAW's temporal module), heads and the pre-training model;
* :mod:`protocols`    linear evaluation, semi-supervised fine-tuning, top-k accuracy;
* :mod:`run`          one seed: every method pre-trained on every dataset, every protocol (incl. transfer);
Table 10 from the runs: :mod:`qbslt.reports.table10`. The SL-SLR encoder as SSL-SSAW's stage 0:
:func:`qbslt.training.checkpoint.load_stage0`.
"""
