"""The teaching notebooks (notebooks/*.ipynb) run headless on both arches, and stay clean.

Each notebook is executed with nbclient in a real Jupyter kernel, once per arch: the
source of its `parameters` cell (papermill's tag) is replaced with `ARCH = "<arch>"`.
The notebooks assert key facts in their cells (a breakpoint's reason, the transparency
checker's verdict, a timer's virtual time ...), so a run is a test, not a smoke run.
A failure names the notebook, the arch and the failing cell with its traceback.

The files in the repository must carry no outputs and no execution counts (small diffs),
and notebooks/README.md must list every one of them.

nbformat, nbclient and ipykernel come with the `test` extra; without them these tests
fail (they are not skipped), so CI cannot pass while silently ignoring the notebooks.
"""
from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import pytest

from conftest import ARCHES

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = ("01_context_switch", "02_async_preemption", "03_scheduler_timeline",
            "04_netpoll_timers", "05_stack_growth", "06_real_go_runtime")
# Notebooks that build a Go fixture (tests/go) and so need the Go toolchain: skipped
# with the reason when `go` is missing, never silently passed.
NEEDS_GO = {"06_real_go_runtime"}
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
PARAMETERS = 'ARCH = "amd64"'
CELL_TIMEOUT = 120                       # seconds per cell (nbclient)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def need(module: str):
    """Import `module`, or fail (not skip) saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        pytest.fail(f"{module} is needed to test the notebooks ({e}); install the test extra: "
                    f"pip install -e '.[test]'", pytrace=False)


def load(path: Path):
    return need("nbformat").read(str(path), as_version=4)


def parameters_cells(nb) -> list:
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def test_the_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} >= set(EXPECTED), f"missing in {NB_DIR}: " \
        f"{sorted(set(EXPECTED) - {p.stem for p in NOTEBOOKS})}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_one_parameters_cell(path):
    nbformat = need("nbformat")
    nb = load(path)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; clear them before "
                       f"committing (jupyter nbconvert --clear-output --inplace {path.name})")
    params = parameters_cells(nb)
    assert len(params) == 1 and params[0].cell_type == "code", \
        f"{path.name}: exactly one code cell must be tagged `parameters`"
    assert params[0].source.strip() == PARAMETERS, f"{path.name}: the parameters cell must be exactly {PARAMETERS}"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code is params[0], f"{path.name}: the parameters cell must be the first code cell"


def test_readme_lists_every_notebook():
    readme = (NB_DIR / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in NOTEBOOKS if p.name not in readme]
    assert not missing, f"notebooks/README.md does not list {missing}"


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless(path, arch):
    if path.stem in NEEDS_GO and shutil.which("go") is None:
        pytest.skip(f"{path.name} builds a real Go binary: go not found: apt-get install golang-go")
    nbclient = need("nbclient")
    need("ipykernel")
    nb = load(path)
    for cell in parameters_cells(nb):
        cell.source = f'ARCH = "{arch}"'
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NB_DIR)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{path.name} [{arch}]: a cell failed\n{ANSI.sub('', str(e))}", pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{path.name} [{arch}]: {errors[0].get('ename')}: {errors[0].get('evalue')}"
