"""Write requirements.lock: every distribution the project installs, pinned, for Linux x86_64 / Python 3.11.

    python .ci/lock.py            # re-lock after changing dependencies in pyproject.toml (make lock)
    python .ci/lock.py --check    # exit 1 if the lock was made from other dependencies than pyproject's

`make install`, `.ci/run` (through make) and the Dockerfile install with `-c requirements.lock`, so a
machine, CI and the image get the same versions. The lock's header holds a digest of pyproject.toml's
dependency lists; the check (also a test: forecast_assets_tests/deploy/test_lock.py) compares it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
EXTRAS = ("local", "test")
DIGEST_PREFIX = "# pyproject-dependencies-sha256: "


def dependencies_digest(pyproject: Path = REPO / "pyproject.toml") -> str:
    """sha256 of the project's dependency lists (runtime and extras), as canonical JSON."""
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = {
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python", ""),
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def locked_digest(lock: Path = LOCK) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


def write_lock() -> None:
    command = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "compile",
        "pyproject.toml",
        *(f"--extra={e}" for e in EXTRAS),
        "--python-version=3.11",
        "--python-platform=x86_64-unknown-linux-gnu",
        "--no-header",
        "--quiet",
    ]
    pinned = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    header = (
        "# Pinned versions of every distribution the project installs (Linux x86_64, Python 3.11).\n"
        "# Made by `make lock` (.ci/lock.py) from pyproject.toml; used as `pip install -c requirements.lock`.\n"
        f"{DIGEST_PREFIX}{dependencies_digest()}\n"
    )
    LOCK.write_text(header + pinned)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if locked_digest() != dependencies_digest():
            print(f"{LOCK.name} is stale: pyproject.toml's dependencies changed since it was made. Run `make lock`.")
            return 1
        return 0
    write_lock()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
