"""Load, validate and resolve ``params.yaml``.

The resolved config is the base tree with ``overrides.<profile>`` merged on top. Validation
runs twice: the raw file (so a typo inside ``overrides`` is caught with its path too) and the
merged tree. Unknown keys always fail: the schema sets ``additionalProperties: false`` and we
never fill defaults, so what runs is exactly what the file says. Every number must be finite (the
schema's ``number`` takes .inf and .nan), a Hub revision (``model.mbart_revision`` /
``model.bert_revision``) needs its path, and the experiment matrix must render at least one of
Tables 1-8. Under Snakemake, :func:`resolve_layers` names the config layer (params.yaml, a
--configfile, the command-line --config) that an error comes from.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from qbslt.errors import ConfigError
from qbslt.model.configuration import PRETRAINED_REVISIONS
from qbslt.profiles import PROFILE_NAMES

# Shipped inside the package (importlib.resources), so a non-editable install validates too.
SCHEMA = resources.files("qbslt") / "schemas" / "params.schema.yaml"
# The report tables' layout: which rows each table needs (here, so that a matrix that renders no
# table fails validation; qbslt.reports.layout reads the rest).
LAYOUT = resources.files("qbslt") / "reports" / "layout.yaml"
# The reference systems (not trained) the DAG runs on every dataset (qbslt.training.reference_runs).
REFERENCE_SYSTEMS = ("copy_question", "retrieve")
# Where a Snakemake config layer set on the command line (--config KEY=VALUE) comes from, in messages.
CLI_CONFIG = "the command-line --config override"


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "<root>"


# libyaml's parser where PyYAML was built with it: the same objects, several times faster. The workflow
# reads the schema and the layout at every `snakemake` call, where the pure-Python parser was a third
# of a dry run's time.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=32)
def _parsed_yaml(path: str, stamp: tuple[int, int]) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_SAFE_LOADER)


def load_yaml_file(path: Path | str) -> Any:
    """The YAML file ``path`` as Python objects (a fresh copy: the caller may change it), parsed once
    per content stamp (size and modification time) however often the DAG's code asks for it."""
    path = Path(path).resolve()
    stat = path.stat()
    return copy.deepcopy(_parsed_yaml(str(path), (stat.st_mtime_ns, stat.st_size)))


def load_schema(path: Path | str | None = None) -> dict:
    return load_yaml_file(path or SCHEMA)


class _UniqueKeyLoader(_SAFE_LOADER):
    """yaml.SafeLoader that refuses a key repeated within one mapping: PyYAML (and so Snakemake's
    config loading) silently keeps the second, and an error then names a key the first block had."""

    def construct_mapping(self, node, deep=False):
        first_line: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden by design
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                seen = first_line.setdefault(key, line)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if seen != line:
                raise _DuplicateKey(key, seen, line)
        return super().construct_mapping(node, deep)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first: int, second: int):
        super().__init__(key, first, second)
        self.key, self.first, self.second = key, first, second


def read_yaml(path: Path | str):
    """The YAML file ``path`` as Python objects; ConfigError naming the file, key and both lines of
    a repeated key, or the file and YAML's own message of a syntax error."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_UniqueKeyLoader)
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}:{exc.second}: key '{exc.key}' appears twice in one mapping (lines {exc.first} "
                          f"and {exc.second}); YAML would keep only the second: merge them") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def validate(tree: dict, schema: dict | None = None, source: str = "params.yaml") -> None:
    """Raise ConfigError naming the key path of the first (deepest) schema violation."""
    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(tree), key=lambda e: (-len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return
    # A property that fails inside an allOf counts as "unevaluated" too: report its own error instead.
    errors = [e for e in errors if e.validator != "unevaluatedProperties"] or errors
    err = jsonschema.exceptions.best_match(errors)
    path = list(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        key = _key_path(path + extra[:1])
        raise ConfigError(f"{source}: unknown key '{key}' (allowed here: "
                          f"{', '.join(sorted(err.schema.get('properties', {})))})")
    if err.validator == "unevaluatedProperties":
        extra = re.findall(r"'([^']+)'", err.message.split("(", 1)[-1])
        raise ConfigError(f"{source}: unknown key '{_key_path(path + extra[:1])}'")
    if err.validator == "required":
        raise ConfigError(f"{source}: missing key under '{_key_path(path)}': {err.message}")
    raise ConfigError(f"{source}: key '{_key_path(path)}': {err.message}{_number_as_text_hint(err)}")


def _number_as_text_hint(err) -> str:
    """YAML 1.1 (PyYAML, Snakemake) reads ``1e-3`` as text, not as a number: say so where a number was expected."""
    if err.validator != "type" or not isinstance(err.instance, str) or "number" not in str(err.validator_value):
        return ""
    try:
        float(err.instance)
    except ValueError:
        return ""
    return f" (YAML reads {err.instance} as text: write it with a dot and a signed exponent, e.g. 1.0e-3)"


def _non_finite(tree: Any, path: tuple = ()) -> tuple[tuple, float] | None:
    """(key path, value) of the first inf or NaN number of ``tree``, else None."""
    if isinstance(tree, float) and not math.isfinite(tree):
        return path, tree
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        if (found := _non_finite(value, path + (key,))) is not None:
            return found
    return None


def check_finite(tree: Any, source: str = "params.yaml") -> None:
    """ConfigError naming the key path of an inf or NaN anywhere in ``tree``: JSON Schema's ``number``
    accepts YAML's .inf and .nan, and NaN passes every minimum/maximum (every comparison is false)."""
    found = _non_finite(tree)
    if found is not None:
        path, value = found
        spelled = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
        raise ConfigError(f"{source}: key '{_key_path(path)}': {spelled} is not a finite number")


# Mappings whose keys are names chosen by the user (variant -> seeds): a profile may name any of them.
FREE_FORM_KEYS = {("experiment", "variant_seeds")}


def _check_override_keys(base: Any, override: Any, path: list) -> None:
    if not isinstance(override, dict) or tuple(path[2:]) in FREE_FORM_KEYS:
        return
    if not isinstance(base, dict):
        raise ConfigError(f"key '{_key_path(path)}' is not a mapping in the base config")
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"unknown key '{_key_path(path + [key])}' "
                              f"(no such key '{_key_path(path[2:] + [key])}' in the base config)")
        _check_override_keys(base[key], value, path + [key])


def typed_cli_config(tree: Any) -> Any:
    """A ``--config`` layer with its nested values typed as params.yaml types them. Snakemake parses
    ``--config 'train={"stage2": {"epochs": 3}}'`` with YAML's BaseLoader, so every scalar inside a
    mapping or list arrives as text ('3'); each is read again as YAML reads it in a file."""
    if isinstance(tree, dict):
        return {key: typed_cli_config(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [typed_cli_config(value) for value in tree]
    if isinstance(tree, str):
        try:
            value = yaml.safe_load(tree)
        except yaml.YAMLError:
            return tree
        return tree if isinstance(value, (dict, list)) else value
    return tree


def merge_layers(layers: list[tuple[str, dict]]) -> dict:
    """The config the (source, mapping) layers make, merged in order (as Snakemake merges them)."""
    merged: dict = {}
    for _, layer in layers:
        merged = deep_merge(merged, layer or {})
    return merged


def deep_merge(base: dict, override: dict) -> dict:
    """Return a copy of ``base`` with ``override`` merged in (mappings recursively, the rest replaced)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(raw: dict, profile: str | None = None, source: str = "params.yaml", check=None) -> dict:
    """Validate ``raw`` params and return the tree for ``profile`` (default: ``raw['profile']``).
    ``check(tree, source)``: the methods' own checks of the resolved tree (each variant's model config,
    each Sigma variant's settings: :meth:`qbslt.experiment.Experiment.check`), run last."""
    if profile is not None:
        raw = {**raw, "profile": profile}
    check_finite(raw, source)  # the raw tree: overrides and variants included, each with its own path
    schema = load_schema()
    validate(raw, schema, source)
    active = raw["profile"]
    base = {k: v for k, v in raw.items() if k != "overrides"}
    overrides = raw.get("overrides", {}).get(active, {}) or {}
    try:
        _check_override_keys(base, overrides, ["overrides", active])
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    merged = deep_merge(base, overrides)
    merged["overrides"] = raw.get("overrides", {})
    validate(merged, schema, source=f"{source} (profile {active})")
    _check_revisions(merged["model"], f"{source} (profile {active})")
    _check_lr_schedule(merged["train"]["stage2"], "train.stage2", source)
    _check_experiment(merged, schema, source)
    _check_sigma(merged, schema, source)
    _check_renders_a_table(merged, f"{source} (profile {active})")
    if check is not None:
        check(merged, source)
    return merged


def resolve_layers(tree: dict, layers: list[tuple[str, dict]], check=None) -> dict:
    """:func:`resolve` of ``tree``, the merge of ``layers`` ((source, mapping) pairs in merge order, as
    Snakemake merges params.yaml, --configfile files and --config); an error names the first layer
    whose merge over the ones before it shows that error, so a bad --config is not blamed on the file."""
    try:
        return resolve(tree, check=check)
    except ConfigError as exc:
        error = str(exc)
    # Every prefix under the final profile: an error of overrides.<profile> in the file, which a
    # `--config profile=P` only brings to light, is the file's.
    profile = tree.get("profile") if tree.get("profile") in PROFILE_NAMES else None
    merged: dict = {}
    for source, layer in layers:
        merged = deep_merge(merged, layer or {})
        try:
            resolve(merged, profile, check=check)
        except ConfigError as exc:
            if str(exc) == error:
                resolve(merged, profile, source=source, check=check)  # the same error, named after its layer
    raise ConfigError(error)


def run_matrix(tree: dict) -> dict[str, set[str]]:
    """dataset -> the variants and reference systems the experiment runs on it (each of data.datasets)."""
    return {d: set(dataset_variants(tree, d)) | set(REFERENCE_SYSTEMS) for d in tree["data"]["datasets"]}


def layout_entries(spec: dict, optional: bool = True) -> list[dict]:
    """The rows of a table of ``reports/layout.yaml``; ``optional=False``: not the rows marked ``optional``."""
    entries = spec.get("rows", []) + spec.get("measured", []) + spec.get("references", []) + spec.get("variants", [])
    return [e for e in entries if optional or not e.get("optional")]


def table_variants(spec: dict, optional: bool = True) -> set[str]:
    """Every variant (trained or reference system) a layout table shows; ``optional=False``: only the
    ones it needs (not the rows marked ``optional``, shown only when the experiment runs them)."""
    return {e["variant"] for e in layout_entries(spec, optional)}


def table_needs(layout_path: Path | None = None) -> list[tuple[int, str, set[str]]]:
    """(table number, dataset, variants it needs) of every table; Table 8 once per dataset it may use.
    A table is rendered when the experiment runs all its needs on its dataset."""
    layout = load_yaml_file(layout_path or LAYOUT) or {}
    needs = [(int(key.removeprefix("table")), spec["dataset"], table_variants(spec, optional=False))
             for key, spec in layout["tables"].items()]
    if layout.get("table8"):
        needs += [(8, ds, table_variants(layout["table8"])) for ds in layout["table8"]["datasets"]]
    return needs


def renderable_tables(runs: dict[str, set[str]], layout_path: Path | None = None) -> list[int]:
    """Numbers of the tables (1-8) whose every row the experiment runs: ``runs`` maps each dataset to
    the variants and reference systems run on it (:func:`run_matrix`)."""
    return sorted({number for number, ds, need in table_needs(layout_path) if need <= runs.get(ds, set())})


def _check_renders_a_table(tree: dict, source: str) -> None:
    """At least one of Tables 1-8 gets every row it needs: otherwise the whole matrix trains and only
    the final `tables` job fails."""
    runs = run_matrix(tree)
    gaps = [(len(need - runs.get(ds, set())), number, ds, sorted(need - runs.get(ds, set())))
            for number, ds, need in table_needs()]
    if any(count == 0 for count, *_ in gaps):
        return
    _, number, dataset, missing = min(gaps)
    where = (f"experiment.datasets.{dataset}" if dataset in runs
             else f"data.datasets, which does not list {dataset}")
    raise ConfigError(f"{source}: key 'experiment.datasets': the experiment renders none of Tables 1-8 (each needs "
                      f"every row it shows); the nearest, Table {number}, needs {', '.join(missing)} on {dataset} "
                      f"({where})")


def _check_revisions(model: dict, source: str) -> None:
    """A Hub revision pins a pretrained path: one set while its path is null is a leftover (a
    variant that nulls the path is caught by its model config, :class:`QBSLTConfig`)."""
    for path_key, revision_key in PRETRAINED_REVISIONS.items():
        if model[revision_key] is not None and not model[path_key]:
            raise ConfigError(f"{source}: key 'model.{revision_key}': set to {model[revision_key]!r} but "
                              f"model.{path_key} is null (a revision pins a Hub id; set the path or null the revision)")


def _check_experiment(tree: dict, schema: dict, source: str) -> None:
    """Every variant override names existing keys and yields a valid config; lists name variants."""
    variants = tree["experiment"]["variants"]
    for name, override in variants.items():
        override = dict(override)
        stage0 = override.pop("stage0", None)  # SL-SLR stage 0: a method name, not a model/train override
        if stage0 is not None and stage0 not in tree["slslr"]["methods"]:
            raise ConfigError(f"{source}: key 'experiment.variants.{name}.stage0': unknown SL-SLR method "
                              f"'{stage0}' (slslr.methods: {', '.join(tree['slslr']['methods'])})")
        try:
            _check_override_keys({"model": tree["model"], "train": tree["train"]}, override,
                                 ["experiment", "variants", name])
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        variant = deep_merge(tree, override)
        validate(variant, schema, source=f"{source} (variant {name})")
        _check_lr_schedule(variant["train"]["stage2"], f"experiment.variants.{name}.train.stage2", source)
    for name in tree["experiment"]["variant_seeds"]:
        if name not in variants:
            raise ConfigError(f"{source}: key 'experiment.variant_seeds.{name}': unknown variant '{name}' "
                              f"(defined: {', '.join(variants)})")
    for dataset, chosen in tree["experiment"]["datasets"].items():
        for name in ([] if chosen == "all" else chosen):
            if name not in variants:
                raise ConfigError(f"{source}: key 'experiment.datasets.{dataset}': unknown variant '{name}' "
                                  f"(defined: {', '.join(variants)})")


def _check_lr_schedule(stage2: dict, where: str, source: str) -> None:
    """Epochs after stage 2's decay (``extra_epochs``) train at a learning rate above 0 and only while dev
    improves, so they need a floor and early stopping; ``where``: the block's key path."""
    extra = stage2.get("extra_epochs") or 0
    if extra and not stage2.get("min_lr_ratio"):
        raise ConfigError(f"{source}: key '{where}.min_lr_ratio': needed above 0 with extra_epochs ({extra}): "
                          f"the epochs after the decay would train at learning rate 0")
    if extra and stage2.get("patience") is None:
        raise ConfigError(f"{source}: key '{where}.extra_epochs': {extra} needs early stopping "
                          f"(train.stage2.patience): they run only while dev improves")


def _sigma_base(tree: dict) -> dict:
    """The ``sigma`` section without ``variants``, ``run`` and ``data``: what every Sigma variant overrides."""
    return {k: v for k, v in tree["sigma"].items() if k not in ("variants", "run", "data")}


def sigma_run_variants(tree: dict) -> list[str]:
    """The Sigma variants the DAG runs (Table 9's rows): ``sigma.run`` (``all``: every ``sigma.variants``
    entry, in order)."""
    chosen = tree["sigma"]["run"]
    return list(tree["sigma"]["variants"]) if chosen == "all" else list(chosen)


def sigma_variant_config(tree: dict, name: str) -> dict:
    """Settings of Sigma variant ``name``: :func:`_sigma_base` with ``sigma.variants.<name>`` merged over it."""
    return deep_merge(_sigma_base(tree), tree["sigma"]["variants"][name])


def _check_sigma(tree: dict, schema: dict, source: str) -> None:
    """Every Sigma variant names existing keys and validates once merged (its consistency, e.g. no
    pre-training with every objective at 0, is Sigma's own check: qbslt.experiment.Experiment.check)."""
    base = _sigma_base(tree)
    for name in sigma_run_variants(tree):
        if name not in tree["sigma"]["variants"]:
            raise ConfigError(f"{source}: key 'sigma.run': unknown Sigma variant '{name}' "
                              f"(sigma.variants: {', '.join(tree['sigma']['variants'])})")
    for name, override in tree["sigma"]["variants"].items():
        try:
            _check_override_keys(base, override, ["sigma", "variants", name])
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        settings = sigma_variant_config(tree, name)
        validate({**tree, "sigma": {**tree["sigma"], **settings}}, schema, source=f"{source} (sigma variant {name})")


def dataset_variants(tree: dict, dataset: str) -> list[str]:
    """Variants the experiment runs on ``dataset`` (none if the dataset is not listed)."""
    chosen = tree["experiment"]["datasets"].get(dataset, [])
    return list(tree["experiment"]["variants"]) if chosen == "all" else list(chosen)


def variant_seeds(tree: dict, name: str) -> list[int]:
    """The seeds variant ``name`` runs: ``experiment.variant_seeds.<name>``, else ``experiment.seeds``."""
    return list(tree["experiment"]["variant_seeds"].get(name, tree["experiment"]["seeds"]))


# eval keys only the report reads: a change of them must not rerun (or re-hash) a training run.
REPORT_ONLY_EVAL_KEYS = ("bootstrap_samples",)


def variant_config(tree: dict, name: str) -> dict:
    """{'model', 'train', 'eval'} of variant ``name``: the base values with its overrides merged,
    exactly the slice of params.yaml a training run reads (no report-only keys)."""
    run_eval = {k: v for k, v in tree["eval"].items() if k not in REPORT_ONLY_EVAL_KEYS}
    base = {"model": tree["model"], "train": tree["train"], "eval": run_eval}
    return deep_merge(base, tree["experiment"]["variants"][name])


def load(path: Path | str = "params.yaml", profile: str | None = None, check=None) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return resolve(raw, profile, source=str(path), check=check)


def config_hash(tree: Any) -> str:
    """Stable short hash of a JSON-serialisable config subtree."""
    blob = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


STAGE2_ONLY_MODEL_KEYS = ("fusion", "inputs", "ssl", "skeleton", "ssl_weight", "ssl_reading", "sign_input")


def stage1_config(variant_cfg: dict) -> dict:
    """The part of a variant's config stage 1 depends on: variants that agree on it share stage 1."""
    model = {k: v for k, v in variant_cfg["model"].items() if k not in STAGE2_ONLY_MODEL_KEYS}
    train = {k: v for k, v in variant_cfg["train"].items() if k != "stage2"}
    stage0 = {"stage0": variant_cfg["stage0"]} if "stage0" in variant_cfg else {}  # only SL-SLR stage-0 variants
    return {"model": model, "train": train, **stage0}


def stage1_key(variant_cfg: dict) -> str:
    """Readable, collision-free name of a stage-1 run: backbone-textmodel-alignment-hash."""
    m = variant_cfg["model"]
    return f"{m['backbone']}-{m['text_model']}-{m['alignment']}-{config_hash(stage1_config(variant_cfg))[:8]}"
