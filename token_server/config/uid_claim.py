"""Which JWT claim may name a caller's CometChat uid (``sub`` unless the operator vouches for
another)."""

from __future__ import annotations

# The one JWT claim an identity provider always assigns itself.
PROVIDER_ASSIGNED_CLAIM = "sub"


def check_uid_claim(mapping: str, claim: str, any_claim: bool, problems: list[str]) -> None:
    """Add the refusal to ``problems`` when ``claim`` may not name uids under ``mapping``.

    A uid taken from a claim users choose (email, name, nickname) lets a user take another's
    uid: in ``strict`` mode by setting the claim to that uid, in the ``cometchat`` mapping also
    by a colliding value (a valid uid maps to itself, and a 32-bit hash collides). So only the
    claim the identity provider assigns itself (``sub``), unless
    ``AUTH_JWT_UID_MAPPING_ANY_CLAIM=1``."""
    if claim == PROVIDER_ASSIGNED_CLAIM or any_claim:
        return
    how = (
        "the mapping can give two identities one uid"
        if mapping == "cometchat"
        else "a user who sets that claim to another user's uid would get that user's tokens"
    )
    problems.append(
        f"AUTH_JWT_UID_MAPPING={mapping} with AUTH_JWT_UID_CLAIM={claim}: {how}, so the uid must come from a "
        "claim the identity provider assigns (sub), never one users choose (email, name, nickname); set "
        "AUTH_JWT_UID_MAPPING_ANY_CLAIM=1 if the provider assigns this claim and no user can change it"
    )
