"""One error tree for Loa.

Every error carries a message meant for a person: it names the object at fault and, where
there is one, the fix. ``InputError`` and its children are bad input (exit code 2, a form
error next to the field); ``PublishError`` and its children are what a platform answered,
classified at the edge of each publisher so the engine never reads platform codes.

The message and the hint are catalogue ids with parameters (``msg("error.post_not_draft",
post=3)``, see :mod:`scheduler.i18n`), rendered in the reader's language at the edge by
:func:`render_error`; ``str(exc)`` and ``exc.message`` use the process language (logs). A
plain text that is no catalogue id is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.i18n import Message, process_lang, translate

Text = str | Message


def _split(text: Text) -> tuple[str, Mapping[str, object]]:
    return (text.id, text.params) if isinstance(text, Message) else (text, {})


class LoaError(Exception):
    """Root of every error Loa raises on purpose."""

    def __init__(self, message: Text, *, hint: Text | None = None) -> None:
        self.msgid, self.params = _split(message)
        self.hint_id: str | None
        self.hint_params: Mapping[str, object]
        self.hint_id, self.hint_params = _split(hint) if hint is not None else (None, {})
        super().__init__(self.msgid)

    @property
    def message(self) -> str:
        return translate(process_lang(), self.msgid, **self.params)

    @property
    def hint(self) -> str | None:
        return translate(process_lang(), self.hint_id, **self.hint_params) if self.hint_id else None

    def __str__(self) -> str:
        return render_error(self, process_lang())


def render_error(exc: LoaError, lang: str, *, separator: str = "\n  → ", hint: bool = True) -> str:
    """The error as a person reads it in ``lang``: the message, then the hint after ``separator``."""
    text = translate(lang, exc.msgid, **exc.params)
    if hint and exc.hint_id:
        return text + separator + translate(lang, exc.hint_id, **exc.hint_params)
    return text


class InputError(LoaError):
    """Input a person gave is wrong: refuse it, store nothing, say how to fix it."""

    def __init__(self, message: Text, *, hint: Text | None = None, field: str | None = None) -> None:
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
        message: Text,
        *,
        hint: Text | None = None,
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


class Busy(LoaError):
    """The process is doing as much heavy work as it allows (scheduler.bounds.HeavyWork): try again soon."""

    def __init__(self, message: Text, *, hint: Text | None = None, retry_after: int = 5) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class StoreError(LoaError):
    """The database cannot be used (unreachable, locked past the timeout, disk full)."""


class SchemaMismatch(StoreError):
    """The database's schema revision is not this code's: behind (run `loa init`) or ahead."""


class PublishError(LoaError):
    """A platform refused or failed a call. Subclasses say what the engine should do."""

    def __init__(
        self,
        message: Text,
        *,
        hint: Text | None = None,
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

    def __init__(self, message: Text, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The platform throttles this channel or app: pause the channel until ``retry_after``."""


class UnknownOutcome(PublishError):
    """The call may or may not have created the post (timeout, lost reply, 5xx on a write).

    Never retried blindly: the reconciler looks for the post on the platform first.
    """


class DeliveryError(LoaError):
    """An alert or report could not be handed over (SMTP refused or timed out, a webhook
    answered badly): the outbox tries again later, never drops it."""


def stored_error(exc: LoaError) -> str:
    """The error as kept in a column (a publication's or channel's last error), worded when read."""
    from scheduler.i18n import msg, stored

    hint = msg(exc.hint_id, **exc.hint_params) if exc.hint_id else None
    return stored(msg(exc.msgid, **exc.params), hint)
