"""The conda env files of the rules pin the same versions as pyproject.toml (dependencies and extras)."""

import re
import tomllib

import yaml

from conftest import REPO


def _pins(requirements) -> dict[str, str]:
    pins = {}
    for req in requirements:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", req.strip())
        pins[match.group(1).lower().replace("_", "-")] = match.group(2).replace(" ", "")
    return pins


def _project_pins() -> dict[str, str]:
    """Pins of the dependencies and of the optional extras (an extra naming the project itself skipped)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in project.get("optional-dependencies", {}).values() for r in reqs
              if not r.startswith(project["name"] + "[")]
    pins = _pins(extras)
    pins.update(_pins(project["dependencies"]))
    return pins


def test_every_env_pin_agrees_with_pyproject():
    project = _project_pins()
    env_files = sorted((REPO / "workflow" / "envs").glob("*.yaml"))
    assert env_files
    for env_file in env_files:
        env = yaml.safe_load(env_file.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        for name, spec in _pins(pip).items():
            assert name in project, f"{env_file.name}: {name} is not a dependency (or extra) in pyproject.toml"
            assert spec == project[name], f"{env_file.name}: {name}{spec} but pyproject.toml has {name}{project[name]}"


def test_every_rule_has_a_conda_env_and_a_log():
    checked = 0
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for block in re.split(r"^rule ", text, flags=re.M)[1:]:
            name = block.split(":")[0]
            if "shell:" in block:
                assert "conda:" in block, f"{smk.name}: rule {name} has no conda env"
                assert "log:" in block, f"{smk.name}: rule {name} has no log"
                checked += 1
    assert checked >= 10
