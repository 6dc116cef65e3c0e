"""``qbslt plan``: what a Snakemake target costs before it runs: jobs per rule, disk, GPU-hours.

* :mod:`qbslt.plan.dry_run` -- the jobs, from a Snakemake dry run of the target (the source of truth);
* :mod:`qbslt.plan.figures` -- the measured or assumed figures (``reports/plan_figures.yaml``, each
  with its source);
* :mod:`qbslt.plan.estimate` -- disk and GPU-hours of those jobs (estimates, marked ``~``);
* :mod:`qbslt.plan.render` -- the markdown.
"""

from __future__ import annotations

from pathlib import Path

from qbslt.errors import QbsltError
from qbslt.plan.figures import DEFAULT_GPU_TFLOPS, DEFAULT_MFU

# The package imports only its figures, so that building the CLI's parser (`qbslt --help`, which reads
# the defaults) does not load the experiment plan; plan_targets loads the rest.


def plan_targets(params: Path, profile: str | None, targets: list[str], snakefile: Path = Path("Snakefile"),
                 gpu_tflops: float = DEFAULT_GPU_TFLOPS, mfu: float = DEFAULT_MFU, measure: bool = False,
                 data_dir: Path = Path("data")) -> str:
    """The plan of ``targets`` (Snakemake targets or rule names) under ``profile``, as markdown."""
    from qbslt.experiment import Experiment
    from qbslt.plan.dry_run import DryRun, dry_run
    from qbslt.plan.estimate import Planner, measure_flops
    from qbslt.plan.render import render

    if gpu_tflops <= 0 or not 0 < mfu <= 1:
        raise QbsltError(f"--gpu-tflops must be > 0 and --mfu in (0, 1] (got {gpu_tflops}, {mfu})")
    params, snakefile = Path(params), Path(snakefile)
    # Snakemake (importing itself, reading the workflow, building the DAG) takes most of the time: with
    # the profile known, the first target's dry run starts now and runs while the config loads. A
    # missing file is left to the config's and the dry run's own messages, in that order.
    early = (DryRun(targets[0], profile, params, snakefile)
             if targets and profile is not None and params.is_file() and snakefile.is_file() else None)
    try:
        experiment = Experiment.load(params, profile)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    profile = experiment.profile.name
    if early is not None and early.profile != profile:  # not expected: load() keeps the override
        early.cancel()
        early = None
    runs = {t: early.jobs() if early is not None and i == 0 else dry_run(t, profile, params, snakefile)
            for i, t in enumerate(targets)}
    flops = None
    if measure:
        if any(cfg["model"]["freeze_backbone"] for cfg in experiment.variants.values()):
            raise QbsltError(f"--measure-flops counts models that train their backbone on frames (the paper "
                             f"profile); profile {profile} has frozen-backbone variants")
        flops = measure_flops(experiment, [j for jobs in runs.values() for j in jobs], params)
    planner = Planner(experiment, data_dir, flops)
    return render([planner.plan(t, jobs) for t, jobs in runs.items()], profile, params, gpu_tflops, mfu)


__all__ = ["DEFAULT_GPU_TFLOPS", "DEFAULT_MFU", "plan_targets"]
