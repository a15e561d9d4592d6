"""One error tree for Loa.

Every error carries a message meant for a person: it names the object at fault and, where
there is one, the fix. ``InputError`` and its children are bad input (exit code 2, a form
error next to the field); ``PublishError`` and its children are what a platform answered,
classified at the edge of each publisher so the engine never reads platform codes.
"""

from __future__ import annotations


class LoaError(Exception):
    """Root of every error Loa raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class InputError(LoaError):
    """Input a person gave is wrong: refuse it, store nothing, say how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class ConfigError(InputError):
    """config.toml or a LOA_* variable is malformed."""


class TemplateError(InputError):
    """A message template or cover layout cannot be rendered with the given variables."""


class LimitError(InputError):
    """Rendered content is over a platform's limit."""


class TextDoesNotFit(LimitError):
    """A cover text cannot fit its box even at the layout's smallest font size.

    ``excess`` is about how many characters to cut; ``field`` the variable that fills the box.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        field: str | None = None,
        layout: str,
        box: str,
        target: str,
        excess: int,
    ) -> None:
        super().__init__(message, hint=hint, field=field)
        self.layout = layout
        self.box = box
        self.target = target
        self.excess = excess


class NotFound(InputError):
    """A post, channel, template or layout named by the user does not exist."""


class StoreError(LoaError):
    """The database cannot be used (unreachable, locked past the timeout, disk full)."""


class SchemaMismatch(StoreError):
    """The database's schema revision is not this code's: behind (run `loa init`) or ahead."""


class PublishError(LoaError):
    """A platform refused or failed a call. Subclasses say what the engine should do."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        platform: str = "",
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.platform = platform
        self.code = code
        self.subcode = subcode
        self.http_status = http_status

    @property
    def code_label(self) -> str | None:
        """The platform's code and subcode as stored with an attempt, e.g. ``190/463``."""
        return "/".join(str(c) for c in (self.code, self.subcode) if c is not None) or None


class AuthError(PublishError):
    """The channel's credentials are no longer accepted: an admin must reconnect it."""


class PermanentError(PublishError):
    """The platform will never accept this content as it is: fix the content."""


class DuplicateContent(PermanentError):
    """The platform says it already has this exact content (Facebook 506).

    After an unknown outcome this is evidence that the first attempt succeeded.
    """


class TransientError(PublishError):
    """Try again later; ``retry_after`` (seconds) when the platform said how long."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The platform throttles this channel or app: pause the channel until ``retry_after``."""


class UnknownOutcome(PublishError):
    """The call may or may not have created the post (timeout, lost reply, 5xx on a write).

    Never retried blindly: the reconciler looks for the post on the platform first.
    """
