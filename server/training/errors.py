"""The one exception a training run ends with when the user can do something about it."""

from __future__ import annotations


class TrainingError(Exception):
    """A run cannot go on: `message` says what happened, `hint` what to try."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def as_dict(self) -> dict:
        """`{message, hint}` as the API and events carry it."""
        return {"message": self.message, "hint": self.hint}
