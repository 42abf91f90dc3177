"""Send each event to the functions registered for its type: :class:`Router`.

Registration does the work once: it checks each handler's signature and
builds, per event class (and per registered unknown type name), the tuple of
handlers to run. :meth:`Router.dispatch` is then one dictionary look-up and a
loop; nothing is inspected per event, and a one-off delivery is built only
when a handler asks for one.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, Generic, TypeVar, overload

from boltcall_webhooks._delivery import Delivery
from boltcall_webhooks._errors import WebhookError
from boltcall_webhooks._events import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    Event,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
    UnknownEvent,
)
from boltcall_webhooks._handler import Handler, handler_name, run_to_completion

__all__ = ["DispatchError", "Handler", "Router"]

logger = logging.getLogger("boltcall_webhooks.router")

_EVENT_CLASSES: Final[tuple[type[Event], ...]] = (
    NewLeadEvent,
    MissedCallEvent,
    AppointmentBookedEvent,
    CallCompletedEvent,
    ReviewReceivedEvent,
    UnknownEvent,
)
_CLASS_BY_TYPE: Final[dict[str, type[Event]]] = {
    "new_lead": NewLeadEvent,
    "missed_call": MissedCallEvent,
    "appointment_booked": AppointmentBookedEvent,
    "call_completed": CallCompletedEvent,
    "review_received": ReviewReceivedEvent,
}

_E_contra = TypeVar("_E_contra", contravariant=True)
_E1 = TypeVar("_E1", bound=Event)
_E2 = TypeVar("_E2", bound=Event)
_E3 = TypeVar("_E3", bound=Event)
_E4 = TypeVar("_E4", bound=Event)
_E5 = TypeVar("_E5", bound=Event)
_E6 = TypeVar("_E6", bound=Event)
_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., object])
_AnyEventHandler = TypeVar(
    "_AnyEventHandler",
    bound="Callable[[Event], object] | Callable[[Event, Delivery], object]",
)


class DispatchError(WebhookError):
    """One or more handlers raised; every matching handler still ran.

    The message names the handlers that failed, nothing else (no event data).
    The web endpoints answer it with HTTP 500 ``{"error": "Handler failed"}``.

    Attributes:
        failures: ``(handler name, exception)`` for each failed handler, in the
            order they ran; each exception keeps its traceback.
    """

    failures: list[tuple[str, BaseException]]

    def __init__(self, failures: Iterable[tuple[str, BaseException]]) -> None:
        self.failures = list(failures)
        names = ", ".join(name for name, _ in self.failures)
        count = len(self.failures)
        super().__init__(f"{count} handler{'' if count == 1 else 's'} failed: {names}")

    def __reduce__(self) -> tuple[type[DispatchError], tuple[list[tuple[str, BaseException]]]]:
        return (type(self), (self.failures,))


class _Decorator(Generic[_E_contra]):
    """What ``router.on(...)`` returns: registers a handler, gives it back unchanged.

    To a type checker the handler must accept every event class given to ``on``.
    """

    __slots__ = ("_register",)

    def __init__(self, register: Callable[[Callable[..., object]], None]) -> None:
        self._register = register

    @overload
    def __call__(
        self, func: Callable[[_E_contra, Delivery], _R], /
    ) -> Callable[[_E_contra, Delivery], _R]: ...
    @overload
    def __call__(self, func: Callable[[_E_contra], _R], /) -> Callable[[_E_contra], _R]: ...
    def __call__(self, func: Callable[..., object], /) -> Callable[..., object]:
        self._register(func)
        return func


class _NameDecorator:
    """What ``router.on(...)`` returns for type names: any handler, given back as is."""

    __slots__ = ("_register",)

    def __init__(self, register: Callable[[Callable[..., object]], None]) -> None:
        self._register = register

    def __call__(self, func: _F, /) -> _F:
        self._register(func)
        return func


def _normalise_kind(kind: object) -> type[Event] | str:
    """An event class as is; a known type name as its class; an unknown name as a str."""
    if isinstance(kind, str):
        return _CLASS_BY_TYPE.get(kind) or str(kind)
    if isinstance(kind, type) and kind in _EVENT_CLASSES:
        return kind
    if kind == Event:
        msg = "on() takes event classes, not the Event union; use router.on_any for every event"
        raise TypeError(msg)
    # Never the object's repr: an event passed by mistake would put its data in the message.
    shown = kind.__qualname__ if isinstance(kind, type) else f"a {type(kind).__name__} object"
    msg = (
        "on() takes event classes (NewLeadEvent, MissedCallEvent, AppointmentBookedEvent, "
        "CallCompletedEvent, ReviewReceivedEvent, UnknownEvent) or event type names, "
        f"not {shown}"
    )
    raise TypeError(msg)


class Router:
    """Send each event to the handlers registered for its type, in registration order.

    ::

        router = Router()

        @router.on(NewLeadEvent)
        def add_lead(event: NewLeadEvent) -> None: ...

        router.dispatch(event)

    Registering is safe from several threads; dispatching needs no lock.
    """

    __slots__ = ("_by_class", "_by_unknown_type", "_handlers", "_lock", "_unknown")

    def __init__(self) -> None:
        """Create a router with no handlers."""
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()
        self._by_class: dict[type[Any], tuple[Handler, ...]] = {}
        self._by_unknown_type: dict[str, tuple[Handler, ...]] = {}
        self._unknown: tuple[Handler, ...] = ()
        self._rebuild()

    def __repr__(self) -> str:
        return f"<Router with {len(self._handlers)} handlers>"

    # Registration ----------------------------------------------------------

    @overload
    def on(  # type: ignore[overload-overlap] # pyright: ignore[reportOverlappingOverload]
        self, kind1: type[_E1], /, *, name: str | None = None
    ) -> _Decorator[_E1]: ...
    @overload
    def on(  # type: ignore[overload-overlap]
        self, kind1: type[_E1], kind2: type[_E2], /, *, name: str | None = None
    ) -> _Decorator[_E1 | _E2]: ...
    @overload
    def on(  # type: ignore[overload-overlap]
        self,
        kind1: type[_E1],
        kind2: type[_E2],
        kind3: type[_E3],
        /,
        *,
        name: str | None = None,
    ) -> _Decorator[_E1 | _E2 | _E3]: ...
    @overload
    def on(  # type: ignore[overload-overlap]
        self,
        kind1: type[_E1],
        kind2: type[_E2],
        kind3: type[_E3],
        kind4: type[_E4],
        /,
        *,
        name: str | None = None,
    ) -> _Decorator[_E1 | _E2 | _E3 | _E4]: ...
    @overload
    def on(  # type: ignore[overload-overlap]
        self,
        kind1: type[_E1],
        kind2: type[_E2],
        kind3: type[_E3],
        kind4: type[_E4],
        kind5: type[_E5],
        /,
        *,
        name: str | None = None,
    ) -> _Decorator[_E1 | _E2 | _E3 | _E4 | _E5]: ...
    @overload
    def on(  # type: ignore[overload-overlap]
        self,
        kind1: type[_E1],
        kind2: type[_E2],
        kind3: type[_E3],
        kind4: type[_E4],
        kind5: type[_E5],
        kind6: type[_E6],
        /,
        *,
        name: str | None = None,
    ) -> _Decorator[_E1 | _E2 | _E3 | _E4 | _E5 | _E6]: ...
    @overload
    def on(self, *kinds: type[Event] | str, name: str | None = None) -> _NameDecorator: ...
    def on(
        self, *kinds: type[Any] | str, name: str | None = None
    ) -> _Decorator[Any] | _NameDecorator:
        """Register the decorated function for some event types.

        Args:
            *kinds: Event classes (:class:`UnknownEvent`: every type this version
                does not know) and event type names (a known name stands for its
                class; another name matches the :class:`UnknownEvent` of that
                type only).
            name: The handler's name (default: ``module:qualname``).

        Returns:
            A decorator that registers the function and returns it unchanged.

        Raises:
            TypeError: No kind, or something that is neither an event class nor
                a type name; when decorating: a function that does not take
                ``(event)`` or ``(event, delivery)``.
            ValueError: When decorating: a handler name already registered.
        """
        if not kinds:
            raise TypeError("on() takes at least one event class or type name")
        normalised = tuple(dict.fromkeys(_normalise_kind(kind) for kind in kinds))
        _check_name(name)

        def register(func: Callable[..., object]) -> None:
            self._add(func, normalised, name)

        if all(isinstance(kind, type) for kind in kinds):
            return _Decorator(register)
        return _NameDecorator(register)

    @overload
    def on_any(self, func: _AnyEventHandler, /) -> _AnyEventHandler: ...
    @overload
    def on_any(
        self, /, *, name: str | None = None
    ) -> Callable[[_AnyEventHandler], _AnyEventHandler]: ...
    def on_any(
        self, func: _AnyEventHandler | None = None, /, *, name: str | None = None
    ) -> _AnyEventHandler | Callable[[_AnyEventHandler], _AnyEventHandler]:
        """Register a handler for every event, :class:`UnknownEvent` included.

        Use it bare (``@router.on_any``) or with a name (``@router.on_any(name="audit")``).

        Returns:
            The function, unchanged (or a decorator doing that, given ``name``).

        Raises:
            TypeError: The function does not take ``(event)`` or ``(event, delivery)``.
            ValueError: The name is already registered.
        """
        _check_name(name)
        if func is not None:
            self._add(func, (), name)
            return func

        def decorator(func: _AnyEventHandler) -> _AnyEventHandler:
            self._add(func, (), name)
            return func

        return decorator

    def _add(
        self, func: Callable[..., object], kinds: tuple[type[Event] | str, ...], name: str | None
    ) -> None:
        handler = Handler(name if name is not None else handler_name(func), func, kinds)
        with self._lock:
            if any(existing.name == handler.name for existing in self._handlers):
                msg = (
                    f"a handler named {handler.name!r} is already registered; "
                    "give this one another name (name=...)"
                )
                raise ValueError(msg)
            self._handlers.append(handler)
            self._rebuild()

    def _rebuild(self) -> None:
        """Precompute the handlers of each event class and of each registered unknown name."""
        handlers = self._handlers
        by_class: dict[type[Any], tuple[Handler, ...]] = {
            cls: tuple(h for h in handlers if not h.kinds or cls in h.kinds)
            for cls in _EVENT_CLASSES
        }
        names = {kind for h in handlers for kind in h.kinds if isinstance(kind, str)}
        unknown = by_class[UnknownEvent]
        self._by_unknown_type = {
            type_name: tuple(
                h
                for h in handlers
                if not h.kinds or UnknownEvent in h.kinds or type_name in h.kinds
            )
            for type_name in names
        }
        self._unknown = unknown
        if names:  # an UnknownEvent then needs its type looked up too
            del by_class[UnknownEvent]
        self._by_class = by_class

    # Dispatch --------------------------------------------------------------

    def _lookup(self, event: Event) -> tuple[Handler, ...]:
        """The slow path of the look-up: an UnknownEvent with registered names, or a subclass."""
        if type(event) is UnknownEvent:
            return self._by_unknown_type.get(event.type, self._unknown)
        if not isinstance(event, _EVENT_CLASSES):
            msg = f"dispatch takes an event (NewLeadEvent...), not {type(event).__name__}"
            raise TypeError(msg)
        return tuple(h for h in self._handlers if h.matches(event))

    def handlers_for(self, event: Event) -> list[Handler]:
        """The handlers that would run for ``event``, in registration order.

        ``on_any`` handlers are included, in their registration order among the others.

        Raises:
            TypeError: ``event`` is not an event.
        """
        handlers = self._by_class.get(type(event))
        if handlers is None:
            handlers = self._lookup(event)
        return list(handlers)

    def dispatch(self, event: Event, delivery: Delivery | None = None) -> None:
        """Run every handler of ``event`` in registration order, here and now.

        An ``async def`` handler runs to completion on a private event loop (see
        :meth:`Handler.run`). Every handler runs even when an earlier one fails.

        Args:
            event: The event, as :func:`construct_event` returns it.
            delivery: Given to handlers that take one; ``None`` builds a one-off
                :class:`~boltcall_webhooks.inbox.Delivery` (``attempts=1``), only if
                some handler takes one.

        Raises:
            DispatchError: One or more handlers raised.
            TypeError: ``event`` is not an event.
        """
        handlers = self._by_class.get(type(event))
        if handlers is None:
            handlers = self._lookup(event)
        if not handlers:
            logger.debug("No handler for %s event %.100r", type(event).__name__, event.type)
            return
        failures: list[tuple[str, BaseException]] | None = None
        for handler in handlers:
            try:
                if handler._plain:  # pyright: ignore[reportPrivateUsage] - the fast path
                    result = handler.func(event)
                    if result is not None and inspect.isawaitable(result):
                        run_to_completion(result)
                else:
                    if delivery is None and handler.takes_delivery:
                        delivery = Delivery.one_off(event)
                    handler.run(event, delivery)
            except Exception as exc:  # aggregated into DispatchError
                if failures is None:
                    failures = []
                failures.append((handler.name, exc))
        if failures:
            raise DispatchError(failures) from failures[0][1]

    async def dispatch_async(self, event: Event, delivery: Delivery | None = None) -> None:
        """Await every handler of ``event`` in registration order, one after the other.

        ``async def`` handlers are awaited; sync ones run in a worker thread
        (``asyncio.to_thread``), so the event loop is never blocked. Every handler
        runs even when an earlier one fails.

        Args:
            event: The event.
            delivery: As for :meth:`dispatch`.

        Raises:
            DispatchError: One or more handlers raised.
            TypeError: ``event`` is not an event.
        """
        handlers = self._by_class.get(type(event))
        if handlers is None:
            handlers = self._lookup(event)
        if not handlers:
            logger.debug("No handler for %s event %.100r", type(event).__name__, event.type)
            return
        failures: list[tuple[str, BaseException]] | None = None
        for handler in handlers:
            if delivery is None and handler.takes_delivery:
                delivery = Delivery.one_off(event)
            try:
                await handler.run_async(event, delivery)
            except Exception as exc:  # aggregated into DispatchError
                if failures is None:
                    failures = []
                failures.append((handler.name, exc))
        if failures:
            raise DispatchError(failures) from failures[0][1]


def _check_name(name: object) -> None:
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("a handler name cannot be empty")
