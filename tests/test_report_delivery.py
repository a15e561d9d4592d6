"""The month's report e-mailed on its day: queued once through the outbox, delivered over
real SMTP (aiosmtpd on loopback) with the Word file and the PDF attached."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from sqlmodel import select

from scheduler.alerts.outbox import Deliverer
from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Outbox
from scheduler.reports.delivery import queue_due_reports
from scheduler.store import session_scope
from tests.alerts_support import Inbox, mail_config, smtp_server
from tests.conftest import write_config
from tests.test_reports import AN_TAM, seed

OFFICE = """
[reports]
email_day = 5
email_to = ["giamdoc@bhxh-nghean.example.vn", "vanphong@bhxh-nghean.example.vn"]
"""


def test_the_report_goes_out_once_on_its_day_with_both_files(tmp_path: Path) -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        path = write_config(tmp_path, extra=AN_TAM + OFFICE + mail_config(port))
        loa = Loa(load_settings(path, environ=dict(os.environ)))
        loa.init()
        seed(loa)
        # 04/06 is not the day; 05/06 is (local time), and twice on it queues once.
        assert queue_due_reports(loa.engine, loa.settings, datetime(2026, 6, 4, 3, 0, tzinfo=UTC)) == []
        first = queue_due_reports(loa.engine, loa.settings, datetime(2026, 6, 5, 1, 0, tzinfo=UTC))
        again = queue_due_reports(loa.engine, loa.settings, datetime(2026, 6, 5, 9, 0, tzinfo=UTC))
        assert len(first) == 2 and again == []
        Deliverer(loa.settings, loa.engine, environ=dict(os.environ)).run_once()
        assert sorted(to for tos, _ in inbox.messages for to in tos) == [
            "giamdoc@bhxh-nghean.example.vn", "vanphong@bhxh-nghean.example.vn"
        ]  # fmt: skip
        _, message = inbox.messages[0]
        assert "tháng 5/2026" in str(message["Subject"])
        files = {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}
        assert set(files) == {"bao-cao-thang_2026-05.docx", "bao-cao-thang_2026-05.pdf"}
        docx = Document(io.BytesIO(files["bao-cao-thang_2026-05.docx"]))
        assert any("ngày 05 tháng 6 năm 2026" in p.text for t in docx.tables for r in t.rows for c in r.cells
                   for p in c.paragraphs)  # fmt: skip
        assert files["bao-cao-thang_2026-05.pdf"][:4] == b"%PDF"
        with session_scope(loa.engine, read_only=True) as session:
            assert all(row.status.value == "sent" for row in session.exec(select(Outbox)))
        loa.close()
