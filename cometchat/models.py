"""Typed results of the client: plain frozen dataclasses, never raw response dicts."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Mapping, Sequence

from .errors import CometChatError, UpstreamBadResponseError


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Profile:
    """The fields of a user that a caller sets (create, update, import, the routes' bodies):
    their one spelling, which is CometChat's too. None means "not given"."""

    name: str | None = None
    avatar: str | None = None
    link: str | None = None
    role: str | None = None
    metadata: Mapping[str, Any] | None = None
    tags: Sequence[str] | None = None

    FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Profile:
        """The profile fields of a CometChat-shaped body (other keys are not looked at)."""
        return cls(**{key: body.get(key) for key in cls.FIELDS})

    def to_api(self) -> dict[str, Any]:
        """The fields given, as CometChat's body spells them (not yet validated)."""
        return {key: value for key, value in self.kwargs().items() if value is not None}

    def kwargs(self) -> dict[str, Any]:
        """As keyword arguments of ``CometChatClient.create_user`` / ``update_user``."""
        return {key: getattr(self, key) for key in self.FIELDS}


Profile.FIELDS = tuple(item.name for item in fields(Profile))


@dataclass(frozen=True)
class User:
    uid: str
    name: str
    avatar: str | None = None
    link: str | None = None
    role: str = "default"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    status_message: str | None = None
    status: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    # Only set on a create with ``withAuthToken: true`` (or by the client's duplicate recovery).
    auth_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> User:
        try:
            return cls(
                uid=str(data["uid"]),
                name=str(data.get("name", data["uid"])),
                avatar=data.get("avatar"),
                link=data.get("link"),
                role=str(data.get("role") or "default"),
                metadata=dict(data.get("metadata") or {}),
                tags=tuple(data.get("tags") or ()),
                status_message=data.get("statusMessage"),
                status=data.get("status"),
                created_at=_int_or_none(data.get("createdAt")),
                updated_at=_int_or_none(data.get("updatedAt")),
                auth_token=data.get("authToken"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise UpstreamBadResponseError(f"unexpected user object from CometChat ({exc!r})") from exc

    def to_dict(self, *, include_token: bool = False) -> dict[str, Any]:
        """The CometChat (camelCase) shape, unset fields left out as CometChat does."""
        out: dict[str, Any] = {"uid": self.uid, "name": self.name}
        optional = {
            "avatar": self.avatar,
            "link": self.link,
            "role": self.role,
            "metadata": dict(self.metadata) or None,
            "tags": list(self.tags) or None,
            "statusMessage": self.status_message,
            "status": self.status,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        out.update({key: value for key, value in optional.items() if value is not None})
        if include_token and self.auth_token:
            out["authToken"] = self.auth_token
        return out


@dataclass(frozen=True)
class AuthToken:
    uid: str
    auth_token: str
    created_at: int | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AuthToken:
        try:
            return cls(
                uid=str(data["uid"]),
                auth_token=str(data["authToken"]),
                created_at=_int_or_none(data.get("createdAt")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise UpstreamBadResponseError(f"unexpected token object from CometChat ({exc!r})") from exc

    def __repr__(self) -> str:  # a token is a credential: keep it out of reprs and logs
        return f"AuthToken(uid={self.uid!r}, auth_token='***', created_at={self.created_at!r})"


def _iso_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class PushToken:
    """A device's push registration, tied to one auth token (times: ISO-8601 in CometChat's answer)."""

    push_token: str = field(repr=False)
    auth_token: str = field(repr=False)
    uid: str | None = None
    platform: str | None = None
    provider_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PushToken:
        try:
            return cls(
                push_token=str(data["pushToken"]),
                auth_token=str(data["authToken"]),
                uid=str(data["uid"]) if data.get("uid") is not None else None,
                platform=data.get("platform"),
                provider_id=data.get("providerId"),
                created_at=_iso_or_none(data.get("createdAt")),
                updated_at=_iso_or_none(data.get("updatedAt")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise UpstreamBadResponseError(f"unexpected push token object from CometChat ({exc!r})") from exc


@dataclass(frozen=True)
class RateLimitInfo:
    """The last ``X-RateLimit-*`` (or older ``X-Rate-Limit-*``) figures seen."""

    limit: int | None = None
    remaining: int | None = None


@dataclass(frozen=True)
class ImportOutcome:
    """One row of a data import: the user it created, or the error it failed with.

    An ``ERR_UID_ALREADY_EXISTS`` row is a failure here; whether that counts as done is the
    importer's call (it does: a row that landed before is not imported twice)."""

    uid: str
    user: User | None = None
    error: CometChatError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
