"""The handler registry: which functions an event is handed to.

A host app registers its own::

    hooks = Handlers()

    @hooks.on("message_sent")
    def archive(event: WebhookEvent) -> None: ...

    @hooks.on_any
    def log_everything(event: WebhookEvent) -> None: ...

``on(trigger)`` takes the trigger as :func:`cometchat.webhooks.parse_event` normalises it (the
legacy connection event arrives as ``user_connection_status_changed``); ``on("*")`` is the same
as ``on_any``. The standalone server registers ``WEBHOOK_HANDLER`` as a catch-all.

An event goes to every handler registered for its trigger, then to every catch-all, in the
order they were registered. Delivery is at least once: when one of them raises, the event is
retried later and handed to ALL of them again, so handlers must tolerate seeing an event twice
(its ``natural_key()`` says which delivery it is).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

ANY = "*"

Handler = Callable[[Any], object]
H = TypeVar("H", bound=Handler)


class Handlers:
    def __init__(self) -> None:
        self._by_trigger: dict[str, list[Handler]] = {}

    def on(self, trigger: str) -> Callable[[H], H]:
        """Decorator: call the function for each event of ``trigger`` (``"*"``: every event)."""
        if not isinstance(trigger, str) or not trigger:
            raise ValueError("a trigger is a non-empty string, or '*' for every event")

        def register(handler: H) -> H:
            self.add(trigger, handler)
            return handler

        return register

    def on_any(self, handler: H) -> H:
        """Decorator: call the function for every event, whatever its trigger."""
        self.add(ANY, handler)
        return handler

    def add(self, trigger: str, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError("a handler is a function taking one event")
        self._by_trigger.setdefault(trigger, []).append(handler)

    def for_trigger(self, trigger: str) -> list[Handler]:
        """The handlers an event of ``trigger`` goes to: its own, then the catch-alls."""
        own = self._by_trigger.get(trigger, []) if trigger != ANY else []
        return [*own, *self._by_trigger.get(ANY, [])]

    def __len__(self) -> int:
        return sum(len(handlers) for handlers in self._by_trigger.values())
