"""The one error the services raise for a request they refuse."""


class Rejected(ValueError):
    """A request that is well-formed but not allowed in the current state; the message says why."""
