"""The lock files agree with pyproject.toml and with each other.

`make install` and CI install requirements.lock, the Dockerfile requirements-runtime.lock; both come
from `make lock`. A dependency edited in pyproject.toml without `make lock` would otherwise go unnoticed
until a fresh machine installed something else than the developer tested.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _pins(name: str) -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in PIN.findall((ROOT / name).read_text())}


def _requirements(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    specs = list(project["dependencies"]) + list(PYPROJECT["dependency-groups"]["build"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


def _check(requirements: list[Requirement], pins: dict[str, str]) -> None:
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in the lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement}: run `make lock`"
        )


def test_the_lock_pins_every_dependency_within_its_bounds():
    _check(_requirements("s3", "test"), _pins("requirements.lock"))


def test_the_runtime_lock_has_the_same_pins_without_the_test_tools():
    full, runtime = _pins("requirements.lock"), _pins("requirements-runtime.lock")
    _check(_requirements("s3"), runtime)
    assert {name: full.get(name) for name in runtime} == runtime
    test_tools = {canonicalize_name(r.name) for r in _requirements("test")} - {
        canonicalize_name(r.name) for r in _requirements("s3")
    }
    assert not test_tools & set(runtime), "test tools belong in requirements.lock only"


def test_every_dependency_has_an_upper_bound():
    for requirement in _requirements("s3", "test"):
        operators = {spec.operator for spec in requirement.specifier}
        assert operators & {"<", "<=", "==", "~="}, f"{requirement} has no upper bound"


def test_kombu_is_pinned_because_the_embedded_broker_overrides_a_private_method():
    (kombu,) = [r for r in _requirements() if r.name == "kombu"]
    assert [spec.operator for spec in kombu.specifier] == ["=="]
