"""The one exception type for user mistakes.

Anything the user can fix (a bad preset name, a missing folder, an unreadable checkpoint)
raises :class:`UserError`. The CLI prints its message on one line and exits with code 2;
everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input, reported as one line and exit code 2."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for
    turning a library's multi-line error into a one-line :class:`UserError`."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
