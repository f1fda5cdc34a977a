"""Schemathesis against the live server (daphne, matcher, worker, beat): every operation of the
schema served at /api/schema/, positive and negative data, every check on.

SIGNED operations are signed through a requests auth hook, over the final query string and
body as they go on the wire: a generated `timestamp` and `signature` that the schema allows are
replaced by a current timestamp and the right HMAC; ones it does not allow (the negative cases)
are sent as generated, so the server must refuse them. Deterministic (derandomized Hypothesis,
then Schemathesis's coverage phase: each parameter's boundaries, empty and missing values) and
small (10 random examples per operation and mode), so it runs in one to two minutes.

Checks: all of Schemathesis's. positive_data_acceptance takes 400 as an answer, because the
Binance protocol answers business outcomes with 400 (unknown symbol -1121, filter -1013, funds
-2010, unknown order -2013, timing -1021); on top of it `no_syntax_error_on_valid_data` holds
the schema to the stricter rule that valid data is never refused as malformed (-1100/-1101).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

from clearing.tests.helpers import assert_ledger_invariants
from tests.live import LiveStack, live_stack_running

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)
# Binance's answers to a well-formed request that the schema cannot rule out (a 400 with one
# of these codes) versus those that say the request was malformed.
SYNTAX_CODES = frozenset({-1100, -1101})
TIMESTAMP_OK = re.compile(r"[0-9]{1,19}")
SIGNATURE_OK = re.compile(r"[0-9a-fA-F]{64}")


class BinanceSigner(requests.auth.AuthBase):
    """Signs the prepared request: the last hook before the bytes go out."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(request.url or "")
        raw_body = request.body or b""
        body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)  # type: ignore[arg-type]
        if request.method not in ("POST", "PUT", "DELETE"):
            body = b""  # the server reads no body of a GET
        content_type = str(request.headers.get("Content-Type", ""))
        form = content_type.startswith("application/x-www-form-urlencoded")
        query, query_sig = _resign_part(url.query.encode("latin-1"))
        body_sig = None
        if form:
            body, body_sig = _resign_part(body)
        # The payload is the query then the body, each without its signature pair.
        digest = hmac.new(self.secret, query + body, hashlib.sha256).hexdigest().encode()

        def put_back(part: bytes, sig: bytes | bool | None) -> bytes:
            if sig is None:
                return part
            return _append(part, b"signature=" + (digest if sig is True else bytes(sig)))

        request.url = urlunsplit(url._replace(query=put_back(query, query_sig).decode("latin-1")))
        if form:
            request.body = put_back(body, body_sig)
            request.headers["Content-Length"] = str(len(request.body))
        return request


def _append(part: bytes, pair: bytes) -> bytes:
    return part + b"&" + pair if part else pair


def _resign_part(part: bytes) -> tuple[bytes, bytes | bool | None]:
    """`part` with a schema-valid timestamp made current and any signature pair removed; the
    second value says what to put back: None (none was sent), True (a fresh one) or the
    malformed value as generated."""
    pairs: list[bytes] = []
    sig: bytes | bool | None = None
    for pair in part.split(b"&") if part else []:
        name, _, value = pair.partition(b"=")
        text = value.decode("latin-1")
        if name == b"timestamp" and TIMESTAMP_OK.fullmatch(text) and int(text) < 2**63:
            pair = b"timestamp=" + str(time.time_ns() // 1_000_000).encode()
        if name == b"signature":
            sig = True if SIGNATURE_OK.fullmatch(value.decode("latin-1")) else value
            continue
        pairs.append(pair)
    return b"&".join(pairs), sig


def no_syntax_error_on_valid_data(case: Case[Any], response: requests.Response) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    code = json.loads(response.content)["code"]
    assert code not in SYNTAX_CODES, (
        f"schema-valid request refused as malformed: {response.content!r}\n{case.as_curl_command()}"
    )


@pytest.fixture
def stack(transactional_db: None, redis_client: redis.Redis, tmp_path: Path) -> Iterator[LiveStack]:
    # Several hundred requests within a minute from one address and key.
    limits = {
        "API_RATE_LIMIT_IP_WEIGHT_1M": "100000000",
        "API_RATE_LIMIT_DEFAULT_WEIGHT_1M": "100000000",
        "API_RATE_LIMIT_DEFAULT_ORDERS_10S": "100000",
    }
    with live_stack_running(tmp_path, limits) as running:
        yield running


def test_schemathesis_finds_nothing_on_the_live_server(stack: LiveStack) -> None:
    config = SchemathesisConfig.from_dict(
        {
            # Undeclared parameters are accepted and ignored by design (Binance clients add
            # their own), which OpenAPI cannot declare for a query string.
            "generation": {"allow-extra-parameters": False},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404"]},
            },
        }
    )
    schema = schemathesis.openapi.from_url(stack.base_url + "/api/schema/", config=config)
    session = requests.Session()
    session.auth = BinanceSigner(stack.alice.secret)
    headers = {"X-MBX-APIKEY": stack.alice.api_key}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) > 20
    failures: list[str] = []
    answered_ok: set[str] = set()  # operations answered 200 at least once

    def check_case(case: Case[Any]) -> None:
        # The real key replaces a generated one; a case without the header stays without it.
        sent = headers if "X-MBX-APIKEY" in (case.headers or {}) else {}
        response = case.call(base_url=stack.base_url, session=session, headers=sent)
        case.validate_response(
            response,
            headers=sent,
            transport_kwargs={"session": session, "base_url": stack.base_url},
        )
        no_syntax_error_on_valid_data(case, response)  # type: ignore[arg-type]
        if response.status_code == 200:
            answered_ok.add(case.operation.label)

    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if operation.query or operation.body:  # nothing to make invalid otherwise
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @EXAMPLES
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Case[Any]) -> None:
                check_case(case)

            try:
                run()
            except Exception as exc:  # collect every operation's findings, then fail once
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
        # The coverage phase: each parameter's boundaries (minimum, maximum and just past
        # them, empty values, missing required ones), deterministic by construction.
        coverage = schema.iter_coverage_cases(
            operation,
            generation_modes=modes,
            generation_config=schema.config.generation_for(operation=operation),
        )
        for case in coverage:
            try:
                check_case(case)
            except Exception as exc:
                failures.append(f"{operation.label} [coverage]: {exc}")
    assert not failures, "\n\n".join(failures)
    # The signing hook works: SIGNED reads were answered.
    assert {"GET /api/v3/account", "GET /api/v3/openOrders"} <= answered_ok, answered_ok
    assert_ledger_invariants()
