"""Every notebook in notebooks/ runs headless through nbclient on the Finch kernel, as CI runs them:
each cell under a time limit, in the notebook's folder, and no cell may fail. Then the re-executed
outputs are compared with the committed ones: every loss, metric, count and parameter number must be
identical; only times, speeds and memory readings may differ (notebook_outputs.py knows which)."""
import copy
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from notebook_outputs import differences

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.kernelspec.name == "finch"
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells, f"{path.name} has no code cells"
    committed = copy.deepcopy(notebook.cells)
    NotebookClient(notebook, kernel_name="finch", timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    for index, cell in enumerate(code_cells):
        errors = [output for output in cell.outputs if output.output_type == "error"]
        assert not errors, f"{path.name} cell {index + 1}: {errors[0].get('evalue')}"
        assert cell.execution_count is not None
    found = differences(committed, notebook.cells, str(ROOT), path.name)
    assert not found, "re-executed outputs differ from the committed ones:\n" + "\n".join(found)
