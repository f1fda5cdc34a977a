"""The wallet part of the UI's JSON API (/ui/api/wallet/...)."""

from __future__ import annotations

from django.urls import path

from . import ui_apis

W = "ui/api/wallet"
urlpatterns = [
    path(W, ui_apis.WalletApi.as_view(), name="ui-wallet"),
    path(W + "/address", ui_apis.DepositAddressApi.as_view(), name="ui-deposit-address"),
    path(W + "/withdrawals", ui_apis.WithdrawalsApi.as_view(), name="ui-withdrawals"),
    path(
        W + "/withdrawals/<int:withdrawal_id>/cancel",
        ui_apis.WithdrawalCancelApi.as_view(),
        name="ui-withdrawal-cancel",
    ),
    path(W + "/address-book", ui_apis.AddressBookApi.as_view(), name="ui-address-book"),
    path(
        W + "/address-book/<int:entry_id>",
        ui_apis.AddressBookEntryApi.as_view(),
        name="ui-address-book-entry",
    ),
]
