"""One registered handler, :class:`Handler`: its name, its signature, how to run it.

The router reads a handler's signature once, at registration, so that running
it needs no introspection. An ``async def`` handler run from sync code gets a
private event loop (in a helper thread when the calling thread's loop is
running); run from async code, a sync handler goes to a worker thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from boltcall_webhooks._delivery import Delivery
from boltcall_webhooks._events import Event, UnknownEvent

__all__ = ["Handler", "handler_name", "run_to_completion"]


def handler_name(func: Callable[..., object]) -> str:
    """``module:qualname`` of a function, a bound method, a partial or a callable object."""
    target: object = func
    while isinstance(target, functools.partial):
        target = target.func
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(qualname, str):  # a callable object: name its class
        module, qualname = type(target).__module__, type(target).__qualname__
    return f"{module}:{qualname}"


def _read_signature(func: Callable[..., object]) -> bool:
    """Whether ``func`` takes ``(event, delivery)`` (True) or ``(event)`` (False).

    Raises:
        TypeError: ``func`` cannot be called with one of those two shapes.
    """
    if not callable(func):
        raise TypeError(f"a handler must be callable, not {type(func).__name__}")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        msg = f"cannot read the signature of handler {handler_name(func)}; wrap it in a def"
        raise TypeError(msg) from exc
    positional = 0
    required = 0
    star_args = False
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
            required += parameter.default is parameter.empty
        elif parameter.kind is parameter.VAR_POSITIONAL:
            star_args = True
        elif parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            required = 3  # a required keyword-only parameter: never satisfiable
    takes_delivery = positional >= 2 or star_args
    if (positional == 0 and not star_args) or required > 2:
        msg = (
            f"handler {handler_name(func)} must take (event) or (event, delivery), not {signature}"
        )
        raise TypeError(msg)
    return takes_delivery


def _is_async(func: Callable[..., object]) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    if inspect.isfunction(func) or inspect.ismethod(func):
        return False
    return inspect.iscoroutinefunction(type(func).__call__)  # a callable object


@dataclass(frozen=True, slots=True)
class Handler:
    """One registered handler: what :meth:`Router.handlers_for` returns.

    Attributes:
        name: Its stable name, ``module:qualname`` unless given at registration.
        func: The registered function, as given.
        kinds: The event classes and unknown type names it was registered for;
            empty for an :meth:`Router.on_any` handler (every event).
        takes_delivery: It takes ``(event, delivery)`` rather than ``(event)``.
        is_async: It is an ``async def`` function.
    """

    name: str
    func: Callable[..., object] = field(repr=False)
    kinds: tuple[type[Event] | str, ...]
    takes_delivery: bool = field(init=False, repr=False)
    is_async: bool = field(init=False, repr=False)
    _plain: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        takes_delivery = _read_signature(self.func)
        is_async = _is_async(self.func)
        object.__setattr__(self, "takes_delivery", takes_delivery)
        object.__setattr__(self, "is_async", is_async)
        object.__setattr__(self, "_plain", not (takes_delivery or is_async))

    def matches(self, event: Event) -> bool:
        """Whether this handler runs for ``event``."""
        if not self.kinds:
            return True
        for kind in self.kinds:
            if isinstance(kind, str):
                if isinstance(event, UnknownEvent) and event.type == kind:
                    return True
            elif isinstance(event, kind):
                return True
        return False

    def run(self, event: Event, delivery: Delivery | None = None) -> None:
        """Call the handler and wait for it (an ``async def`` one runs to completion).

        An async handler runs on a private event loop: in this thread if no loop
        runs here, else in a helper thread (the caller waits either way).

        Args:
            event: The event.
            delivery: Passed if the handler takes one; ``None`` builds a one-off
                delivery (``attempts=1``) for it.

        Raises:
            Exception: Whatever the handler raised.
        """
        if self.takes_delivery:
            if delivery is None:
                delivery = Delivery.one_off(event)
            result = self.func(event, delivery)
        else:
            result = self.func(event)
        if result is not None and inspect.isawaitable(result):
            run_to_completion(result)

    async def run_async(self, event: Event, delivery: Delivery | None = None) -> None:
        """Await the handler; a sync one runs in a worker thread, never on the loop.

        Args:
            event: The event.
            delivery: As for :meth:`run`.

        Raises:
            Exception: Whatever the handler raised.
        """
        if self.takes_delivery:
            if delivery is None:
                delivery = Delivery.one_off(event)
            args: tuple[object, ...] = (event, delivery)
        else:
            args = (event,)
        if self.is_async:
            result = self.func(*args)
        else:
            result = await asyncio.to_thread(self.func, *args)
        if result is not None and inspect.isawaitable(result):
            await result


def _run_on_private_loop(awaitable: Awaitable[object]) -> None:
    """Run ``awaitable`` on a new event loop in this thread, then close the loop.

    Unlike ``asyncio.run``, it never sets or clears the thread's current loop.
    """
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(awaitable)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def run_to_completion(awaitable: Awaitable[object]) -> None:
    """Run an async handler's awaitable from sync code, with or without a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _run_on_private_loop(awaitable)
        return
    # A loop runs in this thread (a sync call from async code): it cannot run a
    # second one, so a helper thread does, with a copy of the caller's context.
    context = contextvars.copy_context()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            context.run(_run_on_private_loop, awaitable)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    helper = threading.Thread(target=target, name="boltcall-router-async", daemon=True)
    helper.start()
    helper.join()
    if errors:
        raise errors[0]
