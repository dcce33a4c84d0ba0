"""The NumPy reference engine must import without torch, so it runs (and teaches) anywhere."""

import subprocess
import sys
from pathlib import Path

CHECK = "import rnnlab.reference, sys; assert 'torch' not in sys.modules, 'rnnlab.reference imported torch'"


def test_importing_the_reference_engine_does_not_import_torch():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
