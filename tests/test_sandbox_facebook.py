"""The Facebook Graph emulation, exercised over real HTTP like a Graph client would."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from PIL import Image

from scheduler.channels.facebook.emulator import parse_fields, parse_when
from scheduler.config import SandboxSettings
from scheduler.sandbox.server import SandboxServer

PAGE = "100000000000001"
TOKEN = "page-token"


def jpeg(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def graph(sandbox: SandboxServer, version: str = "v25.0") -> str:
    return f"{sandbox.url}/{version}"


def post_feed(sandbox: SandboxServer, **params: Any) -> requests.Response:
    params.setdefault("access_token", TOKEN)
    return requests.post(f"{graph(sandbox)}/{PAGE}/feed", data=params, timeout=5)


def state(sandbox: SandboxServer) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5)
    response.raise_for_status()
    return response.json()


def fault(sandbox: SandboxServer, spec: dict[str, Any] | list[dict[str, Any]]) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json=spec, timeout=5)
    assert response.status_code == 200, response.text


def engagement(sandbox: SandboxServer, **payload: Any) -> None:
    payload.setdefault("platform", "facebook")
    response = requests.post(f"{sandbox.url}/_sandbox/engagement", json=payload, timeout=5)
    assert response.status_code == 200, response.text


def test_feed_post_is_listed_and_readable(sandbox: SandboxServer) -> None:
    created = post_feed(sandbox, message="Thông báo: đóng BHXH tự nguyện", link="https://bhxh.gov.vn/a")
    assert created.status_code == 200
    post_id = created.json()["id"]
    assert set(created.json()) == {"id"}
    page, number = post_id.split("_")
    assert page == PAGE and number.isdigit() and len(number) >= 15

    feed = requests.get(
        f"{graph(sandbox, 'v24.0')}/{PAGE}/feed", params={"access_token": TOKEN}, timeout=5
    )
    assert feed.headers["facebook-api-version"] == "v24.0"
    assert json.loads(feed.headers["X-App-Usage"]).keys() == {"call_count", "total_time", "total_cputime"}
    usage = json.loads(feed.headers["X-Business-Use-Case-Usage"])
    assert usage[PAGE][0]["type"] == "pages"
    assert feed.json()["data"] == [
        {
            "created_time": feed.json()["data"][0]["created_time"],
            "message": "Thông báo: đóng BHXH tự nguyện",
            "id": post_id,
        }
    ]
    created_time = feed.json()["data"][0]["created_time"]
    assert created_time.endswith("+0000")
    datetime.strptime(created_time, "%Y-%m-%dT%H:%M:%S%z")

    for edge in ("posts", "published_posts"):
        listed = requests.get(f"{graph(sandbox)}/{PAGE}/{edge}", params={"access_token": TOKEN}, timeout=5)
        assert [item["id"] for item in listed.json()["data"]] == [post_id]

    read = requests.get(
        f"{graph(sandbox)}/{post_id}",
        params={"access_token": TOKEN, "fields": "message,permalink_url,is_published,status_type"},
        timeout=5,
    )
    assert read.json() == {
        "message": "Thông báo: đóng BHXH tự nguyện",
        "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{number}",
        "is_published": True,
        "status_type": "shared_story",
        "id": post_id,
    }
    posts = state(sandbox)["facebook"]["pages"][PAGE]["posts"]
    assert posts[0]["id"] == post_id and posts[0]["link"] == "https://bhxh.gov.vn/a"
    assert posts[0]["photo"] is None and posts[0]["created_time"] == created_time


def test_json_body_bearer_token_and_sdk_encodings(sandbox: SandboxServer) -> None:
    response = requests.post(
        f"{graph(sandbox)}/{PAGE}/feed",
        json={"message": "JSON body", "published": True},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    post_id = response.json()["id"]
    read = requests.get(
        f"{graph(sandbox)}/{post_id}/insights",
        params={"access_token": TOKEN, "metric": '["post_media_view","post_clicks"]'},
        timeout=5,
    )
    assert [entry["name"] for entry in read.json()["data"]] == ["post_media_view", "post_clicks"]
    bad = post_feed(sandbox, message="x", published="maybe")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 100


def test_field_expansion_follows_engagement(sandbox: SandboxServer) -> None:
    post_id = post_feed(sandbox, message="Engagement").json()["id"]
    fields = (
        "shares,reactions.summary(true),comments.limit(0).summary(true),created_time,"
        "reactions.type(LOVE).limit(0).summary(total_count).as(love),likes.summary(true)"
    )
    before = requests.get(
        f"{graph(sandbox)}/{post_id}", params={"access_token": TOKEN, "fields": fields}, timeout=5
    ).json()
    assert "shares" not in before  # omitted at 0 (A3)
    assert before["reactions"] == {"data": [], "summary": {"total_count": 0, "viewer_reaction": "NONE"}}

    engagement(sandbox, post_id=post_id, views=340, reach=210, comments=4, shares=3,
               reactions={"like": 5, "love": 2})
    after = requests.get(
        f"{graph(sandbox)}/{post_id}", params={"access_token": TOKEN, "fields": fields}, timeout=5
    ).json()
    assert after["shares"] == {"count": 3}
    assert after["reactions"]["summary"] == {"total_count": 7, "viewer_reaction": "NONE"}
    assert len(after["reactions"]["data"]) == 7
    assert after["comments"] == {
        "data": [], "summary": {"order": "ranked", "total_count": 4, "can_comment": True}
    }
    assert after["love"] == {"data": [], "summary": {"total_count": 2, "viewer_reaction": "NONE"}}
    assert after["likes"]["summary"]["total_count"] == 5
    assert after["id"] == post_id

    unknown = requests.get(
        f"{graph(sandbox)}/{post_id}", params={"access_token": TOKEN, "fields": "type"}, timeout=5
    )
    assert unknown.status_code == 400
    assert "nonexisting field (type)" in unknown.json()["error"]["message"]


def test_photo_upload_multipart_then_read_picture(sandbox: SandboxServer) -> None:
    image = jpeg()
    response = requests.post(
        f"{graph(sandbox)}/{PAGE}/photos",
        data={"caption": "Ảnh bìa", "access_token": TOKEN},
        files={"source": ("cover.jpg", image, "image/jpeg")},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "post_id"} and body["id"].isdigit()
    post = requests.get(
        f"{graph(sandbox)}/{body['post_id']}",
        params={"access_token": TOKEN, "fields": "message,full_picture,attachments{media,type}"},
        timeout=5,
    ).json()
    assert post["message"] == "Ảnh bìa"
    assert requests.get(post["full_picture"], timeout=5).content == image
    assert post["attachments"]["data"][0]["type"] == "photo"
    photo = state(sandbox)["facebook"]["pages"][PAGE]["posts"][0]["photo"]
    assert photo["id"] == body["id"] and (photo["width"], photo["height"]) == (64, 48)


def test_photo_upload_by_url_and_refusals(sandbox: SandboxServer) -> None:
    put = requests.put(
        f"{sandbox.url}/_sandbox/files/cover.jpg", data=jpeg(), headers={"Content-Type": "image/jpeg"},
        timeout=5,
    )
    url = put.json()["url"]
    ok = requests.post(
        f"{graph(sandbox)}/{PAGE}/photos", data={"url": url, "access_token": TOKEN}, timeout=5
    )
    assert ok.status_code == 200 and "post_id" in ok.json()

    unpublished = requests.post(
        f"{graph(sandbox)}/{PAGE}/photos",
        data={"url": url, "published": "false", "access_token": TOKEN},
        timeout=5,
    )
    assert set(unpublished.json()) == {"id"}

    requests.put(f"{sandbox.url}/_sandbox/files/notes.txt", data=b"plain text", timeout=5)
    cases = [
        {"files": {"source": ("big.jpg", b"\xff" * (4 * 1024 * 1024 + 1), "image/jpeg")}},
        {"files": {"source": ("a.txt", b"not an image", "text/plain")}},
        {"data": {"url": f"{sandbox.url}/_sandbox/files/notes.txt"}},
        {"data": {"url": f"{sandbox.url}/_sandbox/files/missing.jpg"}},
    ]
    for case in cases:
        data = {"access_token": TOKEN, **case.get("data", {})}
        refused = requests.post(
            f"{graph(sandbox)}/{PAGE}/photos", data=data, files=case.get("files"), timeout=10
        )
        assert refused.status_code == 400, case
        assert refused.json()["error"]["code"] == 100
    nothing = requests.post(f"{graph(sandbox)}/{PAGE}/photos", data={"access_token": TOKEN}, timeout=5)
    assert nothing.json()["error"]["code"] == 324


def test_multi_photo_post_with_attached_media(sandbox: SandboxServer) -> None:
    ids = []
    for _ in range(2):
        uploaded = requests.post(
            f"{graph(sandbox)}/{PAGE}/photos",
            data={"published": "false", "access_token": TOKEN},
            files={"source": ("p.jpg", jpeg(), "image/jpeg")},
            timeout=5,
        )
        ids.append(uploaded.json()["id"])
    form = {
        "message": "Hai ảnh",
        "attached_media[0]": json.dumps({"media_fbid": ids[0]}),
        "attached_media[1]": json.dumps({"media_fbid": ids[1]}),
    }
    created = post_feed(sandbox, **form)
    assert created.status_code == 200, created.text
    post = state(sandbox)["facebook"]["pages"][PAGE]["posts"][-1]
    assert [photo["id"] for photo in post["photos"]] == ids
    reused = post_feed(sandbox, message="Lại", attached_media=json.dumps([{"media_fbid": ids[0]}]))
    assert reused.status_code == 400 and reused.json()["error"]["code"] == 100


def test_insights_metrics(sandbox: SandboxServer) -> None:
    post_id = post_feed(sandbox, message="Insights").json()["id"]
    engagement(sandbox, post_id=post_id, views=340, reach=210, clicks=9, reactions={"like": 5, "love": 1})
    good = requests.get(
        f"{graph(sandbox)}/{post_id}/insights",
        params={
            "access_token": TOKEN,
            "metric": "post_media_view,post_total_media_view_unique,post_clicks,"
            "post_reactions_by_type_total",
            "period": "lifetime",
        },
        timeout=5,
    )
    assert good.status_code == 200
    values = {entry["name"]: entry["values"][0]["value"] for entry in good.json()["data"]}
    assert values == {
        "post_media_view": 340,
        "post_total_media_view_unique": 210,
        "post_clicks": 9,
        "post_reactions_by_type_total": {"like": 5, "love": 1},
    }
    first = good.json()["data"][0]
    assert first["period"] == "lifetime"
    assert first["id"] == f"{post_id}/insights/post_media_view/lifetime"

    for metric in ("post_impressions", "post_impressions_unique", "post_engaged_users", "bogus"):
        bad = requests.get(
            f"{graph(sandbox)}/{post_id}/insights",
            params={"access_token": TOKEN, "metric": f"post_media_view,{metric}"},
            timeout=5,
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == 100
        assert "The value must be a valid insights metric" in bad.json()["error"]["message"]

    missing = requests.get(f"{graph(sandbox)}/{post_id}/insights", params={"access_token": TOKEN}, timeout=5)
    error = missing.json()["error"]
    assert (error["code"], error["error_subcode"], error["message"]) == (3001, 1504028, "Invalid query")
    assert error["error_user_title"] == "No Metric Specified"

    by_path = requests.get(
        f"{graph(sandbox)}/{post_id}/insights/post_media_view", params={"access_token": TOKEN}, timeout=5
    )
    assert by_path.json()["data"][0]["values"] == [{"value": 340}]


def test_duplicate_consecutive_message_is_506(sandbox: SandboxServer) -> None:
    assert post_feed(sandbox, message="Cùng nội dung").status_code == 200
    duplicate = post_feed(sandbox, message="Cùng nội dung")
    assert duplicate.status_code == 400
    error = duplicate.json()["error"]
    assert error["code"] == 506 and error["message"].startswith("(#506)")
    assert error["type"] == "OAuthException" and error["is_transient"] is False
    assert post_feed(sandbox, message="Khác").status_code == 200
    assert post_feed(sandbox, message="Cùng nội dung").status_code == 200


def test_scheduling_window_and_publication(sandbox: SandboxServer) -> None:
    now = int(time.time())
    for when in (now + 300, now + 31 * 86400, "not a time"):
        refused = post_feed(sandbox, message=f"sớm {when}", published="false", scheduled_publish_time=when)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 100
    published = post_feed(sandbox, message="đã đăng", scheduled_publish_time=now + 3600)
    assert published.json()["error"]["code"] == 100

    scheduled = post_feed(sandbox, message="hẹn giờ", published="false", scheduled_publish_time=now + 3600)
    assert scheduled.status_code == 200
    iso = datetime.fromtimestamp(now + 7200, UTC).astimezone().isoformat()
    assert post_feed(sandbox, message="iso", published="false", scheduled_publish_time=iso).status_code == 200
    relative = post_feed(sandbox, message="rel", published="false", scheduled_publish_time="+2 weeks")
    assert relative.status_code == 200

    listed = requests.get(
        f"{graph(sandbox)}/{PAGE}/scheduled_posts",
        params={"access_token": TOKEN, "fields": "message,scheduled_publish_time,is_published"},
        timeout=5,
    ).json()["data"]
    assert {item["message"] for item in listed} == {"hẹn giờ", "iso", "rel"}
    first = next(item for item in listed if item["message"] == "hẹn giờ")
    assert first["scheduled_publish_time"] == now + 3600 and first["is_published"] is False
    feed = requests.get(f"{graph(sandbox)}/{PAGE}/feed", params={"access_token": TOKEN}, timeout=5)
    assert feed.json() == {"data": []}

    clock = requests.post(f"{sandbox.url}/_sandbox/clock", json={"advance_s": 2 * 3600 + 60}, timeout=5)
    assert clock.status_code == 200
    feed = requests.get(f"{graph(sandbox)}/{PAGE}/feed", params={"access_token": TOKEN}, timeout=5)
    assert {item["message"] for item in feed.json()["data"]} == {"hẹn giờ", "iso"}


def test_schedule_upper_bound_is_configurable() -> None:
    settings = SandboxSettings(facebook_schedule_max_days=75)
    with SandboxServer(settings=settings) as server:
        when = int(time.time()) + 60 * 86400
        response = post_feed(server, message="60 ngày", published="false", scheduled_publish_time=when)
        assert response.status_code == 200, response.text


def test_token_errors(sandbox: SandboxServer) -> None:
    missing = requests.post(f"{graph(sandbox)}/{PAGE}/feed", data={"message": "x"}, timeout=5)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == 190
    assert missing.json()["error"]["type"] == "OAuthException"

    requests.post(
        f"{sandbox.url}/_sandbox/tokens",
        json={"platform": "facebook", "token": "old-token", "state": "revoked"},
        timeout=5,
    )
    revoked = post_feed(sandbox, message="x", access_token="old-token")
    assert (revoked.json()["error"]["code"], revoked.json()["error"]["error_subcode"]) == (190, 460)
    assert post_feed(sandbox, message="x", access_token="other-token").status_code == 200


def test_fault_190_with_subcode_has_graph_error_shape(sandbox: SandboxServer) -> None:
    fault(sandbox, {"platform": "facebook", "route": "POST /{page}/feed", "times": 2,
                    "status": 400, "error": {"code": 190, "error_subcode": 463}})
    for _ in range(2):
        response = post_feed(sandbox, message="token hết hạn")
        assert response.status_code == 400
        error = response.json()["error"]
        assert set(error) >= {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}
        assert (error["code"], error["error_subcode"], error["type"]) == (190, 463, "OAuthException")
        assert error["is_transient"] is False
        assert error["message"].startswith("Error validating access token")
        assert response.headers["x-fb-trace-id"] == error["fbtrace_id"]
    assert post_feed(sandbox, message="token hết hạn").status_code == 200
    assert len(state(sandbox)["facebook"]["pages"][PAGE]["posts"]) == 1


def test_rate_limit_fault_carries_usage_headers(sandbox: SandboxServer) -> None:
    buc = {PAGE: [{"type": "pages", "call_count": 100, "total_cputime": 30, "total_time": 45,
                   "estimated_time_to_regain_access": 7}]}
    fault(sandbox, [
        {"platform": "facebook", "route": "POST /{page}/feed", "error": {"code": 80001},
         "headers": {"X-Business-Use-Case-Usage": buc}},
        {"platform": "facebook", "route": "POST /{page}/feed", "error": {"code": 4}},
        {"platform": "facebook", "route": "POST /{page}/feed", "error": {"code": 2}},
    ])
    limited = post_feed(sandbox, message="quá tải")
    assert limited.status_code == 400
    assert limited.json()["error"]["code"] == 80001 and limited.json()["error"]["is_transient"] is True
    header = json.loads(limited.headers["X-Business-Use-Case-Usage"])
    assert header[PAGE][0]["estimated_time_to_regain_access"] == 7

    app_limited = post_feed(sandbox, message="quá tải")
    assert json.loads(app_limited.headers["X-App-Usage"])["call_count"] == 100

    server_error = post_feed(sandbox, message="quá tải")
    assert server_error.status_code == 500 and server_error.json()["error"]["is_transient"] is True
    assert state(sandbox)["facebook"]["pages"] == {}


def test_drop_after_commit_loses_the_reply_not_the_post(sandbox: SandboxServer) -> None:
    fault(sandbox, {"platform": "facebook", "route": "POST /{page}/feed", "drop_after_commit": True})
    session = requests.Session()
    with pytest.raises(requests.ConnectionError):
        session.post(f"{graph(sandbox)}/{PAGE}/feed",
                     data={"message": "mất phản hồi", "access_token": TOKEN}, timeout=5)
    posts = state(sandbox)["facebook"]["pages"][PAGE]["posts"]
    assert [post["message"] for post in posts] == ["mất phản hồi"]
    retry = session.post(f"{graph(sandbox)}/{PAGE}/feed",
                         data={"message": "mất phản hồi", "access_token": TOKEN}, timeout=5)
    assert retry.json()["error"]["code"] == 506


def test_delay_fault_times_out_the_client_but_still_commits(sandbox: SandboxServer) -> None:
    fault(sandbox, {"platform": "facebook", "route": "POST /{page}/feed", "delay_s": 0.8})
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{graph(sandbox)}/{PAGE}/feed",
                      data={"message": "chậm", "access_token": TOKEN}, timeout=0.3)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if state(sandbox)["facebook"]["pages"].get(PAGE, {}).get("posts"):
            break
        time.sleep(0.05)
    assert [p["message"] for p in state(sandbox)["facebook"]["pages"][PAGE]["posts"]] == ["chậm"]

    fault(sandbox, {"platform": "facebook", "route": "POST /{page}/feed", "delay_s": 0.8, "after": True})
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{graph(sandbox)}/{PAGE}/feed",
                      data={"message": "chậm sau", "access_token": TOKEN}, timeout=0.3)
    assert state(sandbox)["facebook"]["pages"][PAGE]["posts"][-1]["message"] == "chậm sau"


def test_edit_and_delete(sandbox: SandboxServer) -> None:
    post_id = post_feed(sandbox, message="bản đầu").json()["id"]
    edited = requests.post(
        f"{graph(sandbox)}/{post_id}", data={"message": "bản sửa", "access_token": TOKEN}, timeout=5
    )
    assert edited.json() == {"success": True}
    read = requests.get(f"{graph(sandbox)}/{post_id}", params={"access_token": TOKEN}, timeout=5)
    assert read.json()["message"] == "bản sửa"
    deleted = requests.delete(f"{graph(sandbox)}/{post_id}", params={"access_token": TOKEN}, timeout=5)
    assert deleted.json() == {"success": True}
    gone = requests.get(f"{graph(sandbox)}/{post_id}", params={"access_token": TOKEN}, timeout=5)
    assert gone.status_code == 400
    assert (gone.json()["error"]["code"], gone.json()["error"]["error_subcode"]) == (100, 33)
    page = state(sandbox)["facebook"]["pages"][PAGE]
    assert page["posts"] == [] and page["deleted_posts"][0]["id"] == post_id


def test_feed_paging_with_cursors(sandbox: SandboxServer) -> None:
    created = [post_feed(sandbox, message=f"bài {n}").json()["id"] for n in range(5)]
    seen: list[str] = []
    url: str | None = f"{graph(sandbox)}/{PAGE}/posts?limit=2&access_token={TOKEN}"
    while url:
        page = requests.get(url, timeout=5).json()
        seen.extend(item["id"] for item in page["data"])
        assert len(page["data"]) <= 2
        url = page.get("paging", {}).get("next")
    assert seen == list(reversed(created))


def test_tokens_accounts_and_debug(sandbox: SandboxServer) -> None:
    exchanged = requests.get(
        f"{graph(sandbox)}/oauth/access_token",
        params={"grant_type": "fb_exchange_token", "client_id": "1", "client_secret": "s",
                "fb_exchange_token": "short"},
        timeout=5,
    ).json()
    assert exchanged["token_type"] == "bearer" and exchanged["expires_in"] > 5_000_000
    accounts = requests.get(
        f"{graph(sandbox)}/me/accounts", params={"access_token": exchanged["access_token"]}, timeout=5
    ).json()
    page = accounts["data"][0]
    assert page["id"] == PAGE and "CREATE_CONTENT" in page["tasks"] and page["access_token"]
    me = requests.get(f"{graph(sandbox)}/me", params={"access_token": page["access_token"]}, timeout=5)
    assert me.json()["id"] == PAGE

    debug = requests.get(
        f"{graph(sandbox)}/debug_token",
        params={"input_token": page["access_token"], "access_token": "1|s"},
        timeout=5,
    ).json()["data"]
    assert debug["is_valid"] is True and debug["type"] == "PAGE" and debug["expires_at"] == 0
    assert debug["app_id"] == "1" and "pages_manage_posts" in debug["scopes"]
    requests.post(f"{sandbox.url}/_sandbox/tokens",
                  json={"platform": "facebook", "token": page["access_token"], "state": "expired"},
                  timeout=5)
    debug = requests.get(
        f"{graph(sandbox)}/debug_token",
        params={"input_token": page["access_token"], "access_token": "1|s"},
        timeout=5,
    ).json()["data"]
    assert debug["is_valid"] is False and debug["error"]["subcode"] == 463

    post_id = post_feed(sandbox, message="shared?").json()["id"]
    shared = requests.get(f"{graph(sandbox)}/{post_id}/sharedposts", params={"access_token": TOKEN}, timeout=5)
    assert shared.json() == {"data": []}


def test_parse_when_accepts_graph_time_formats() -> None:
    now = datetime(2026, 3, 1, 2, 0, tzinfo=UTC).timestamp()
    assert parse_when("1772330400", now) == 1772330400
    assert parse_when(1772330400, now) == 1772330400
    assert parse_when("2026-03-01T09:00:00+07:00", now) == int(now)
    assert parse_when("2026-03-01T09:00:00+0700", now) == int(now)
    assert parse_when("2026-03-01T02:00:00Z", now) == int(now)
    assert parse_when("+2 weeks", now) == int(now) + 14 * 86400
    assert parse_when("+3 days +2 hours", now) == int(now) + 3 * 86400 + 7200
    assert parse_when("+30 minutes", now) == int(now) + 1800
    assert parse_when("tomorrow", now) == int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    with pytest.raises(ValueError):
        parse_when("next blue moon", now)


def test_parse_fields_handles_expansion_syntax() -> None:
    specs = parse_fields("id,comments.limit(0).summary(true),attachments{media,url},insights.metric(a,b)")
    assert [spec.name for spec in specs] == ["id", "comments", "attachments", "insights"]
    assert specs[1].modifiers == {"limit": "0", "summary": "true"}
    assert [sub.name for sub in specs[2].subfields or []] == ["media", "url"]
    assert specs[3].modifiers == {"metric": "a,b"}
