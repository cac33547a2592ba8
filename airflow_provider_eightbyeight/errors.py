"""
Exceptions raised by the 8x8 Cloud Storage provider.

Every error names what went wrong, where (HTTP status, method and path when a request was involved)
and what the user can do about it. None of them ever carries the API secret or a bearer token:
messages are built from the request path and the server's own message only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_eightbyeight.compat import AirflowException, AirflowFailException

#: Longest server message quoted in an exception; the rest is cut to keep task logs readable.
MAX_SERVER_MESSAGE = 500


class EightByEightError(AirflowException):
    """
    Base class of every error raised by this provider.

    :param message: What went wrong, in the user's terms.
    :param status: HTTP status code, when a response was received.
    :param method: HTTP method of the failed request.
    :param path: URL path of the failed request (never a query string with credentials).
    :param server_message: The message the server sent, if any (quoted, shortened).
    :param hint: What the user can do to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        server_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.server_message = _shorten(server_message) if server_message else None
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        where = []
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        if self.method and self.path:
            where.append(f"on {self.method} {self.path}")
        if where:
            text += f" ({' '.join(where)})"
        if self.server_message:
            text += f"; 8x8 said: {self.server_message}"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:  # keep exceptions picklable with their keyword arguments
        return (
            _rebuild,
            (
                type(self),
                self.message,
                {
                    "status": self.status,
                    "method": self.method,
                    "path": self.path,
                    "server_message": self.server_message,
                    "hint": self.hint,
                },
            ),
        )


def _rebuild(cls: type[EightByEightError], message: str, kwargs: dict) -> EightByEightError:
    return cls(message, **kwargs)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_SERVER_MESSAGE:
        return text[: MAX_SERVER_MESSAGE - 3] + "..."
    return text


class NotRetryableError(EightByEightError, AirflowFailException):
    """
    An error no retry of the task can cure: a wrong secret, a missing permission, an invalid connection or argument.

    An ``AirflowFailException``: Airflow fails the task at once instead of spending its ``retries`` on the same
    mistake (and, for credentials, on 8x8's patience). Transient errors (network, 5xx, 429, checksums) are not.
    """


class ConfigurationError(NotRetryableError, ValueError):
    """The connection or an argument is invalid; nothing was sent to 8x8."""


class TLSVerificationError(ConfigurationError):
    """8x8's TLS certificate (or the one a TLS-inspecting proxy shows) was not trusted: set ``ca_bundle``."""


class ProxyRefusedError(ConfigurationError):
    """The proxy asked for credentials (HTTP 407) or refused the tunnel to 8x8."""


class AuthenticationError(NotRetryableError):
    """8x8 refused the API key and secret, the app was revoked, or a token was rejected twice."""


class PermissionDeniedError(NotRetryableError):
    """Authenticated, but the key may not do this (HTTP 403 or no ``storage`` product)."""


class NotFoundError(EightByEightError):
    """The object, zip or path does not exist in the region that was asked (HTTP 404)."""


class RegionError(NotRetryableError, ValueError):
    """The region is unknown to the account, or several regions exist and none was chosen."""


class InvalidRequestError(EightByEightError):
    """8x8 rejected the request as malformed (HTTP 400 or 405), e.g. an invalid FIQL filter."""


class ApiError(EightByEightError):
    """8x8 answered with an error it did not explain (5xx, an unexpected status, an unreadable body)."""


class RateLimitError(ApiError):
    """8x8 kept answering HTTP 429 after every retry."""


class TransportError(EightByEightError):
    """The connection failed or timed out on every attempt."""


class IntegrityError(EightByEightError):
    """Downloaded bytes do not match the object's size or MD5 checksum on any attempt."""


class ObjectNotAvailableError(EightByEightError):
    """
    The object exists but is not AVAILABLE (archived, revoked, pending...), so it cannot be downloaded.

    :param state: Optional. The object's current state at 8x8, when known (e.g. ``"PENDING"``).
    """

    def __init__(self, message: str, *, state: str | None = None, **kwargs: Any) -> None:
        self.state = state
        super().__init__(message, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild, (cls, message, kwargs) = super().__reduce__()
        return rebuild, (cls, message, {**kwargs, "state": self.state})


class BulkJobError(EightByEightError):
    """A bulk (zip) download job ended FAILED or CANCELLED, or its zip could not be read."""


#: Longest trigger message quoted in the error raised after a deferral (the event is untrusted input).
MAX_EVENT_MESSAGE = 2000


class TransferError(EightByEightError):
    """Some objects could not be copied (listed in the message); everything else was."""


class ManifestWriteError(TransferError):
    """
    The run's manifest could not be written (a full disk, lost access): the message names the manifest, the
    destination, the counts, what was deleted and the objects not copied; the storage error is its cause.
    """


class PathTakenError(EightByEightError):
    """Another writer published a different file at an object's path while it was being copied."""


def error_from_event(event: Mapping[str, Any], prefix: str) -> EightByEightError:
    """
    The error a trigger's ``{"status": "error", ...}`` event reports, raised in the task as it would have been
    raised without deferring: the same class when ``error_type`` names one of this module's errors (so a wrong
    secret fails the task at once in the triggerer as in a worker), else :class:`EightByEightError`.

    The event is untrusted input: an unknown, missing or non-string ``error_type`` or ``message`` only makes
    the error plainer, and the message is cut to :data:`MAX_EVENT_MESSAGE` characters.

    :param event: The trigger's event.
    :param prefix: What failed, in the user's terms ("Waiting for 8x8 objects failed").
    """
    name = event.get("error_type")
    cls = _BY_NAME.get(name, EightByEightError) if isinstance(name, str) else EightByEightError
    message = event.get("message")
    text = " ".join(message.split())[:MAX_EVENT_MESSAGE] if isinstance(message, str) else "no reason given"
    return cls(f"{prefix}: {text or 'no reason given'}")


__all__ = [
    "ApiError",
    "AuthenticationError",
    "BulkJobError",
    "ConfigurationError",
    "EightByEightError",
    "IntegrityError",
    "InvalidRequestError",
    "ManifestWriteError",
    "NotFoundError",
    "NotRetryableError",
    "ObjectNotAvailableError",
    "PathTakenError",
    "PermissionDeniedError",
    "ProxyRefusedError",
    "RateLimitError",
    "RegionError",
    "TLSVerificationError",
    "TransferError",
    "TransportError",
    "error_from_event",
]

_BY_NAME: dict[str, type[EightByEightError]] = {
    name: cls
    for name, cls in list(globals().items())
    if isinstance(cls, type) and issubclass(cls, EightByEightError) and name in __all__
}
