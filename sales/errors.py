"""The few domain errors front doors turn into friendly text. Messages say what to do next."""

from __future__ import annotations


class SalesError(Exception):
    """Base class: a request the domain refuses, with a message a user can act on."""


class NotFound(SalesError):
    pass


class PermissionDenied(SalesError):
    pass


class InvalidInput(SalesError):
    """One or more fields are wrong; ``problems`` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in self.problems.items()))


class DuplicateRecord(SalesError):
    def __init__(self, message: str, existing_id: int) -> None:
        self.existing_id = existing_id
        super().__init__(message)


class TransitionNotAllowed(SalesError):
    def __init__(self, message: str, allowed: list[str]) -> None:
        self.allowed = list(allowed)
        super().__init__(message)


class ApprovalRequired(SalesError):
    """A guarded action (send, qualify) was attempted without an approved decision row."""
