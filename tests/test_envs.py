"""The conda environments for --sdm conda pin exactly what pyproject.toml pins."""

import re
import tomllib

import yaml

from conftest import ROOT


def pins(requirements):
    out = {}
    for req in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", req.strip())
        if match:
            out[match.group(1).lower()] = match.group(2)
    return out


def test_env_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = pins(project["dependencies"])
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for path in envs:
        env = yaml.safe_load(path.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        for name, version in pins(pip).items():
            assert wanted.get(name) == version, f"{path.name}: {name}=={version} but pyproject pins {wanted.get(name)}"
