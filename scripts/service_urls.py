"""Print shell assignments for the service endpoints named by DATABASE_URL and REDIS_URL."""

import os
import shlex
from pathlib import Path
from urllib.parse import urlparse

env_file = Path(__file__).resolve().parent.parent / ".env"
if env_file.exists():
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            os.environ.setdefault(key.strip(), value.strip())

db = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange"))
rd = urlparse(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
values = {
    "DB_HOST": db.hostname or "127.0.0.1",
    "DB_PORT": db.port or 5432,
    "DB_USER": db.username or "postgres",
    "DB_PASSWORD": db.password or "",
    "DB_NAME": db.path.lstrip("/") or "exchange",
    "REDIS_HOST": rd.hostname or "127.0.0.1",
    "REDIS_PORT": rd.port or 6379,
}
for name, setting in values.items():
    print(f"{name}={shlex.quote(str(setting))}")
