"""The shapes of the API: what a call takes and what it answers.

Responses are the shapes the CLI prints with ``--json`` (``loa post show --json``,
``loa report shares --format json``). Response models forbid fields they do not name, so a
field added to what the CLI prints fails the API tests until it is added here, and the
OpenAPI document (generated from these models) says it too. Times and days stay the strings
the CLI prints: a model must not re-format them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

from scheduler.models import PublicationStatus

DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]
# The values of scheduler.reports.queries.Dimension (a test keeps the two lists equal).
Dimension = Literal["staff", "unit", "campaign", "channel", "day"]


def _platforms(schema: dict[str, Any]) -> None:
    # Read when the document is built, so a platform added to the registry is listed.
    from scheduler.channels.registry import registry

    schema["enum"] = sorted(registry())


class Answer(BaseModel):
    """A response body: every field named, nothing else."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Answer):
    message: str = Field(description="what went wrong, for a person")
    hint: str | None = Field(description="how to fix it")
    field: str | None = Field(description="the input at fault")
    id: str | None = Field(description="the message's catalogue id, the same in every language")


class Error(Answer):
    """Every refusal: the CLI's message, the fix, and the field at fault."""

    error: ErrorDetail


class Metrics(Answer):
    views: int
    reach: int
    reactions: int
    comments: int
    shares: int


class Publication(Answer):
    """One channel's copy of a post."""

    id: int
    channel: str
    platform: str = Field(json_schema_extra=_platforms)
    status: PublicationStatus
    text: str
    title: str | None
    description: str | None
    cover: str | None = Field(description="the cover image file, in the media folder")
    attempts: int
    remote_id: str | None
    permalink: str | None
    published_at: DateTime | None
    error: str | None
    metrics: Metrics


class MediaEntry(Answer):
    """One item of the media library, as `loa media list --json` prints it."""

    id: int
    kind: Literal["photo", "video"]
    sha256: str
    width: int
    height: int
    duration_s: float | None
    bytes: int
    alt: str
    content_type: str
    file: str = Field(description="the stored file, in the media folder")
    thumbnail: str | None
    name: str = Field(description="the file's name when it was added")
    created_at: DateTime


class MediaList(Answer):
    media: list[MediaEntry]


class Post(Answer):
    """The shape of `loa post show --json`."""

    id: int
    status: PublicationStatus
    scheduled_at: DateTime
    text: str
    template: str
    variables: dict[str, str]
    campaign: str | None
    link: str | None
    cover_layout: str | None
    created_by: str
    words: dict[str, Any] = Field(
        description="what the person wrote, as written: text, title, description, overrides (platform → "
        "its own text, title, description); empty for a post from a template"
    )
    media: list[MediaEntry]
    publications: list[Publication]


class QueuedPost(Post):
    """A post just queued, with what is worth knowing but was not refused."""

    warnings: list[str] = Field(description="e.g. the same text queued on a channel within the window")


class PostList(Answer):
    posts: list[Post]


class ShareRow(Answer):
    key: str | int | None = Field(description="the staff id, unit code, campaign slug, channel id or day")
    label: str
    unit: str | None
    shares: int
    clicks: int
    button: int
    self_report: int


class ShareTotals(Answer):
    shares: int
    clicks: int
    button: int
    self_report: int


class ShareReport(Answer):
    """The shape of `loa report shares --format json`."""

    from_: Day = Field(alias="from")
    to: Day
    by: Dimension
    rows: list[ShareRow]
    totals: ShareTotals


# -- what calls take -------------------------------------------------------------------------

Text = StrictStr | None


class PlatformText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = None
    title: Text = None
    description: Text = None


class NewPost(BaseModel):
    """The fields of `loa post add`; exactly one of `at` and `now`, of `template` and `text`."""

    model_config = ConfigDict(extra="forbid")

    template: Text = Field(default=None, description="the name of a message template")
    text: Text = Field(default=None, description="the post's words, written directly")
    title: Text = Field(default=None, description="article title, where posts have one")
    description: Text = Field(default=None, description="article description, where posts have one")
    overrides: dict[str, PlatformText] = Field(default_factory=dict, description="platform name → its own words")
    media: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, description="media library ids, in order"
    )
    reel: StrictBool = Field(default=False, description="the video goes out as a Reel; refused if it does not fit")
    channels: list[StrictStr] | StrictStr | None = Field(default=None, description="channel ids")
    channel: list[StrictStr] | StrictStr | None = Field(default=None, description="the same as channels, as --channel")
    variables: dict[str, StrictStr | StrictInt | StrictFloat] = Field(default_factory=dict)
    var: list[StrictStr] = Field(default_factory=list, description="K=V, as --var")
    at: Text = Field(
        default=None,
        description="local time in the configured zone unless it has an offset",
        examples=["2026-05-06T08:00", "2026-05-06T08:00+07:00"],
    )
    now: StrictBool = False
    cover: Text = Field(default=None, description="cover layout")
    campaign: Text = Field(default=None, description="campaign slug")
    link: Text = Field(default=None, json_schema_extra={"format": "uri"})
    draft: StrictBool = Field(default=False, description="save without queueing")


class PostChanges(BaseModel):
    """What `PATCH /api/posts/{post_id}` may change (as `loa post edit`); absent fields stay."""

    model_config = ConfigDict(extra="forbid")

    text: Text = None
    title: Text = None
    description: Text = None
    overrides: dict[str, PlatformText] | None = None
    media: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = None
    channels: list[StrictStr] | None = None
    at: Text = Field(default=None, description="local time in the configured zone unless it has an offset")
    link: Text = None


class Approval(BaseModel):
    """What `POST /api/posts/{post_id}/approve` may take; other fields are ignored."""

    channels: list[StrictStr] | None = Field(default=None, description="approve only these channels")


def _blank_is_none(value: object) -> object:
    # A query string built from a form sends empty parameters: they mean "any".
    return None if value == "" else value


class PostQuery(BaseModel):
    status: PublicationStatus | None = None
    campaign: str | None = Field(default=None, description="campaign slug")
    channel: str | None = Field(default=None, description="channel id")
    limit: int = Field(default=200, ge=1, le=1000)

    _blank = field_validator("status", "campaign", "channel", mode="before")(_blank_is_none)


class ShareQuery(BaseModel):
    from_: str = Field(alias="from", description="first day, YYYY-MM-DD or dd/mm/yyyy")
    to: str = Field(description="last day, included")
    by: Dimension = "unit"

    @field_validator("by", mode="before")
    @classmethod
    def _dimension(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


# Shown in the document though the API reads them itself (see routes.json_body).
BODY_MODELS: tuple[type[BaseModel], ...] = (NewPost, PostChanges, Approval)
