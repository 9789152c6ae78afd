"""Room names and message texts, shared by the views and the namespace."""

import re

DEFAULT_ROOM = "lobby"
MAX_TEXT_LENGTH = 500
_ROOM = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}\Z")


def clean_room(value: object) -> str:
    """A valid room name (``lobby`` when empty), or ValueError."""
    if value is None or value == "":
        return DEFAULT_ROOM
    if not isinstance(value, str) or not _ROOM.match(value):
        raise ValueError("a room is 1-32 characters: a-z, 0-9, _ and -")
    return value


def clean_text(value: object) -> str:
    """A message text (stripped, not empty, at most 500 characters), or ValueError."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the text is empty")
    value = value.strip()
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"the text is longer than {MAX_TEXT_LENGTH} characters")
    return value
