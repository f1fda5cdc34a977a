"""A typed front for Celery's `shared_task` (celery ships no type information).

`shared_task(...)` here is `celery.shared_task(...)` with the same options; its overloads only
tell mypy what the decorated object is: the function, still callable in-process, plus `.delay`
to run it on a worker. With `bind=True` the function's first parameter (the task) is bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, overload

import celery

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class TaskFunction(Protocol[P, R_co]):
    """A Celery task: call it to run it here, `.delay(...)` to enqueue it for a worker."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...


@overload
def shared_task(
    *, bind: Literal[True], **options: Any
) -> Callable[[Callable[Concatenate[Any, P], R]], TaskFunction[P, R]]: ...


@overload
def shared_task(
    *, bind: Literal[False] = ..., **options: Any
) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...


def shared_task(**options: Any) -> Any:
    return celery.shared_task(**options)
