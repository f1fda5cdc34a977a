"""Wallet refusals: Binance's capital-endpoint codes where Binance has one, otherwise codes of
our own in -9100..-9199 (listed in docs/wallet.md and the OpenAPI descriptions).

Every message says what was refused and why; clients that match on `msg` get Binance's text
where there is one (with the platform's detail after a colon).
"""

from __future__ import annotations

from decimal import Decimal

from exchange_site.errors import DomainError


class WalletError(DomainError):
    code = -4000


def no_such_asset(coin: str) -> WalletError:
    return WalletError(f"We don't have this asset: {coin}.", code=-4018)


def no_such_network(coin: str, network: str) -> WalletError:
    return WalletError(f"Network {network} is not available for {coin}.", code=-9103)


def deposit_disabled(coin: str, network: str) -> WalletError:
    return WalletError(f"Deposits of {coin} on network {network} are suspended.", code=-9101)


def withdraw_disabled(coin: str, network: str) -> WalletError:
    return WalletError(
        f"Current asset is not open for withdrawal: {coin} on network {network}.", code=-4019
    )


def below_minimum(minimum: Decimal) -> WalletError:
    return WalletError(f"Not less than the minimum pick-up quantity {minimum:f}.", code=-4022)


def above_maximum(maximum: Decimal) -> WalletError:
    return WalletError(
        f"The withdrawal exceeds the maximum amount per withdrawal: {maximum:f}.", code=-4023
    )


def daily_limit(limit: Decimal, used: Decimal) -> WalletError:
    return WalletError(
        "Within 24 hours, the withdrawal exceeds the maximum amount:"
        f" limit {limit:f}, already requested {used:f}.",
        code=-4023,
    )


def monthly_limit(limit: Decimal, used: Decimal) -> WalletError:
    return WalletError(
        "Within 30 days, the withdrawal exceeds the maximum amount:"
        f" limit {limit:f}, already requested {used:f}.",
        code=-4023,
    )


def precision(places: int) -> WalletError:
    return WalletError(
        f"Parameter 'amount' has too much precision: at most {places} decimals.", code=-1111
    )


def not_above_fee(fee: Decimal) -> WalletError:
    return WalletError(
        f"The amount of withdrawal must be greater than the Commission ({fee:f}).", code=-4028
    )


def insufficient_balance() -> WalletError:
    # Binance's withdrawal code, with the message clients classify as insufficient funds.
    return WalletError("Account has insufficient balance for requested action.", code=-4026)


def address_invalid(address: str, network: str) -> WalletError:
    return WalletError(
        f"Address validation is not passed: {address!r} is not a {network} address.", code=-4007
    )


def not_whitelisted() -> WalletError:
    return WalletError(
        "This address is not on the whitelist. Please join and try again"
        " (add it to your address book first).",
        code=-4035,
    )


def cooling_down(hours: Decimal) -> WalletError:
    return WalletError(
        f"The new address needs to be withdrawn in {hours:f} hours"
        " (a new address-book entry is usable after its cool-down).",
        code=-4036,
    )


def second_factor_missing() -> WalletError:
    return WalletError(
        "Withdraw verification exception: two-factor authentication is enabled; send the"
        " current TOTP code as totpCode.",
        code=-4032,
    )


def second_factor_invalid() -> WalletError:
    return WalletError(
        "Withdraw verification exception: the two-factor code is not valid (wrong, expired or"
        " already used).",
        code=-4032,
    )


def duplicate_client_id() -> WalletError:
    return WalletError("withdrawOrderId was used before for a different withdrawal.", code=-9102)


def unknown_withdrawal() -> WalletError:
    return WalletError("The withdrawal record does not exist.", code=-4029)


def cannot_cancel(status: str) -> WalletError:
    return WalletError(
        f"Cancellation failed: the withdrawal is {status.lower()}; it can be cancelled only"
        " until processing starts.",
        code=-4031,
    )


def not_allowed(msg: str) -> WalletError:
    """An operator action the withdrawal's state or the actor's rights do not allow."""
    return WalletError(msg, code=-9104)
