"""Compile the matching engine's book (matching/engine/book.py) with mypyc, when possible.

Run by scripts/bootstrap.sh (so `make run`, `make test` and a fresh clone get it). Never fails
the setup: without a C compiler or the Python headers, or when mypyc fails, it says so and the
pure-Python engine is used (matching/engine/__init__.py picks the compiled book only if it was
built from the current book.py, by the SHA-256 of its source).

The compiled module is `matching.engine._cbook` (two git-ignored .so files beside book.py),
built from a copy of book.py in a scratch directory, so the pure module stays importable as
the tested fallback. Rebuilds only when book.py (or the mypy version) changed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "matching" / "engine"
STAMP = ENGINE / ".cbook-stamp"


def say(msg: str) -> None:
    print(f"\033[1;34m[setup]\033[0m {msg}", flush=True)


def source_sha256() -> str:
    return hashlib.sha256((ENGINE / "book.py").read_bytes()).hexdigest()


def compiler_ready() -> str | None:
    """None when a C compiler and Python.h are there, else what is missing."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not shutil.which(cc) and not shutil.which("cc") and not shutil.which("gcc"):
        return "no C compiler (apt-get install gcc)"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        return f"no Python headers ({include}; apt-get install python3-dev)"
    try:
        import mypy.version
    except ImportError:
        return "mypy (mypyc) is not installed"
    del mypy.version
    return None


def clean() -> None:
    for so in ENGINE.glob("_cbook*.so"):
        so.unlink()
    STAMP.unlink(missing_ok=True)


def main() -> int:
    import mypy.version

    digest = source_sha256()
    wanted = f"{digest} mypy {mypy.version.__version__} {sys.version.split()[0]}"
    if STAMP.exists() and STAMP.read_text() == wanted and list(ENGINE.glob("_cbook*.so")):
        return 0
    missing = compiler_ready()
    if missing:
        clean()
        say(f"engine: pure Python ({missing})")
        return 0
    say("engine: compiling matching/engine/book.py with mypyc (about a minute)")
    with tempfile.TemporaryDirectory(prefix="cbook-") as tmp:
        pkg = Path(tmp) / "matching" / "engine"
        pkg.mkdir(parents=True)
        (pkg.parent / "__init__.py").write_text("")
        for name in ("__init__.py", "commands.py", "events.py", "types.py"):
            shutil.copy(ENGINE / name, pkg / name)
        source = (ENGINE / "book.py").read_text()
        (pkg / "_cbook.py").write_text(
            source
            + f'\n\n# Built by scripts/build_engine.py from book.py.\nSOURCE_SHA256 = "{digest}"\n'
        )
        argv = [sys.executable, "-m", "mypyc", "--ignore-missing-imports"]
        done = subprocess.run(
            [*argv, "matching/engine/_cbook.py"], cwd=tmp, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        built = list(pkg.glob("_cbook*.so"))
        if done.returncode != 0 or len(built) < 1:
            clean()
            log = ROOT / ".venv" / "build-engine.log"
            log.write_text(done.stdout + done.stderr)
            say(f"engine: mypyc failed, the pure-Python engine is used (log: {log})")
            return 0
        clean()
        for so in built:
            shutil.copy(so, ENGINE / so.name)
    STAMP.write_text(wanted)
    say("engine: compiled (matching.engine._cbook)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # the setup must go on with the pure engine
        clean()
        say(f"engine: not compiled ({exc}); the pure-Python engine is used")
        sys.exit(0)
