"""``qbslt plan``: what a Snakemake target costs before it runs: jobs per rule, disk, GPU-hours.

* :mod:`qbslt.plan.dry_run` -- the jobs, from a Snakemake dry run of the target (the source of truth);
* :mod:`qbslt.plan.figures` -- the measured or assumed figures (``reports/plan_figures.yaml``, each
  with its source);
* :mod:`qbslt.plan.estimate` -- disk and GPU-hours of those jobs (estimates, marked ``~``);
* :mod:`qbslt.plan.render` -- the markdown.
"""

from __future__ import annotations

from pathlib import Path

from qbslt import config as qconfig
from qbslt.errors import QbsltError
from qbslt.plan.dry_run import dry_run
from qbslt.plan.estimate import Planner, measure_flops
from qbslt.plan.figures import DEFAULT_GPU_TFLOPS, DEFAULT_MFU
from qbslt.plan.render import render


def plan_targets(params: Path, profile: str | None, targets: list[str], snakefile: Path = Path("Snakefile"),
                 gpu_tflops: float = DEFAULT_GPU_TFLOPS, mfu: float = DEFAULT_MFU, measure: bool = False,
                 data_dir: Path = Path("data")) -> str:
    """The plan of ``targets`` (Snakemake targets or rule names) under ``profile``, as markdown."""
    if gpu_tflops <= 0 or not 0 < mfu <= 1:
        raise QbsltError(f"--gpu-tflops must be > 0 and --mfu in (0, 1] (got {gpu_tflops}, {mfu})")
    tree = qconfig.load(params, profile)
    profile = tree["profile"]
    runs = {t: dry_run(t, profile, Path(params), Path(snakefile)) for t in targets}
    flops = None
    if measure:
        if any(qconfig.variant_config(tree, v)["model"]["freeze_backbone"] for d in tree["data"]["datasets"]
               for v in qconfig.dataset_variants(tree, d)):
            raise QbsltError(f"--measure-flops counts models that train their backbone on frames (the paper "
                             f"profile); profile {profile} has frozen-backbone variants")
        flops = measure_flops(tree, [j for jobs in runs.values() for j in jobs], Path(params), profile)
    planner = Planner(tree, data_dir, flops)
    return render([planner.plan(t, jobs) for t, jobs in runs.items()], profile, Path(params), gpu_tflops, mfu)


__all__ = ["DEFAULT_GPU_TFLOPS", "DEFAULT_MFU", "plan_targets"]
