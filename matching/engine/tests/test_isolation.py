"""The engine is a pure library (no Django)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]  # .../matching/engine/tests -> repo root


def test_engine_imports_without_django() -> None:
    code = (
        "import matching.engine; import sys; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_import_check_can_fail() -> None:
    """The same probe fails when django is imported, so the test above is not vacuous."""
    code = (
        "import matching.engine, django; import sys; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
