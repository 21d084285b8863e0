"""The three ways a request can be refused, shared by every domain module and mapped to
HTTP statuses in one place (web.app)."""

from __future__ import annotations


class NotFound(LookupError):
    """The thing asked for does not exist (or the capability does not grant it): 404."""


class Invalid(ValueError):
    """Input the customer or jeweler can correct; `field` names where: 422."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Conflict(RuntimeError):
    """The request is valid but not now (wrong order status, queue full): 409."""
