"""One error taxonomy for every surface.

Services raise these; each API dialect maps them to its own error code and HTTP status.
A subclass exists wherever a dialect needs to tell one failure reason from its parent
(MLflow answers a missing alias with INVALID_PARAMETER_VALUE, not with a 404).
"""

from __future__ import annotations


class ModelyardError(Exception):
    """Base of every error a caller is meant to see."""

    #: Set when the error refuses access (PermissionDenied, or a NotFound that hides an object
    #: the caller may not see): (action, object_type, object_name) for the audit trail.
    denied: tuple[str, str, str] | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ModelyardError):
    """The object does not exist (or the caller may not learn that it does)."""


class RegisteredModelNotFound(NotFound):
    pass


class ModelVersionNotFound(NotFound):
    pass


class AliasNotFound(NotFound):
    pass


class AlreadyExists(ModelyardError):
    """A create or rename would take a name that is in use."""


class InvalidArgument(ModelyardError):
    """The request is malformed or breaks a validation rule."""


class InvalidFilter(InvalidArgument):
    """A search filter or order_by clause that cannot be parsed or is not allowed."""


class InvalidPageToken(InvalidArgument):
    pass


class Unauthenticated(ModelyardError):
    pass


class PermissionDenied(ModelyardError):
    pass


class FailedPrecondition(ModelyardError):
    """The request is well formed but the object is not in a state that allows it."""


class Conflict(ModelyardError):
    """A concurrent change won; retrying may succeed."""


class PayloadTooLarge(ModelyardError):
    """A request body is bigger than the server accepts for its kind of request."""


class TooManyAttempts(ModelyardError):
    """Password sign-in for this user name is locked for a while after repeated failures."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        #: Whole seconds until the lock ends (the Retry-After header).
        self.retry_after = retry_after


class Unavailable(ModelyardError):
    """A part the request needs (the database, the object store) cannot be reached now; the
    same request may succeed once it is back (503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after
