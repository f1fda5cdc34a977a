"""Assets in the back office: the code is fixed once created, the precision can only grow."""

from __future__ import annotations

from django.test import Client

from accounts.models import User
from wallet.models import Asset


def test_asset_code_is_fixed_and_precision_only_grows(db: None) -> None:
    root = User.objects.create_superuser("root", password="x-root-pass-1")
    browser = Client()
    browser.force_login(root)
    asset = Asset.objects.create(code="USDT", precision=6)
    url = f"/admin/wallet/asset/{asset.pk}/change/"
    fewer = browser.post(url, {"code": "USD", "name": "", "precision": "4", "audit_reason": "x"})
    assert fewer.status_code == 200 and "precision can only grow (now 6)" in fewer.content.decode()
    more = browser.post(url, {"code": "USD", "name": "Tether", "precision": "8",
                              "audit_reason": "x"})  # fmt: skip
    assert more.status_code == 302
    asset.refresh_from_db()
    assert (asset.code, asset.name, asset.precision) == ("USDT", "Tether", 8)
