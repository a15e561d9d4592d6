"""Ids the code looks up under a computed name (``"status." + status``), listed for extraction.

Nothing imports this module at run time: ``make messages`` reads it, and the catalogue test
checks that every catalogue entry is either here or used literally in the code.
"""

from __future__ import annotations

from scheduler.i18n import N_

CHANNEL_STATUSES = (
    N_("channel_status.needs_reauth"),
    N_("channel_status.ok"),
    N_("channel_status.paused"),
)
COVER_VARIABLES = (
    N_("cover_var.author"),
    N_("cover_var.date"),
    N_("cover_var.description"),
    N_("cover_var.place"),
    N_("cover_var.quote"),
    N_("cover_var.role"),
    N_("cover_var.subtitle"),
    N_("cover_var.title"),
)
NOTICES = (
    N_("done.approved"),
    N_("done.cancelled"),
    N_("done.confirmed"),
    N_("done.logged_out"),
    N_("done.password_changed"),
    N_("done.password_reset"),
    N_("done.paused"),
    N_("done.queued"),
    N_("done.reconnected"),
    N_("done.rescheduled"),
    N_("done.resumed"),
    N_("done.retried"),
    N_("done.saved_draft"),
    N_("done.sent_back"),
    N_("done.sessions_ended"),
    N_("done.staff_activated"),
    N_("done.staff_deactivated"),
    N_("done.staff_imported"),
    N_("done.staff_linked"),
    N_("done.staff_unlinked"),
    N_("done.submitted"),
    N_("done.user_added"),
    N_("done.user_disabled"),
    N_("done.user_enabled"),
)
MODES = (
    N_("mode.live"),
    N_("mode.sandbox"),
)
NAVIGATION = (N_("nav.compose"),)
PLATFORMS = (
    N_("platform.facebook"),
    N_("platform.zalo"),
)
QUEUE_PERIODS = (
    N_("queue.all"),
    N_("queue.past"),
    N_("queue.upcoming"),
)
REPORT_CHOICES = (
    N_("reports.by_campaign"),
    N_("reports.by_channel"),
    N_("reports.by_day"),
    N_("reports.by_staff"),
    N_("reports.by_unit"),
    N_("reports.last_30"),
    N_("reports.last_month"),
    N_("reports.this_month"),
)
ROLES = (
    N_("role.admin"),
    N_("role.approver"),
    N_("role.editor"),
    N_("role.staff"),
)
STATUSES = (
    N_("status.blocked"),
    N_("status.cancelled"),
    N_("status.draft"),
    N_("status.failed"),
    N_("status.missed"),
    N_("status.pending_approval"),
    N_("status.published"),
    N_("status.publishing"),
    N_("status.scheduled"),
    N_("status.unknown"),
)
TODOS = (
    N_("todo.blocked"),
    N_("todo.failed"),
    N_("todo.missed"),
    N_("todo.unknown"),
)
WEEKDAYS = (
    N_("weekday.0"),
    N_("weekday.1"),
    N_("weekday.2"),
    N_("weekday.3"),
    N_("weekday.4"),
    N_("weekday.5"),
    N_("weekday.6"),
)
WEEKDAYS_SHORT = (
    N_("weekday_short.0"),
    N_("weekday_short.1"),
    N_("weekday_short.2"),
    N_("weekday_short.3"),
    N_("weekday_short.4"),
    N_("weekday_short.5"),
    N_("weekday_short.6"),
)
DISPATCH_COUNTS = (
    N_("dispatch.published"),
    N_("dispatch.unknown"),
    N_("dispatch.failed"),
    N_("dispatch.blocked"),
    N_("dispatch.deferred"),
    N_("dispatch.missed"),
    N_("dispatch.reconciled"),
)
# Wordings the console uses next to a form field instead of the CLI's (see web/i18n.py).
WEB_WORDINGS = (N_("error.template_needs_variable.web"),)
