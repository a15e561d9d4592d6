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
# Audit actions and the names of their details, shown by the audit page (scheduler/audit.py).
AUDIT_ACTIONS = (
    N_("audit_action.auth.forbidden"),
    N_("audit_action.auth.login"),
    N_("audit_action.auth.login_failed"),
    N_("audit_action.auth.logout"),
    N_("audit_action.auth.password_change"),
    N_("audit_action.auth.password_change_failed"),
    N_("audit_action.auth.throttled"),
    N_("audit_action.channel.pause"),
    N_("audit_action.channel.reconnect"),
    N_("audit_action.channel.resume"),
    N_("audit_action.clicks.recount"),
    N_("audit_action.database.restore"),
    N_("audit_action.post.approve"),
    N_("audit_action.post.cancel"),
    N_("audit_action.post.edit"),
    N_("audit_action.post.reschedule"),
    N_("audit_action.post.send_back"),
    N_("audit_action.post.submit"),
    N_("audit_action.publication.confirm"),
    N_("audit_action.publication.retry"),
    N_("audit_action.share.export"),
    N_("audit_action.share.record"),
    N_("audit_action.staff.activate"),
    N_("audit_action.staff.deactivate"),
    N_("audit_action.staff.import"),
    N_("audit_action.user.add"),
    N_("audit_action.user.disable"),
    N_("audit_action.user.enable"),
    N_("audit_action.user.password"),
    N_("audit_action.user.sessions_ended"),
    N_("audit_action.user.staff_link"),
    N_("audit_action.user.staff_unlink"),
    N_("audit_action.user.token"),
)
AUDIT_DETAILS = (
    N_("audit_detail.reason"),
    N_("audit_detail.held"),
    N_("audit_detail.set_aside"),
    N_("audit_detail.ip"),
    N_("audit_detail.via"),
    N_("audit_detail.staff"),
    N_("audit_detail.sessions_ended"),
    N_("audit_detail.permission"),
    N_("audit_detail.who"),
    N_("audit_detail.updated"),
    N_("audit_detail.until"),
    N_("audit_detail.units_created"),
    N_("audit_detail.unchanged"),
    N_("audit_detail.token"),
    N_("audit_detail.to"),
    N_("audit_detail.rows"),
    N_("audit_detail.role"),
    N_("audit_detail.released"),
    N_("audit_detail.published"),
    N_("audit_detail.publication"),
    N_("audit_detail.platform"),
    N_("audit_detail.permalink"),
    N_("audit_detail.path"),
    N_("audit_detail.other_sessions_ended"),
    N_("audit_detail.from"),
    N_("audit_detail.file"),
    N_("audit_detail.credential"),
    N_("audit_detail.created"),
    N_("audit_detail.counted_before"),
    N_("audit_detail.counted_after"),
    N_("audit_detail.clicks"),
    N_("audit_detail.channels"),
    N_("audit_detail.changed"),
)
AUDIT_REASONS = (N_("audit_reason.stale_csrf"), N_("audit_reason.own_post"))
# What an asset file is, in messages about assets/ (render/fonts.py asset_path).
ASSET_KINDS = (N_("asset_kind.font"), N_("asset_kind.image"), N_("asset_kind.logo"))
