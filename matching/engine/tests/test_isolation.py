"""The engine is a pure library (no Django)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]  # .../matching/engine/tests -> repo root


def _import_in_fresh_interpreter(modules: str) -> subprocess.CompletedProcess[str]:
    """Import `modules` in a new interpreter, then assert that no django module was loaded."""
    code = (
        f"import {modules}; import sys; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_engine_imports_without_django() -> None:
    done = _import_in_fresh_interpreter("matching.engine")
    assert done.returncode == 0, done.stderr


def test_import_check_can_fail() -> None:
    """The same probe fails when django is imported, so the test above is not vacuous."""
    done = _import_in_fresh_interpreter("matching.engine, django")
    assert done.returncode != 0


def test_the_compiled_engine_is_built_where_a_compiler_is() -> None:
    """`make test` (scripts/bootstrap.sh) compiles book.py with mypyc when it can; the engine
    tests then run against both implementations."""
    import shutil
    import sysconfig

    from matching.engine import ENGINE_IMPL, IMPLEMENTATIONS

    headers = Path(sysconfig.get_paths()["include"], "Python.h").exists()
    if (shutil.which("cc") or shutil.which("gcc")) and headers:
        assert "compiled" in IMPLEMENTATIONS, "run scripts/build_engine.py (make test does)"
        assert ENGINE_IMPL == "compiled"
    assert "python" in IMPLEMENTATIONS
