"""A 200-cell soak of the installed Finch kernel (Tests/Kernel/soak.py --check): no failures, RSS growth
from cell 100 to 200 within 5 %, trivial cells' p99 within 20 ms. About 10 s; run through run.sh."""
import os
import subprocess
import sys

import pytest

MODELS = os.environ.get("FINCH_MODELS", os.path.expanduser("~/.cache/finch/models"))


@pytest.mark.skipif(not os.path.isfile(os.path.join(MODELS, "all-MiniLM-L6-v2", "config.json")),
                    reason=f"needs {MODELS}/all-MiniLM-L6-v2")
def test_soak_200_cells_meets_the_goals():
    soak = os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak.py")
    result = subprocess.run([sys.executable, soak, "--cells", "200", "--check"], capture_output=True, text=True, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
