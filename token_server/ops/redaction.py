"""Keep logs honest: no secrets (the REST key, service keys, JWT secrets, JWTs, minted tokens) and
no forged lines, whatever logged them."""

from __future__ import annotations

import logging
import re
from typing import Iterable

MASK = "[REDACTED]"
PATTERNS = (
    # JWTs (header.payload.signature, base64url, the header always starts with eyJ).
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),
    # Whatever follows "Bearer".
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1" + MASK),
    # CometChat auth tokens: uid + "_" + 10-digit timestamp + hex (the observed shape).
    (re.compile(r"[A-Za-z0-9_-]{1,100}_\d{10}[0-9a-f]{20,}"), MASK),
    # key=value / "key": "value" for credential-like names.
    (
        re.compile(r"(?i)((?:apikey|api_key|authtoken|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}&]+"),
        r"\1" + MASK,
    ),
)


# C0, DEL, C1, and the Unicode line and paragraph separators some log viewers break lines at.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """Control characters as visible escapes (``\\n``, ``\\x1b``, ``\\u2028``).
    ``keep_newlines`` is for tracebacks, which are several lines by nature."""
    if keep_newlines:
        return "\n".join(CONTROL.sub(_escape_one, line) for line in text.split("\n"))
    return CONTROL.sub(_escape_one, text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message: secrets masked, then control characters escaped,
    so request data (gunicorn logs the percent-decoded path: ``%0a`` is a newline) can never
    start a line of its own. Only the message: the layout stays the formatter's job, so a JSON
    formatter can take the plain one's place."""
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("redaction")
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = escape_controls(redact(message, self.secrets))
        record.args = None
        if record.exc_text:
            record.exc_text = escape_controls(redact(record.exc_text, self.secrets), keep_newlines=True)
        record.exc_info = None if record.exc_text else record.exc_info
        return True


LOGGERS = ("", "gunicorn.error", "gunicorn.access", "werkzeug", "token_server", "cometchat")


def install_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Attach one filter to every handler of the loggers that matter (handlers see records
    propagated from child loggers; logger-level filters would not)."""
    log_filter = RedactingFilter(secrets)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(old)
            handler.addFilter(log_filter)
    return log_filter
