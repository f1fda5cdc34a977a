"""Request ids in the JSON logs, from the API through the matcher to settlement.

Every HTTP request gets a server-made id (24 hex characters), bound to structlog's context
variables (so every log line of the request carries `request_id`) and returned as the
`X-Request-ID` response header. Commands a request sends to the matcher carry it as their `rid`
(orders.verdicts.request_id_new: the first command of a request uses the request id itself, any
further one `<request_id>-<n>`), so the matcher's batch log names the request ids it applied.
A Celery task published while a request id is bound carries it in a message header and binds it
again in the worker; every task log line also carries `task_id` and `task_name`.
"""

from __future__ import annotations

import contextvars
import secrets
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

HEADER = "X-Request-ID"
_commands: contextvars.ContextVar[int] = contextvars.ContextVar("request_commands", default=0)


def request_id_bind() -> str:
    """Start a request's log context; returns its id."""
    structlog.contextvars.clear_contextvars()
    request_id = secrets.token_hex(12)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    _commands.set(0)
    return request_id


def request_id_current() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


def command_id_next() -> str | None:
    """The id of the next command this request sends (None outside a request)."""
    request_id = request_id_current()
    if request_id is None:
        return None
    n = _commands.get()
    _commands.set(n + 1)
    return request_id if n == 0 else f"{request_id}-{n}"


@sync_and_async_middleware
def request_id_middleware(get_response: Any) -> Any:
    """Django's stack (UI, admin, schema): the same request id as the lean API front."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            request_id = request_id_bind()
            response: HttpResponse = await get_response(request)
            response[HEADER] = request_id
            return response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        request_id = request_id_bind()
        response: HttpResponse = get_response(request)
        response[HEADER] = request_id
        return response

    return middleware


def celery_signals_connect() -> None:
    """Carry the request id into tasks; bind task_id and task_name in the worker."""
    from celery.signals import before_task_publish, task_postrun, task_prerun

    def publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
        request_id = request_id_current()
        if request_id and headers is not None:
            headers.setdefault("request_id", request_id)

    def prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        structlog.contextvars.clear_contextvars()
        fields: dict[str, Any] = {"task_id": task_id, "task_name": getattr(task, "name", None)}
        request_id = getattr(getattr(task, "request", None), "request_id", None)
        if request_id:
            fields["request_id"] = request_id
        structlog.contextvars.bind_contextvars(**fields)

    def postrun(**_: Any) -> None:
        structlog.contextvars.clear_contextvars()

    before_task_publish.connect(publish, weak=False)
    task_prerun.connect(prerun, weak=False)
    task_postrun.connect(postrun, weak=False)
