"""The welcome post `make run` queues on a new database, so a first run shows the pipeline."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import select

from scheduler.models import Post
from scheduler.posts.requests import PostRequest
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.app import Loa

DEMO_TEMPLATE = "thang-van-dong"


def queue_demo_post(loa: Loa) -> int | None:
    """Queue one post for now on every channel, unless the database already has posts."""
    with session_scope(loa.engine, read_only=True) as session:
        if session.exec(select(Post.id).limit(1)).first() is not None:
            return None
    if DEMO_TEMPLATE not in loa.renderer.names() or not loa.settings.channels:
        return None
    today = datetime.now(loa.settings.tz).strftime("%d/%m/%Y")
    campaign = loa.settings.campaigns[0].slug if loa.settings.campaigns else None
    return loa.posts.add(
        PostRequest(
            template=DEMO_TEMPLATE,
            channels=[c.id for c in loa.settings.channels],
            variables={
                "hoat_dong": "ra quân tuyên truyền chính sách BHXH, BHYT",
                "dia_diem": "chợ Quán Lau (TP Vinh)",
                "ngay": today,
                "subtitle": f"Chợ Quán Lau (TP Vinh) · {today}",
            },
            campaign=campaign,
            # A cover from the shipped layout when it is there: the first run shows it all.
            cover="default" if "default" in loa.posts.covers.names() else None,
            created_by="demo",
        )
    )
