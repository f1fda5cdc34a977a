"""Binance error codes and their exact messages (contract section 6).

Clients classify errors by `code` and by the exact `msg`, so every text here is verbatim.
"""

from __future__ import annotations

from exchange_site.errors import DomainError


class ApiError(DomainError):
    """An error answered as {"code", "msg"} with an HTTP status (400 unless said otherwise)."""


UNKNOWN = "An unknown error occurred while processing the request."
DEPENDENCY_DOWN = "Internal error; unable to process your request. Please try again."
NOT_SUPPORTED = "This operation is not supported."
SIGNATURE_INVALID = "Signature for this request is not valid."
TIMESTAMP_OUTSIDE = "Timestamp for this request is outside of the recvWindow."
TIMESTAMP_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
KEY_FORMAT = "API-key format invalid."
KEY_REJECTED = "Invalid API-key, IP, or permissions for action."
INVALID_SYMBOL = "Invalid symbol."
INVALID_INTERVAL = "Invalid interval."
BACKEND_TIMEOUT = (
    "Timeout waiting for response from backend server. Send status unknown; execution status"
    " unknown."
)


def unknown_error() -> ApiError:
    return ApiError(UNKNOWN, code=-1000, http_status=500)


def dependency_down() -> ApiError:
    return ApiError(DEPENDENCY_DOWN, code=-1001, http_status=503)


def not_supported(http_status: int = 404) -> ApiError:
    return ApiError(NOT_SUPPORTED, code=-1020, http_status=http_status)


def too_much_weight(limit: int) -> ApiError:
    return ApiError(
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE.",
        code=-1003,
        http_status=429,
    )


def too_many_orders(limit: int) -> ApiError:
    return ApiError(
        f"Too many new orders; current limit is {limit} orders per 10 SECOND.",
        code=-1015,
        http_status=429,
    )


def backend_timeout() -> ApiError:
    # The command reached the matcher's stream but no verdict came in time (HTTP 503, like
    # Binance): the client must query the order to learn the outcome.
    return ApiError(BACKEND_TIMEOUT, code=-1007, http_status=503)


def illegal_chars(param: str, legal: str) -> ApiError:
    return ApiError(
        f"Illegal characters found in parameter '{param}'; legal range is '{legal}'.", code=-1100
    )


def duplicate_param() -> ApiError:
    return ApiError("Duplicate values for a parameter detected.", code=-1101)


def too_many_params(limit: int, sent: int) -> ApiError:
    return ApiError(f"Too many parameters; expected '{limit}' and received '{sent}'.", code=-1101)


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        f"Too many parameters; the request body is larger than {limit} bytes.",
        code=-1101,
        http_status=413,
    )


def mandatory(param: str) -> ApiError:
    return ApiError(
        f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.", code=-1102
    )


def not_required(param: str) -> ApiError:
    return ApiError(f"Parameter '{param}' sent when not required.", code=-1106)


def bad_combination() -> ApiError:
    return ApiError("Combination of optional parameters invalid.", code=-1128)


def too_many_hours(hours: int) -> ApiError:
    return ApiError(f"More than {hours} hours between startTime and endTime.", code=-1127)


def signature_invalid() -> ApiError:
    return ApiError(SIGNATURE_INVALID, code=-1022)


def timestamp_outside() -> ApiError:
    return ApiError(TIMESTAMP_OUTSIDE, code=-1021)


def timestamp_ahead() -> ApiError:
    return ApiError(TIMESTAMP_AHEAD, code=-1021)


def recv_window_too_large() -> ApiError:
    return ApiError("recvWindow must be less than 60000", code=-1131)


def key_format() -> ApiError:
    return ApiError(KEY_FORMAT, code=-2014, http_status=401)


def key_rejected() -> ApiError:
    return ApiError(KEY_REJECTED, code=-2015, http_status=401)


def invalid_symbol() -> ApiError:
    return ApiError(INVALID_SYMBOL, code=-1121)


def invalid_interval() -> ApiError:
    return ApiError(INVALID_INTERVAL, code=-1120)


def unsupported_combination() -> ApiError:
    return ApiError("Unsupported order combination.", code=-1014)
