from __future__ import annotations

import re

from exchange_site.errors import InvalidInput
from wallet.models import Asset

ASSET_CODE_RE = re.compile(r"^[A-Z0-9]{1,16}$")


def asset_get_or_create(*, code: str, precision: int = 8) -> tuple[Asset, bool]:
    """Return the asset `code`, creating it when missing. Runs in the caller's transaction."""
    if not ASSET_CODE_RE.match(code):
        raise InvalidInput(f"asset code {code!r} must be 1-16 upper-case letters or digits")
    if not 0 <= precision <= 18:
        raise InvalidInput("asset precision must be between 0 and 18")
    return Asset.objects.get_or_create(code=code, defaults={"precision": precision})


# The wallet's services live in submodules: networks (configuration, deposit addresses),
# twofactor (TOTP), addressbook, deposits, withdrawals. Import them from there.
