"""The Go fixtures of tests/go (hello, preempt, pipe, fanin, nilpanic), found in
their cache or built there, for the notebook and the benchmark (the tests have
their own fixture, tests/test_gobinaries.py, with the same rules).

The binaries are never committed: tests/go/build.sh builds them with
CGO_ENABLED=0 for linux/amd64 and linux/arm64 into
$GOSCHED_GO_CACHE/<go version>/<arch>/<name>, else ~/.cache/gosched-emu/go/...,
when one is missing or older than its source.  Without `go` on PATH this says so
(GoNotFound), never silently.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

GO_MISSING = "go not found: apt-get install golang-go (the Go fixtures are built from tests/go/*/main.go)"


class GoNotFound(RuntimeError):
    """No Go toolchain to build the fixtures with."""


def cache_root() -> Path:
    env = os.environ.get("GOSCHED_GO_CACHE")
    if env:
        return Path(env)
    home = Path.home() / ".cache" / "gosched-emu" / "go"
    try:
        home.mkdir(parents=True, exist_ok=True)
        return home
    except OSError:
        return Path(tempfile.gettempdir()) / "gosched-emu-go"


def go_dir(start: Path | None = None) -> Path:
    """tests/go of this checkout (searched upwards from `start`, then from this file)."""
    for base in ([start] if start else []) + [Path(__file__).resolve()]:
        for p in (base, *base.parents):
            if (p / "tests" / "go" / "build.sh").is_file():
                return p / "tests" / "go"
    raise FileNotFoundError("tests/go/build.sh not found: run from a checkout of gosched-emu")


def fixture(name: str, arch: str, start: Path | None = None) -> Path:
    """The path of fixture `name` built for `arch`, building every fixture if needed."""
    go = shutil.which("go")
    if go is None:
        raise GoNotFound(GO_MISSING)
    here = go_dir(start)
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    out = cache_root() / version
    binary = out / arch / name
    newest = max(p.stat().st_mtime for p in [here / "build.sh", *here.glob("*/main.go")])
    if not (binary.exists() and binary.stat().st_mtime >= newest):
        r = subprocess.run(["bash", str(here / "build.sh"), str(cache_root())], capture_output=True,
                           text=True, timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"tests/go/build.sh failed:\n{r.stderr}")
    if not binary.exists():
        raise FileNotFoundError(f"{binary}: no fixture {name!r} in tests/go")
    return binary
