"""User-facing errors and the CLI wrapper that turns them into one-line messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


class LipsyncError(Exception):
    """An expected problem with the user's input (bad file, no face, unwritable path...).

    Commands print ``error: <message>`` and exit with status 2 instead of a traceback.
    """


def exit_on_user_error(fn: F) -> F:
    """Decorate a command body so a :class:`LipsyncError` becomes a one-line error, exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LipsyncError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
