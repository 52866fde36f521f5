"""requirements.lock: made from pyproject.toml, used by make, CI and the image, and what this venv holds."""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"


def _lock_module():
    spec = importlib.util.spec_from_file_location("ci_lock", REPO / ".ci" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str) -> dict[str, str]:
    return {_norm(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", text, re.M)}


def test_the_lock_was_made_from_pyprojects_dependencies():
    lock = _lock_module()
    assert lock.locked_digest() == lock.dependencies_digest(), "requirements.lock is stale: run `make lock`"


def test_a_dependency_change_makes_the_lock_stale(tmp_path):
    lock = _lock_module()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        (REPO / "pyproject.toml").read_text().replace('"tabulate>=0.9",', '"tabulate>=0.9",\n    "rich",')
    )
    assert lock.dependencies_digest(pyproject) != lock.dependencies_digest()


def test_every_locked_distribution_installed_here_has_its_locked_version():
    """What make / CI installed is the lock (not whatever the index had that day)."""
    pins = _pins(LOCK.read_text())
    installed = {_norm(d.metadata["Name"]): d.version for d in distributions()}
    for name in ("dagster", "pandas", "pymongo", "pandera", "polars", "secantusdb"):
        assert name in pins, f"{name} is not locked"
    wrong = {
        name: (version, installed[name])
        for name, version in pins.items()
        if name in installed and installed[name] != version and name not in ("pip", "setuptools")
    }
    assert not wrong, f"installed versions differ from requirements.lock (locked, installed): {wrong}"


def test_make_and_the_image_install_with_the_lock():
    makefile = (REPO / "Makefile").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"pip install .*-c requirements\.lock -e \"\.\[local,test\]\"", makefile)
    assert "$(BIN)/.installed: pyproject.toml requirements.lock" in makefile
    assert re.search(r"COPY pyproject\.toml requirements\.lock", dockerfile)
    assert re.search(r"pip install -c requirements\.lock \.", dockerfile)
    assert "make test" in (REPO / ".ci" / "run").read_text()


#: Where a runtime dependency is used when the package does not import it: (file, what it says).
USED_OUTSIDE_IMPORTS = {
    "dagster-postgres": ("dagster.yaml", "  postgres:"),  # the production instance's storage
    "dagster-aws": ("dagster.yaml", "module: dagster_aws.ecs"),  # EcsRunLauncher, S3ComputeLogManager
    "dagster-webserver": ("Dockerfile", '"dagster-webserver"'),  # the image's CMD
}
#: Distribution name -> the module it is imported as, where they differ.
MODULE_OF = {"pillow": "PIL", "pyyaml": "yaml"}


def test_every_runtime_dependency_is_used():
    import tomllib

    package = "\n".join(p.read_text() for p in (REPO / "forecast_assets").rglob("*.py"))
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    unused = []
    for requirement in dependencies:
        name = _norm(re.match(r"[A-Za-z0-9_.\-]+", requirement)[0])
        module = MODULE_OF.get(name, name.replace("-", "_"))
        imported = re.search(rf"^\s*(import|from) {module}\b", package, re.M)
        where, marker = USED_OUTSIDE_IMPORTS.get(name, (None, None))
        used_there = where is not None and marker in (REPO / where).read_text()
        if not imported and not used_there:
            unused.append(name)
    assert not unused, f"declared in pyproject.toml but never used: {unused}"
