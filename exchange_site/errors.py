"""Domain errors: raised by services, mapped to {"code", "msg"} by the API layer."""

from __future__ import annotations


class DomainError(Exception):
    """An expected, user-facing failure with a Binance-style code and exact message."""

    code: int = -1000
    http_status: int = 400

    def __init__(
        self, msg: str, *, code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status


class InsufficientFunds(DomainError):
    code = -2010

    def __init__(self) -> None:
        super().__init__("Account has insufficient balance for requested action.")


class InvalidInput(DomainError):
    code = -1100
