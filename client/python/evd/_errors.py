"""Exceptions: one per protocol ErrorCode, all under evd.Error."""
from __future__ import annotations

from typing import Optional

from ._types import ErrorCode


class Error(Exception):
    """An error from evd (an Error reply) or from this client.

    code: the protocol's ErrorCode; message: the daemon's text (it names
    the field or limit at fault)."""

    CODE: ErrorCode = ErrorCode.UNSPECIFIED

    def __init__(self, message: str = "", code: Optional[ErrorCode] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code: ErrorCode = code if code is not None else self.CODE

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name


class InvalidArgument(Error, ValueError):
    CODE = ErrorCode.INVALID_ARGUMENT


class NotFound(Error, LookupError):
    CODE = ErrorCode.NOT_FOUND


class PermissionDenied(Error, PermissionError):
    CODE = ErrorCode.PERMISSION_DENIED


class ResourceExhausted(Error):
    CODE = ErrorCode.RESOURCE_EXHAUSTED


class Unavailable(Error):
    CODE = ErrorCode.UNAVAILABLE


class Internal(Error):
    CODE = ErrorCode.INTERNAL


class ProtocolError(Error):
    """The daemon found a protocol error and closes the connection (or
    this client could not make sense of what the daemon sent)."""

    CODE = ErrorCode.PROTOCOL


class UnsupportedVersion(Error):
    CODE = ErrorCode.UNSUPPORTED_VERSION


class FailedPrecondition(Error):
    CODE = ErrorCode.FAILED_PRECONDITION


class ConnectionLost(Unavailable, ConnectionError):
    """The connection to evd failed or was closed before the reply. The
    request may or may not have taken effect, unless the client resent it
    safely (reconnection; see connect())."""


class TimersLost(ConnectionLost):
    """Caller timers (scheduled without channel or exec) died with their
    connection: they never fire. timer_ids names them."""

    def __init__(self, message: str, timer_ids: list[int]) -> None:
        super().__init__(message)
        self.timer_ids = timer_ids


_BY_CODE = {c.CODE: c for c in (InvalidArgument, NotFound, PermissionDenied,
                                ResourceExhausted, Unavailable, Internal,
                                ProtocolError, UnsupportedVersion,
                                FailedPrecondition)}


def from_code(code: int, message: str) -> Error:
    """The exception for an Error reply."""
    try:
        ec = ErrorCode(code)
    except ValueError:
        return Error(f"(code {code}) {message}", ErrorCode.UNSPECIFIED)
    return _BY_CODE.get(ec, Error)(message, ec)
