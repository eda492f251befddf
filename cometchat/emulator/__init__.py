"""An in-memory emulator of CometChat's v3 ``users``, ``auth_tokens`` and user data-import
endpoints, written from the documented API (``docs/cometchat-api.md``), not from the client.

Mount it in a Flask app (:func:`register_emulator`), call it in-process
(:mod:`cometchat.inprocess`) or run it alone::

    python -m cometchat.emulator --port 8787 [--api-key KEY] [--latency-ms 50]

Where to look: ``rules.py`` (input rules and error answers), ``state.py`` (users, tokens,
imports), ``quota.py`` (per-minute quotas), ``api.py`` (the REST routes), ``faults.py``
(fault injection and the ``/_emulator`` controls), ``push.py`` (push token registrations),
``webhooks.py`` (webhook delivery), ``__main__.py`` (the standalone server).
It is for development and tests: never a production backend.
"""

try:
    import flask  # noqa: F401  (the emulator is a Flask app; it imports nothing of the client)
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        f'cometchat.emulator needs {exc.name}, which comes with the [server] extra: '
        'pip install "cometchat-token-server[server]"',
        name=exc.name,
    ) from exc

from .api import API_PREFIXES, create_emulator_app, create_emulator_blueprint, register_emulator
from .faults import FAULT_KINDS, Fault, create_control_blueprint
from .push import MAX_PUSH_TOKENS_PER_USER, PushRegistry
from .quota import Quota
from .rules import EmulatorError, error_body
from .state import MAX_IMPORT_USERS, MAX_VALID_TOKENS, TEST_USERS, EmulatorState
from .webhooks import WEBHOOK_FAULT_KINDS, WebhookConfig, WebhookFault, WebhookSender

__all__ = [
    "API_PREFIXES",
    "FAULT_KINDS",
    "MAX_IMPORT_USERS",
    "MAX_PUSH_TOKENS_PER_USER",
    "MAX_VALID_TOKENS",
    "TEST_USERS",
    "WEBHOOK_FAULT_KINDS",
    "EmulatorError",
    "EmulatorState",
    "Fault",
    "PushRegistry",
    "Quota",
    "WebhookConfig",
    "WebhookFault",
    "WebhookSender",
    "create_control_blueprint",
    "create_emulator_app",
    "create_emulator_blueprint",
    "error_body",
    "register_emulator",
]
