"""The console's words: Vietnamese first, English second, in one small catalogue.

``CATALOGUE[key] = (vietnamese, english)``; ``{name}`` placeholders are filled by
``str.format``. Validation messages come from the services in English (they are the CLI's
messages); :func:`translate_error` gives the Vietnamese wording of the common ones and
falls back to the English message and hint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from scheduler.errors import InputError, LoaError

LANGS = ("vi", "en")

# Status → colour family of its badge (CSS classes badge-<family>).
STATUS_CLASS = {
    "draft": "neutral",
    "pending_approval": "wait",
    "scheduled": "info",
    "publishing": "info",
    "published": "ok",
    "unknown": "warn",
    "failed": "bad",
    "blocked": "bad",
    "missed": "warn",
    "cancelled": "neutral",
}

CATALOGUE: dict[str, tuple[str, str]] = {
    "app.name": ("Bảng điều khiển", "Console"),
    "a11y.skip": ("Bỏ qua, đến nội dung chính", "Skip to main content"),
    "lang.other": ("English", "Tiếng Việt"),
    # navigation
    "nav.label": ("Điều hướng chính", "Main navigation"),
    "nav.dashboard": ("Tổng quan", "Dashboard"),
    "nav.compose": ("Soạn bài", "Compose"),
    "nav.queue": ("Hàng đợi", "Queue"),
    "nav.calendar": ("Lịch đăng", "Calendar"),
    "nav.channels": ("Kênh", "Channels"),
    "nav.staff": ("Cán bộ & đơn vị", "Staff & units"),
    "nav.reports": ("Báo cáo", "Reports"),
    "nav.users": ("Tài khoản", "Users"),
    "nav.audit": ("Nhật ký", "Audit log"),
    "nav.logout": ("Đăng xuất", "Log out"),
    "nav.password": ("Đổi mật khẩu", "Change password"),
    "nav.back_home": ("Về trang tổng quan", "Back to the dashboard"),
    # roles, platforms, modes
    "role.admin": ("Quản trị", "Admin"),
    "role.editor": ("Biên tập", "Editor"),
    "role.approver": ("Duyệt bài", "Approver"),
    "role.staff": ("Cán bộ", "Staff"),
    "platform.facebook": ("Fanpage Facebook", "Facebook Page"),
    "platform.zalo": ("Zalo OA", "Zalo OA"),
    "mode.sandbox": ("Thử nghiệm (sandbox)", "Sandbox"),
    "mode.live": ("Thật (live)", "Live"),
    "common.yes": ("Có", "Yes"),
    "common.no": ("Không", "No"),
    # statuses
    "status.draft": ("Bản nháp", "Draft"),
    "status.pending_approval": ("Chờ duyệt", "Awaiting approval"),
    "status.scheduled": ("Đã lên lịch", "Scheduled"),
    "status.publishing": ("Đang đăng", "Publishing"),
    "status.published": ("Đã đăng", "Published"),
    "status.unknown": ("Chưa rõ kết quả", "Outcome unknown"),
    "status.failed": ("Lỗi", "Failed"),
    "status.blocked": ("Bị giữ", "Held"),
    "status.missed": ("Quá hạn", "Missed"),
    "status.cancelled": ("Đã huỷ", "Cancelled"),
    "channel_status.ok": ("Hoạt động", "Working"),
    "channel_status.needs_reauth": ("Cần kết nối lại", "Needs reconnecting"),
    "channel_status.paused": ("Tạm dừng", "Paused"),
    "todo.failed": (
        "Nền tảng từ chối bài: sửa nội dung theo thông báo lỗi, rồi đăng lại hoặc huỷ.",
        "The platform refused the post: fix what the error says, then retry or cancel.",
    ),
    "todo.blocked": (
        "Kênh cần kết nối lại: dán mã truy cập mới ở trang Kênh; bài bị giữ sẽ tự đăng tiếp.",
        "The channel needs reconnecting: paste a new token on the Channels page; held posts then go out.",
    ),
    "todo.unknown": (
        "Không rõ bài đã lên chưa: xem trên Fanpage/OA rồi xác nhận «đã đăng» hoặc «chưa có» (đăng lại).",
        "It is not known whether the post went out: look on the Page/OA, then confirm it is there or absent.",
    ),
    "todo.missed": (
        "Bài quá hạn khi hệ thống ngừng chạy: dời sang giờ mới hoặc đăng lại ngay.",
        "The post fell due while Loa was stopped: reschedule it or publish it now.",
    ),
    "weekday.0": ("Thứ Hai", "Monday"),
    "weekday.1": ("Thứ Ba", "Tuesday"),
    "weekday.2": ("Thứ Tư", "Wednesday"),
    "weekday.3": ("Thứ Năm", "Thursday"),
    "weekday.4": ("Thứ Sáu", "Friday"),
    "weekday.5": ("Thứ Bảy", "Saturday"),
    "weekday.6": ("Chủ Nhật", "Sunday"),
    "weekday_short.0": ("T2", "Mon"),
    "weekday_short.1": ("T3", "Tue"),
    "weekday_short.2": ("T4", "Wed"),
    "weekday_short.3": ("T5", "Thu"),
    "weekday_short.4": ("T6", "Fri"),
    "weekday_short.5": ("T7", "Sat"),
    "weekday_short.6": ("CN", "Sun"),
    # login
    "login.title": ("Đăng nhập", "Log in"),
    "login.lead": (
        "Lên lịch, duyệt và theo dõi tin bài trên Fanpage và Zalo OA.",
        "Schedule, approve and follow posts on Facebook Pages and Zalo OAs.",
    ),
    "login.username": ("Tên đăng nhập", "Username"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Log in"),
    "login.wrong": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "login.throttled": (
        "Đăng nhập sai quá nhiều lần. Thử lại sau {minutes} phút.",
        "Too many failed logins. Try again in {minutes} minutes.",
    ),
    "login.expired": (
        "Phiên làm việc đã hết hạn. Vui lòng đăng nhập lại.",
        "Your session has ended. Please log in again.",
    ),
    "login.stale": (
        "Trang đăng nhập đã mở quá lâu. Vui lòng đăng nhập lại.",
        "The login page was open too long. Please log in again.",
    ),
    # flashes after an action (?done=…)
    "done.logged_out": ("Đã đăng xuất.", "You are logged out."),
    "done.approved": ("Đã duyệt bài.", "Post approved."),
    "done.sent_back": ("Đã trả lại bài cho người soạn.", "Post sent back to its author."),
    "done.cancelled": ("Đã huỷ những gì chưa đăng.", "Everything not yet published is cancelled."),
    "done.submitted": ("Đã gửi bài.", "Post submitted."),
    "done.rescheduled": ("Đã dời lịch.", "Post rescheduled."),
    "done.retried": ("Đã xếp lịch đăng lại.", "Queued again."),
    "done.confirmed": ("Đã ghi nhận xác nhận.", "Confirmation recorded."),
    "done.saved_draft": ("Đã lưu bản nháp.", "Draft saved."),
    "done.queued": (
        "Đã gửi bài: bài lên lịch hoặc chờ duyệt theo từng kênh.",
        "Post queued: scheduled, or awaiting approval where a channel needs it.",
    ),
    "done.reconnected": ("Đã lưu mã truy cập mới; kênh hoạt động lại.", "New token saved; the channel works again."),
    "done.paused": ("Đã tạm dừng kênh.", "Channel paused."),
    "done.resumed": ("Kênh đã hoạt động lại.", "Channel resumed."),
    "done.user_added": ("Đã tạo tài khoản.", "Account created."),
    "done.user_disabled": (
        "Đã khoá tài khoản; mọi phiên đăng nhập của người đó đã kết thúc.",
        "Account disabled; all its sessions have ended.",
    ),
    "done.user_enabled": ("Đã mở khoá tài khoản.", "Account enabled."),
    "done.password_changed": (
        "Đã đổi mật khẩu; các phiên đăng nhập khác đã kết thúc.",
        "Password changed; your other sessions have ended.",
    ),
    "done.password_reset": (
        "Đã đặt mật khẩu mới; người dùng đã bị đăng xuất khỏi mọi thiết bị.",
        "New password set; the user is logged out everywhere.",
    ),
    "done.staff_linked": ("Đã gắn tài khoản với cán bộ.", "Account linked to the staff member."),
    "done.staff_unlinked": ("Đã bỏ gắn tài khoản với cán bộ.", "Account unlinked from its staff member."),
    "done.sessions_ended": ("Đã đăng xuất người dùng khỏi mọi thiết bị.", "The user is logged out everywhere."),
    "done.staff_imported": ("Đã nhập danh sách cán bộ.", "Staff list imported."),
    "done.staff_deactivated": ("Đã ngừng theo dõi cán bộ này.", "Staff member deactivated."),
    "form.stale": (
        "Biểu mẫu đã hết hạn (phiên đăng nhập mới hoặc mở quá lâu). Chưa có gì được lưu: kiểm tra lại rồi gửi lần nữa.",
        "This form expired (a new login, or it was open too long). Nothing was saved: check it and send it again.",
    ),
    "form.stale_action": (
        "Thao tác chưa được thực hiện vì trang đã cũ. Vui lòng thử lại.",
        "Nothing was done because the page was out of date. Please try again.",
    ),
    "error.forbidden": ("Không có quyền", "Not allowed"),
    "error.forbidden_text": (
        "Tài khoản của bạn không được làm việc này. Lần thử đã được ghi vào nhật ký.",
        "Your account may not do this. The attempt has been logged.",
    ),
    "error.not_found": ("Không tìm thấy", "Not found"),
    # dashboard
    "dashboard.title": ("Tổng quan", "Dashboard"),
    "dashboard.compose": ("Soạn bài mới", "New post"),
    "dashboard.attention": ("Cần xử lý ({n})", "Needs attention ({n})"),
    "dashboard.todo": ("Cần làm:", "What to do:"),
    "dashboard.waiting": ("Chờ duyệt ({n})", "Awaiting approval ({n})"),
    "dashboard.today": ("Hôm nay", "Today"),
    "dashboard.tomorrow": ("Ngày mai", "Tomorrow"),
    "dashboard.nothing": ("Chưa có bài nào.", "No posts."),
    "dashboard.channels": ("Tình trạng kênh", "Channel health"),
    "dashboard.shares": ("Lượt chia sẻ tháng {month}", "Shares in {month}"),
    "dashboard.shares_unit": ("lượt chia sẻ của cán bộ", "shares by staff"),
    "dashboard.see_report": ("Xem báo cáo", "See the report"),
    # actions
    "action.open": ("Chi tiết", "Details"),
    "action.retry": ("Đăng lại", "Retry"),
    "action.retry_on": ("Đăng lại ({channel})", "Retry ({channel})"),
    "action.cancel": ("Huỷ bài", "Cancel"),
    "action.approve": ("Duyệt", "Approve"),
    "action.send_back": ("Trả lại", "Send back"),
    "action.submit": ("Gửi bài", "Submit"),
    "action.reschedule": ("Dời lịch", "Reschedule"),
    "action.edit": ("Sửa bản nháp", "Edit draft"),
    "action.confirm": ("Xác nhận", "Confirm"),
    "action.reconnect": ("Kết nối lại", "Reconnect"),
    "action.pause": ("Tạm dừng", "Pause"),
    "action.resume": ("Cho hoạt động lại", "Resume"),
    "confirm.cancel": ("Huỷ những gì chưa đăng của bài này?", "Cancel everything of this post not yet published?"),
    "confirm.disable": (
        "Khoá tài khoản {who}? Mọi phiên đăng nhập sẽ kết thúc ngay.",
        "Disable {who}? All their sessions end at once.",
    ),
    # filters, queue, calendar
    "filters.label": ("Lọc", "Filters"),
    "filters.channel": ("Kênh", "Channel"),
    "filters.campaign": ("Chiến dịch", "Campaign"),
    "filters.status": ("Trạng thái", "Status"),
    "filters.all": ("Tất cả", "All"),
    "filters.apply": ("Lọc", "Filter"),
    "filters.clear": ("Bỏ lọc", "Clear"),
    "queue.title": ("Hàng đợi", "Queue"),
    "queue.count": ("{n} bài", "{n} posts"),
    "queue.when": ("Khoảng thời gian", "Period"),
    "queue.upcoming": ("Từ hôm nay", "From today"),
    "queue.past": ("Đã qua", "Past"),
    "queue.all": ("Tất cả", "All"),
    "queue.empty": ("Không có bài nào khớp.", "No posts match."),
    "calendar.title": ("Lịch đăng", "Calendar"),
    "calendar.view": ("Kiểu xem", "View"),
    "calendar.week": ("Tuần", "Week"),
    "calendar.month": ("Tháng", "Month"),
    "calendar.month_of": ("Tháng {month}", "{month}"),
    "calendar.previous": ("Trước", "Previous"),
    "calendar.next": ("Sau", "Next"),
    "calendar.today": ("Hôm nay", "Today"),
    "calendar.empty": ("Không có bài nào trong khoảng này.", "No posts in this period."),
    # post
    "post.title": ("Bài #{id}", "Post #{id}"),
    "post.by": ("soạn bởi {who}", "by {who}"),
    "post.actions": ("Quyết định", "Decisions"),
    "post.own_no_approve": (
        "Bạn là người soạn bài này nên không thể tự duyệt; cần một người duyệt khác.",
        "You wrote this post, so you cannot approve it; another approver must.",
    ),
    "post.reason": ("Lý do trả lại (người soạn sẽ thấy)", "Why it is sent back (the author sees this)"),
    "post.attempts": ("Số lần thử", "Attempts"),
    "post.published_at": ("Đăng lúc", "Published at"),
    "post.staff_shares": ("Cán bộ chia sẻ", "Staff shares"),
    "post.permalink": ("Xem bài trên nền tảng", "See the post on the platform"),
    "post.permalink_optional": ("Địa chỉ bài (nếu có)", "The post's address (if known)"),
    "post.confirm_q": ("Bài đã lên Fanpage/OA chưa?", "Is the post on the Page/OA?"),
    "post.confirm_yes": ("Đã có trên trang", "It is there"),
    "post.confirm_no": ("Chưa có — đăng lại", "It is absent — publish again"),
    "post.text_sent": ("Nội dung gửi lên kênh này", "What this channel gets"),
    "post.attempt_log": ("Nhật ký đăng ({n} lần)", "Attempt log ({n})"),
    "post.started": ("Lúc", "At"),
    "post.outcome": ("Kết quả", "Outcome"),
    "post.error": ("Lỗi", "Error"),
    "metric.views": ("Lượt xem", "Views"),
    "metric.reach": ("Lượt tiếp cận", "Reach"),
    "metric.reactions": ("Cảm xúc", "Reactions"),
    "metric.comments": ("Bình luận", "Comments"),
    "metric.shares": ("Chia sẻ (nền tảng)", "Shares (platform)"),
    # compose
    "compose.title": ("Soạn bài", "Compose"),
    "compose.title_edit": ("Sửa bản nháp #{id}", "Edit draft #{id}"),
    "compose.lead": (
        "Chọn mẫu tin, điền nội dung, xem trước trên từng kênh rồi lên lịch.",
        "Pick a template, fill it in, preview it per channel, then schedule it.",
    ),
    "compose.has_errors": (
        "Chưa lưu: vui lòng sửa các ô được đánh dấu bên dưới.",
        "Not saved: please fix the marked fields below.",
    ),
    "compose.content": ("Nội dung", "Content"),
    "compose.template": ("Mẫu tin", "Template"),
    "compose.switch": ("Dùng mẫu này", "Use this"),
    "compose.campaign": ("Chiến dịch", "Campaign"),
    "compose.no_campaign": ("— Không thuộc chiến dịch —", "— No campaign —"),
    "compose.optional": ("(tuỳ chọn)", "(optional)"),
    "compose.from_message": ("(để trống: lấy từ tiêu đề bài)", "(empty: taken from the post's title)"),
    "compose.link": ("Liên kết đính kèm", "Link to attach"),
    "compose.channels": ("Đăng lên kênh", "Channels"),
    "compose.needs_approval": ("cần duyệt", "needs approval"),
    "compose.when": ("Thời gian đăng", "When"),
    "compose.date": ("Ngày (dd/mm/yyyy)", "Date (dd/mm/yyyy)"),
    "compose.time": ("Giờ (HH:MM)", "Time (HH:MM)"),
    "compose.now": ("Đăng ngay khi được phép", "Publish as soon as allowed"),
    "compose.timezone": ("Giờ Việt Nam ({tz}).", "Local time ({tz})."),
    "compose.cover": ("Ảnh bìa", "Cover image"),
    "compose.cover_layout": ("Mẫu ảnh bìa", "Cover layout"),
    "compose.no_cover": ("— Không có ảnh bìa —", "— No cover —"),
    "compose.cover_hint": (
        "Zalo luôn cần ảnh bìa: không chọn thì dùng ảnh mặc định của kênh.",
        "Zalo always needs a cover: without one, the channel's default is used.",
    ),
    "compose.cover_alt": ("Ảnh bìa", "Cover image"),
    "compose.preview": ("Xem trước", "Preview"),
    "compose.save_draft": ("Lưu nháp", "Save draft"),
    "compose.schedule": ("Lên lịch", "Schedule"),
    "compose.submit_approval": ("Gửi duyệt", "Submit for approval"),
    "compose.preview_title": ("Xem trước", "Preview"),
    "compose.preview_for": ("Xem trước trên {name}", "Preview on {name}"),
    "compose.preview_empty": (
        "Chọn mẫu tin và điền nội dung để xem trước.",
        "Pick a template and fill it in to preview.",
    ),
    "cover_var.title": ("Tiêu đề trên ảnh", "Title on the image"),
    "cover_var.subtitle": ("Phụ đề", "Subtitle"),
    "cover_var.description": ("Mô tả trên ảnh", "Description on the image"),
    "cover_var.date": ("Thời gian (trên ảnh)", "Date (on the image)"),
    "cover_var.place": ("Địa điểm (trên ảnh)", "Place (on the image)"),
    "cover_var.quote": ("Trích dẫn", "Quote"),
    "cover_var.author": ("Người nói", "Who said it"),
    "cover_var.role": ("Chức danh", "Their role"),
    # channels
    "channels.title": ("Kênh", "Channels"),
    "channels.lead": ("Fanpage và Zalo OA mà Loa đăng bài lên.", "The Facebook Pages and Zalo OAs Loa posts to."),
    "channels.platform": ("Nền tảng", "Platform"),
    "channels.external_id": ("Mã trang / OA", "Page / OA id"),
    "channels.mode": ("Chế độ", "Mode"),
    "channels.approval": ("Cần duyệt", "Needs approval"),
    "channels.paused_until": ("Tạm dừng đến", "Paused until"),
    "channels.until_resumed": ("khi cho hoạt động lại", "until resumed"),
    "channels.last_error": ("Lỗi gần nhất:", "Last error:"),
    "channels.token_access": ("Mã truy cập Page mới (Page access token)", "New Page access token"),
    "channels.token_refresh": ("Refresh token Zalo OA mới", "New Zalo OA refresh token"),
    "channels.token_hint": (
        "Mã được mã hoá trước khi lưu và không bao giờ hiển thị lại.",
        "The token is encrypted before it is stored and never shown again.",
    ),
    "channels.save_token": ("Lưu và kết nối lại", "Save and reconnect"),
    "channels.pause_hint": (
        "Để trống ngày giờ: dừng đến khi cho hoạt động lại.",
        "Leave the date empty to pause until resumed.",
    ),
    # users
    "users.title": ("Tài khoản", "Users"),
    "users.lead": ("Người dùng bảng điều khiển, vai trò và mã API.", "Console users, roles and API tokens."),
    "users.username": ("Tên đăng nhập", "Username"),
    "users.role": ("Vai trò", "Role"),
    "users.state": ("Trạng thái", "State"),
    "users.active": ("Hoạt động", "Active"),
    "users.disabled": ("Đã khoá", "Disabled"),
    "users.sessions": ("Phiên", "Sessions"),
    "users.tokens": ("Mã API", "API tokens"),
    "users.actions": ("Thao tác", "Actions"),
    "users.new_token": ("Tạo mã API", "New API token"),
    "users.end_sessions": ("Đăng xuất mọi nơi", "Log out everywhere"),
    "users.disable": ("Khoá", "Disable"),
    "users.enable": ("Mở khoá", "Enable"),
    "users.add": ("Thêm tài khoản", "Add an account"),
    "users.password": ("Mật khẩu", "Password"),
    "users.password2": ("Nhập lại mật khẩu", "Password again"),
    "users.password_hint": (
        "Ít nhất 10 ký tự; một câu ngắn dễ nhớ là tốt nhất.",
        "At least 10 characters; a short sentence is easiest to remember.",
    ),
    "users.token": ("Mã API", "API token"),
    "users.token_for": ("Mã API mới của {who}", "New API token for {who}"),
    "users.token_once": (
        "Sao chép ngay: mã chỉ hiện một lần. Gửi kèm tiêu đề «Authorization: Bearer …».",
        "Copy it now: it is shown only once. Send it as 'Authorization: Bearer …'.",
    ),
    "users.staff": ("Cán bộ", "Staff member"),
    "users.staff_for": ("Cán bộ gắn với {who}", "Staff member linked to {who}"),
    "users.no_staff": ("— Không gắn —", "— Not linked —"),
    "users.link_staff": ("Lưu", "Save"),
    "users.reset_password": ("Đặt lại mật khẩu", "Reset password"),
    "users.new_password_for": ("Mật khẩu mới cho {who}", "New password for {who}"),
    "users.reset_hint": (
        "Báo mật khẩu cho người dùng qua kênh riêng; họ nên tự đổi sau khi đăng nhập. Mọi phiên của họ sẽ kết thúc.",
        "Give it to the user privately; they should change it after logging in. All their sessions end.",
    ),
    # own password
    "account.password_title": ("Đổi mật khẩu", "Change password"),
    "account.password_lead": (
        "Sau khi đổi, mọi phiên đăng nhập khác của bạn sẽ kết thúc.",
        "After the change, all your other sessions end.",
    ),
    "account.current_password": ("Mật khẩu hiện tại", "Current password"),
    "account.new_password": ("Mật khẩu mới", "New password"),
    "account.new_password2": ("Nhập lại mật khẩu mới", "New password again"),
    "account.change": ("Đổi mật khẩu", "Change password"),
    # audit
    "audit.title": ("Nhật ký hoạt động", "Audit log"),
    "audit.lead": ("{n} sự kiện; không thể sửa hay xoá.", "{n} events; they cannot be changed or deleted."),
    "audit.when": ("Lúc", "When"),
    "audit.actor": ("Người thực hiện", "Who"),
    "audit.action": ("Hành động", "Action"),
    "audit.object": ("Đối tượng", "Object"),
    "audit.details": ("Chi tiết", "Details"),
    "audit.empty": ("Chưa có sự kiện nào.", "No events."),
    "audit.pages": ("Trang", "Pages"),
    # staff and units
    "staff.title": ("Cán bộ và đơn vị", "Staff and units"),
    "staff.lead": ("{n} cán bộ có trang chia sẻ riêng.", "{n} staff members with their own share page."),
    "staff.import": ("Nhập danh sách", "Import a list"),
    "staff.file": ("Tệp CSV hoặc Excel (.xlsx)", "CSV or Excel (.xlsx) file"),
    "staff.file_hint": (
        "Cột: ho_ten, don_vi, so_dien_thoai, email. Một dòng sai thì không nhập dòng nào.",
        "Columns: ho_ten, don_vi, so_dien_thoai, email. One bad row and nothing is imported.",
    ),
    "staff.import_button": ("Nhập", "Import"),
    "staff.imported": (
        "Đã nhập: {created} mới, {updated} cập nhật, {unchanged} không đổi.",
        "Imported: {created} new, {updated} updated, {unchanged} unchanged.",
    ),
    "staff.new_units": ("Đơn vị mới: {units}.", "New units: {units}."),
    "staff.unit": ("Đơn vị", "Unit"),
    "staff.name": ("Họ tên", "Name"),
    "staff.contact": ("Liên hệ", "Contact"),
    "staff.share_page": ("Trang chia sẻ", "Share page"),
    "staff.open_page": ("Mở trang", "Open"),
    "staff.show_all": ("Cả người đã ngừng", "Include deactivated"),
    "staff.inactive": ("Đã ngừng", "Deactivated"),
    "staff.deactivate": ("Ngừng", "Deactivate"),
    "staff.activate": ("Kích hoạt lại", "Activate"),
    "staff.empty": ("Chưa có cán bộ nào: nhập danh sách ở trên.", "No staff yet: import a list above."),
    "confirm.deactivate": (
        "Ngừng tính lượt chia sẻ và lượt nhấp của {who}? Lịch sử vẫn được giữ.",
        "Stop counting {who}'s shares and clicks? Their history is kept.",
    ),
    "done.staff_activated": ("Đã kích hoạt lại cán bộ.", "Staff member activated."),
    # reports
    "reports.title": ("Báo cáo chia sẻ", "Share report"),
    "reports.lead": (
        "Lượt chia sẻ và lượt nhấp liên kết của cán bộ, theo đơn vị, người, chiến dịch, kênh hoặc ngày.",
        "Staff shares and link clicks, by unit, person, campaign, channel or day.",
    ),
    "reports.unavailable": ("Báo cáo chưa có trong phiên bản này.", "Reports are not available in this version."),
    "reports.from": ("Từ ngày", "From"),
    "reports.to": ("Đến ngày", "To"),
    "reports.by": ("Theo", "By"),
    "reports.by_unit": ("Đơn vị", "Unit"),
    "reports.by_staff": ("Cán bộ", "Staff member"),
    "reports.by_campaign": ("Chiến dịch", "Campaign"),
    "reports.by_channel": ("Kênh", "Channel"),
    "reports.by_day": ("Ngày", "Day"),
    "reports.show": ("Xem", "Show"),
    "reports.this_month": ("Tháng này", "This month"),
    "reports.last_month": ("Tháng trước", "Last month"),
    "reports.last_30": ("30 ngày qua", "Last 30 days"),
    "reports.shares": ("Lượt chia sẻ", "Shares"),
    "reports.button": ("Trên trang", "On the page"),
    "reports.offline": ("Tự báo", "Reported"),
    "reports.clicks": ("Lượt nhấp", "Clicks"),
    "reports.split": ("{button} trên trang chia sẻ, {offline} tự báo", "{button} on share pages, {offline} reported"),
    "reports.clicks_note": (
        "Mỗi người xem tính một lần trong 24 giờ; không tính máy quét.",
        "One per visitor per 24 h; crawlers are not counted.",
    ),
    "reports.downloads": ("Tải về", "Download"),
    "reports.excel": ("Excel", "Excel"),
    "reports.chart": ("Biểu đồ", "Chart"),
    "reports.chart_alt": (
        "Biểu đồ lượt chia sẻ và lượt nhấp; số liệu chi tiết ở bảng dưới.",
        "Chart of shares and clicks; the figures are in the table below.",
    ),
    "reports.empty": ("Không có lượt chia sẻ nào trong khoảng này.", "No shares in this period."),
    "reports.total": ("Tổng", "Total"),
    # staff member's own page
    "me.title": ("Kết quả của tôi", "My figures"),
    "me.share_page": ("Trang chia sẻ của bạn:", "Your share page:"),
    "me.shares": ("Lượt chia sẻ tháng {month}", "Shares in {month}"),
    "me.clicks": ("Lượt nhấp tháng {month}", "Clicks in {month}"),
    "me.all_shares": ("Tổng lượt chia sẻ", "All shares"),
    "me.not_linked": (
        "Tài khoản chưa gắn với hồ sơ cán bộ. Vui lòng liên hệ quản trị.",
        "This account is not linked to a staff member. Please ask an admin.",
    ),
}

_VI_PART = {"message": "Nội dung", "article title": "Tiêu đề bài Zalo", "article description": "Mô tả bài Zalo"}

# The services' English messages (the CLI's) and their Vietnamese wording.
_VI_ERRORS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^the time (.+) is in the past$"), lambda m: f"Thời điểm {m[1]} đã qua: hãy chọn giờ sắp tới."),
    (
        re.compile(r"^the time (.+) is more than (\d+) days ahead$"),
        lambda m: f"Thời điểm {m[1]} xa quá {m[2]} ngày: kiểm tra lại năm.",
    ),
    (
        re.compile(r"^cannot read the time (.+)$"),
        lambda m: f"Không đọc được thời gian {m[1]}: viết ngày dd/mm/yyyy và giờ HH:MM.",
    ),
    (
        re.compile(r"^give a date and a time, or choose to publish now$"),
        lambda m: "Hãy nhập ngày và giờ, hoặc chọn «Đăng ngay».",
    ),
    (re.compile(r"^give a date and a time$"), lambda m: "Hãy nhập ngày và giờ."),
    (re.compile(r"^no channel given$"), lambda m: "Hãy chọn ít nhất một kênh."),
    (re.compile(r"^unknown channel (.+)$"), lambda m: f"Không có kênh {m[1]}."),
    (re.compile(r"^unknown template (.+)$"), lambda m: f"Không có mẫu tin {m[1]}."),
    (re.compile(r"^unknown campaign (.+)$"), lambda m: f"Không có chiến dịch {m[1]}."),
    (
        re.compile(r"^template (.+) needs variable '(.+)', which was not given$"),
        lambda m: f"Mẫu tin cần «{m[2]}» nhưng ô này đang trống.",
    ),
    (
        re.compile(
            r"^(Facebook|Zalo OA|Zalo|[\w ]+) (message|article title|article description) from template '(.+)' "
            r"is (\d+) characters, (\d+) over the limit of (\d+)$"
        ),
        lambda m: (
            f"{_VI_PART[m[2]]} cho {m[1]} dài {m[4]} ký tự, vượt {m[5]} ký tự so với giới hạn {m[6]}: "
            f"hãy rút gọn nội dung."
        ),
    ),
    (re.compile(r"^the link (.+) is not an http\(s\) URL$"), lambda m: f"Liên kết {m[1]} không phải địa chỉ http(s)."),
    (
        re.compile(r"^post (\d+) was written by (.+), who cannot also approve it$"),
        lambda m: f"Bài #{m[1]} do {m[2]} soạn; người soạn không thể tự duyệt. Cần người duyệt khác.",
    ),
    (re.compile(r"^post (\d+) has nothing waiting for approval$"), lambda m: f"Bài #{m[1]} không có gì chờ duyệt."),
    (re.compile(r"^post (\d+) has nothing left to cancel.*$"), lambda m: f"Bài #{m[1]} không còn gì để huỷ."),
    (re.compile(r"^post (\d+) has nothing left to reschedule$"), lambda m: f"Bài #{m[1]} không còn gì để dời lịch."),
    (re.compile(r"^post (\d+) is not a draft$"), lambda m: f"Bài #{m[1]} không phải bản nháp."),
    (re.compile(r"^say why the post is sent back$"), lambda m: "Hãy ghi lý do trả lại bài."),
    (
        re.compile(r"^that does not look like a token$"),
        lambda m: "Đây không giống mã truy cập: dán cả mã, không có dấu cách hay xuống dòng.",
    ),
    (
        re.compile(r"^channel (.+) needs to be reconnected, not resumed$"),
        lambda m: f"Kênh {m[1]} cần kết nối lại bằng mã mới, không thể chỉ cho hoạt động lại.",
    ),
    (
        re.compile(r"^publication (\d+) is (\w+), not failed, missed or blocked$"),
        lambda m: f"Lượt đăng #{m[1]} đang «{m[2]}», không phải lỗi/quá hạn/bị giữ nên không đăng lại được.",
    ),
    (
        re.compile(r"^publication (\d+) is (\w+), not unknown$"),
        lambda m: f"Lượt đăng #{m[1]} đang «{m[2]}», không cần xác nhận.",
    ),
    (re.compile(r"^the permalink must be an https:// address$"), lambda m: "Địa chỉ bài phải bắt đầu bằng https://."),
    (
        re.compile(r"^the password has (\d+) characters; at least (\d+) are needed$"),
        lambda m: f"Mật khẩu có {m[1]} ký tự; cần ít nhất {m[2]}.",
    ),
    (re.compile(r"^the password must not be the username$"), lambda m: "Mật khẩu không được trùng tên đăng nhập."),
    (re.compile(r"^the two passwords differ$"), lambda m: "Hai lần nhập mật khẩu không khớp."),
    (re.compile(r"^the current password is wrong$"), lambda m: "Mật khẩu hiện tại không đúng."),
    (
        re.compile(r"^too many wrong passwords; try again in (\d+) minutes$"),
        lambda m: f"Nhập sai quá nhiều lần; thử lại sau {m[1]} phút.",
    ),
    (
        re.compile(r"^change your own password on the password page$"),
        lambda m: "Hãy đổi mật khẩu của chính bạn ở trang «Đổi mật khẩu».",
    ),
    (re.compile(r"^there is no staff member (.+)$"), lambda m: f"Không có cán bộ {m[1]}."),
    (
        re.compile(r"^the username (.+) is not allowed$"),
        lambda m: f"Tên đăng nhập {m[1]} không hợp lệ: dùng 2–32 chữ thường không dấu, số, '.', '_' hoặc '-'.",
    ),
    (re.compile(r"^the user (.+) already exists$"), lambda m: f"Tài khoản {m[1]} đã tồn tại."),
    (re.compile(r"^unknown role (.+)$"), lambda m: f"Không có vai trò {m[1]}."),
    (re.compile(r"^you cannot disable your own account$"), lambda m: "Bạn không thể tự khoá tài khoản của mình."),
    (re.compile(r"^cover layout '(.+)', box '(.+)' is empty$"), lambda m: f"Ảnh bìa «{m[1]}»: ô «{m[2]}» đang trống."),
    (
        re.compile(r"^--(from|to) '(.*)' is not a date$"),
        lambda m: f"«{m[2]}» không phải ngày: viết dd/mm/yyyy, ví dụ 31/05/2026.",
    ),
    (re.compile(r"^--from (.+) is after --to (.+)$"), lambda m: f"Ngày bắt đầu {m[1]} sau ngày kết thúc {m[2]}."),
    (re.compile(r"^choose a CSV or XLSX file to import$"), lambda m: "Hãy chọn tệp CSV hoặc XLSX để nhập."),
    (re.compile(r"^(.+) is neither CSV nor XLSX$"), lambda m: f"{m[1]} không phải tệp CSV hay XLSX."),
]


def translate_error(exc: LoaError, lang: str) -> str:
    """The message to show next to a field: Vietnamese when known, else the CLI's own words."""
    if lang == "vi":
        for pattern, wording in _VI_ERRORS:
            match = pattern.match(exc.message)
            if match:
                return wording(match)
    return f"{exc.message} — {exc.hint}" if exc.hint and isinstance(exc, InputError) else exc.message


class Translator:
    """``t("key", name=value)`` in one language; unknown keys show as themselves (tests catch them)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "vi"
        self._index = LANGS.index(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        entry = CATALOGUE.get(key)
        if entry is None:
            return key
        text = entry[self._index]
        return text.format(**values) if values else text

    def __contains__(self, key: str) -> bool:
        return key in CATALOGUE

    def notice(self, key: str | None) -> str | None:
        """The message for ``?done=KEY``; only catalogue keys, never text from the URL."""
        if not key or f"done.{key}" not in CATALOGUE:
            return None
        return self(f"done.{key}")
