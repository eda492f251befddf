"""CometChat's published mapping of an external id (an identity provider's subject, an
e-mail address) onto a uid: the ``toCometChatId`` of its migration guides, byte for byte,
so users imported by a migration and users who log in with a JWT meet in the same uid.

The reference runs in JavaScript, so it counts UTF-16 code units when it replaces and
code points when it hashes; both are reproduced here (docs/uid-mapping.md)."""

from __future__ import annotations

import string

from .errors import ValidationError

MAX_UID = 100
# A mapped uid keeps this many characters of the cleaned id, then "_" and the hash.
KEPT_PREFIX = 90
_KEPT = frozenset(string.ascii_lowercase + string.digits + "_-")
_BASE36 = string.digits + string.ascii_lowercase
_HASH_MODULUS = 2**32


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
        if not number:
            return digits


def _id_hash(external_id: str) -> str:
    h = 0
    for char in external_id:
        h = (31 * h + ord(char)) % _HASH_MODULUS
    return _base36(h)


def _as_javascript_string(external_id: str) -> str:
    # A surrogate pair given as two code points (JSON "\ud83d\ude00" decoded leniently) is one
    # code point in JavaScript; a lone surrogate stays one code unit in both.
    return external_id.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def to_cometchat_uid(external_id: str) -> str:
    """Map ``external_id`` onto a valid CometChat uid (1..100 of ``a-z 0-9 _ -``).

    An id that is already a lowercase uid of at most 100 characters comes back unchanged;
    any other id is cleaned, cut to 90 characters and suffixed with a hash of the original,
    so two ids that clean to the same text still get different uids."""
    if not isinstance(external_id, str) or not external_id:
        raise ValidationError(
            "An empty id cannot be mapped to a uid.", details={"uid": ["The id must be a non-empty string."]}
        )
    original = _as_javascript_string(external_id)
    # str.lower and JavaScript's toLowerCase agree on every character that lowercases into
    # a-z 0-9 _ - and on the UTF-16 length of every other result, which is all that shows.
    cleaned = "".join(char if char in _KEPT else "_" * (2 if ord(char) > 0xFFFF else 1) for char in original.lower())
    if cleaned == original and len(cleaned) <= MAX_UID:
        return cleaned
    return f"{cleaned[:KEPT_PREFIX]}_{_id_hash(original)}"
