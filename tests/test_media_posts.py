"""Posts written directly, with the office's own photos: the media library and the album
that arrives on the Page and in the Zalo article, in order, through real HTTP to the sandbox."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from tests.conftest import Cli
from tests.test_publishing import PAGE, article_text, articles, fault, page_posts, state

FB, ZALO = "fb-bhxh-nghean", "zalo-bhxh-nghean"
COLOURS = [(220, 30, 30), (30, 200, 40), (30, 40, 220), (240, 220, 30), (20, 210, 220)]
TEXT = "Sáng 06/5, BHXH tỉnh Nghệ An ra quân tuyên truyền tại chợ Vinh.\n\nẢnh: Nguyễn Đạo"


def photo(folder: Path, name: str, colour: tuple[int, int, int], size: tuple[int, int] = (1200, 900)) -> Path:
    """A photo with a mark in its top-left corner, so order and orientation can be told apart."""
    image = Image.new("RGB", size, colour)
    for x in range(size[0] // 10):
        for y in range(size[1] // 10):
            image.putpixel((x, y), (255, 255, 255))
    path = folder / name
    image.save(path, quality=92)
    return path


def phone_photo(folder: Path) -> Path:
    """A phone-style JPEG: stored sideways with orientation 6 and a location in its EXIF."""
    image = Image.new("RGB", (400, 300), (10, 120, 200))
    for x in range(40):
        for y in range(30):
            image.putpixel((x, y), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise
    exif[0x8825] = {1: "N", 2: (18.0, 40.0, 0.0), 3: "E", 4: (105.0, 40.0, 0.0)}
    path = folder / "IMG_0001.JPG"
    image.save(path, quality=92, exif=exif)
    return path


def rows(config: Path, table: str) -> int:
    with sqlite3.connect(config.parent / "posts.db") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def dominant(data: bytes) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        pixel = rgb.getpixel((rgb.width * 3 // 4, rgb.height * 3 // 4))
    assert isinstance(pixel, tuple)
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def near(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 12 for x, y in zip(a, b, strict=True))


def add_media(loa: Cli, *paths: Path, alt: str = "") -> list[dict[str, Any]]:
    result = loa("media", "add", *map(str, paths), *(["--alt", alt] if alt else []), "--json")
    assert result.code == 0, result.stderr
    return list(result.json()["media"])


def test_free_text_with_platform_words_goes_out_as_written(loa: Cli, sandbox: Any, config_path: Path) -> None:
    added = loa(
        "post", "add", "--text", TEXT, "--platform-text", "facebook=" + TEXT + "\n#BHXH",
        "--title", "Ra quân tuyên truyền tại chợ Vinh",
        "--channel", FB, "--channel", ZALO, "--now", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    post = added.json()
    assert post["template"] == "" and post["words"]["text"] == TEXT
    by_channel = {p["channel"]: p for p in post["publications"]}
    assert by_channel[FB]["text"].endswith("#BHXH")
    assert by_channel[ZALO]["title"] == "Ra quân tuyên truyền tại chợ Vinh"
    assert loa("publish-due", "--json").json()["counts"]["published"] == 2
    (fb_post,) = page_posts(sandbox)
    assert fb_post["message"] == TEXT + "\n#BHXH"
    (article,) = articles(sandbox)
    assert article_text(article) == TEXT and article["title"] == "Ra quân tuyên truyền tại chợ Vinh"


def test_text_file_and_the_refusals_of_words(loa: Cli, config_path: Path, tmp_path: Path) -> None:
    words = tmp_path / "bai.txt"
    words.write_text(TEXT, encoding="utf-8")
    added = loa("post", "add", "--text-file", str(words), "--channel", FB, "--at", "2026-12-30T08:00", "--json")
    assert added.code == 0, added.stderr
    assert added.json()["text"] == TEXT
    both = loa("post", "add", "--text", "a", "--template", "thang-van-dong", "--channel", FB, "--now")
    assert both.code == 2 and "--text" in both.stderr
    neither = loa("post", "add", "--channel", FB, "--now")
    assert neither.code == 2
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Bảo hiểm".encode("utf-16"))
    refused = loa("post", "add", "--text-file", str(latin1), "--channel", FB, "--now")
    assert refused.code == 2 and "latin1.txt" in refused.stderr and "Traceback" not in refused.stderr
    too_long = loa("post", "add", "--text", "x" * 10_001, "--channel", ZALO, "--now")
    assert too_long.code == 2 and "10000" in too_long.stderr.replace(".", "")
    assert rows(config_path, "post") == 1


def test_the_library_cleans_a_phone_photo_and_stores_it_once(loa: Cli, config_path: Path, tmp_path: Path) -> None:
    source = phone_photo(tmp_path)
    (item,) = add_media(loa, source, alt="Cán bộ BHXH phát tờ rơi")
    assert item["kind"] == "photo" and item["alt"] == "Cán bộ BHXH phát tờ rơi"
    assert item["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    # Turned upright by its orientation: 300 wide, 400 high, the corner mark now top-right.
    assert (item["width"], item["height"]) == (300, 400)
    stored = config_path.parent / "media" / item["file"]
    with Image.open(stored) as image:
        assert not image.getexif()  # no orientation tag and no location left
        corner = image.convert("RGB").getpixel((image.width - 5, 5))
    assert isinstance(corner, tuple) and min(corner) > 230
    assert (config_path.parent / "media" / item["thumbnail"]).is_file()
    (again,) = add_media(loa, source)
    assert again["id"] == item["id"] and rows(config_path, "mediaitem") == 1
    listed = loa("media", "list", "--json").json()["media"]
    assert [m["id"] for m in listed] == [item["id"]]


def test_bad_files_are_refused_by_name_and_nothing_of_the_call_is_stored(
    loa: Cli, config_path: Path, tmp_path: Path
) -> None:
    good = photo(tmp_path, "tot.jpg", COLOURS[0])
    html = tmp_path / "anh.jpg"
    html.write_text("<!doctype html><html><body>không phải ảnh</body></html>", encoding="utf-8")
    result = loa("media", "add", str(good), str(html), "--json")
    assert result.code == 2 and "anh.jpg" in result.stderr and "Traceback" not in result.stderr
    assert rows(config_path, "mediaitem") == 0
    assert not list((config_path.parent / "media").glob("*")) if (config_path.parent / "media").exists() else True

    huge = tmp_path / "lon.png"
    # 20000 × 20000 pixels: refused from the header, long before any pixel is decoded.
    Image.new("1", (20000, 20000)).save(huge, optimize=False)
    bomb = loa("media", "add", str(huge))
    assert bomb.code == 2 and "lon.png" in bomb.stderr and "60 megapixel" in bomb.stderr
    wide = tmp_path / "rong.png"
    Image.new("1", (10000, 8000)).save(wide)  # 80 MP: under Pillow's ceiling, over the office's
    refused = loa("media", "add", str(wide))
    assert refused.code == 2 and "10000×8000" in refused.stderr and "60 megapixel" in refused.stderr

    heavy = tmp_path / "nang.jpg"
    heavy.write_bytes(good.read_bytes() + b"\0" * (31 * 1024 * 1024))
    big = loa("media", "add", str(heavy))
    assert big.code == 2 and "nang.jpg" in big.stderr and "media.max_photo_mib" in big.stderr

    truncated = tmp_path / "clip.mp4"
    truncated.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x10\x00moov" + b"\0" * 64)
    cut = loa("media", "add", str(truncated))
    assert cut.code == 2 and "clip.mp4" in cut.stderr

    other = tmp_path / "bang.xlsx"
    other.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    kind = loa("media", "add", str(other))
    assert kind.code == 2 and "bang.xlsx" in kind.stderr
    assert rows(config_path, "mediaitem") == 0


def test_an_album_arrives_in_order_on_the_page_and_in_the_article(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    files = [photo(tmp_path, f"anh-{i}.jpg", colour) for i, colour in enumerate(COLOURS)]
    media = add_media(loa, *files)
    added = loa(
        "post", "add", "--text", TEXT, *[a for m in media for a in ("--media", str(m["id"]))],
        "--channel", FB, "--channel", ZALO, "--now", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    assert [m["id"] for m in added.json()["media"]] == [m["id"] for m in media]
    assert loa("publish-due", "--json").json()["counts"]["published"] == 2

    (post,) = page_posts(sandbox)
    assert post["message"] == TEXT and len(post["photos"]) == 5
    for staged, colour in zip(post["photos"], COLOURS, strict=True):
        assert not staged["published"]  # staged unpublished, shown through the one post
        assert near(dominant(requests.get(staged["url"], timeout=5).content), colour)

    (article,) = articles(sandbox)
    images = [item["url"] for item in article["body"] if item["type"] == "image"]
    assert len(images) == 5
    assert article["cover"]["photo_url"] == images[0]
    for url, colour in zip(images, COLOURS, strict=True):
        assert near(dominant(requests.get(url, timeout=5).content), colour)

    # What a post shows cannot be deleted from the library.
    in_use = loa("media", "delete", str(media[0]["id"]))
    assert in_use.code == 2 and f"#{added.json()['id']}" in in_use.stderr


def test_an_eleventh_photo_is_refused_naming_the_limit(loa: Cli, config_path: Path, tmp_path: Path) -> None:
    files = [photo(tmp_path, f"anh-{i}.jpg", (i * 20, 100, 200 - i * 15), size=(64, 48)) for i in range(11)]
    media = add_media(loa, *files)
    result = loa(
        "post", "add", "--text", TEXT, *[a for m in media for a in ("--media", str(m["id"]))],
        "--channel", FB, "--now",
    )  # fmt: skip
    assert result.code == 2 and "11" in result.stderr and "10" in result.stderr
    assert rows(config_path, "post") == 0


def test_a_lost_reply_after_the_third_photo_makes_one_post_with_every_photo(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    files = [photo(tmp_path, f"anh-{i}.jpg", colour) for i, colour in enumerate(COLOURS)]
    media = add_media(loa, *files)
    added = loa(
        "post", "add", "--text", TEXT, *[a for m in media for a in ("--media", str(m["id"]))],
        "--channel", FB, "--now", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    # The third photo is staged, then its reply is lost.
    fault(sandbox, platform="facebook", route="POST /{page}/photos", skip=2, drop_after_commit=True)
    first = loa("publish-due", "--json").json()
    assert first["counts"].get("published", 0) == 0
    assert page_posts(sandbox) == []
    with sqlite3.connect(config_path.parent / "posts.db") as db:
        db.execute("UPDATE publication SET next_attempt_at = NULL")
    second = loa("publish-due", "--json").json()
    assert second["counts"]["published"] == 1, second
    (post,) = page_posts(sandbox)
    assert [p["id"] for p in post["photos"]] and len(post["photos"]) == 5
    for staged, colour in zip(post["photos"], COLOURS, strict=True):
        assert near(dominant(requests.get(staged["url"], timeout=5).content), colour)
    shown = loa("post", "show", str(added.json()["id"]), "--json").json()
    assert shown["publications"][0]["status"] == "published"
    staged = state(sandbox)["facebook"]["pages"][PAGE]["photos"]
    # Six photos staged (the lost one twice), five attached: the sixth is on record, not silent.
    assert len(staged) == 6 and sum(1 for p in staged if p["post_id"] is None) == 1
    with sqlite3.connect(config_path.parent / "posts.db") as db:
        orphans = db.execute("SELECT count(*) FROM publishstep WHERE step LIKE 'orphan:%'").fetchone()[0]
    assert orphans == 1


def test_a_heic_photo_from_a_phone_is_taken_and_stored_as_jpeg(loa: Cli, config_path: Path, tmp_path: Path) -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    source = tmp_path / "IMG_2041.HEIC"
    Image.new("RGB", (640, 480), COLOURS[1]).save(source)
    assert source.read_bytes()[4:12] == b"ftypheic"
    (item,) = add_media(loa, source)
    assert item["kind"] == "photo" and item["content_type"] == "image/jpeg"
    stored = (config_path.parent / "media" / item["file"]).read_bytes()
    assert stored[:3] == b"\xff\xd8\xff" and near(dominant(stored), COLOURS[1])


def test_a_chosen_cover_layout_stays_the_zalo_cover_of_a_post_with_photos(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    (item,) = add_media(loa, photo(tmp_path, "anh.jpg", COLOURS[2]))
    added = loa(
        "post", "add", "--text", TEXT, "--media", str(item["id"]), "--cover", "default",
        "--var", "title=Ra quân", "--channel", ZALO, "--now", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    cover = added.json()["publications"][0]["cover"]
    assert loa("publish-due", "--json").json()["counts"]["published"] == 1
    (article,) = articles(sandbox)
    assert article["cover"]["photo_url"].endswith(f"/media/{cover}")
    assert [i["type"] for i in article["body"]] == ["text", "image"]


def test_an_album_refused_for_good_removes_the_photos_it_staged(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    media = add_media(loa, *[photo(tmp_path, f"anh-{i}.jpg", c) for i, c in enumerate(COLOURS[:3])])
    added = loa(
        "post", "add", "--text", TEXT, *[a for m in media for a in ("--media", str(m["id"]))],
        "--channel", FB, "--now", "--json",
    )  # fmt: skip
    fault(sandbox, platform="facebook", route="POST /{page}/feed", error={"code": 100, "message": "(#100) refused"})
    loa("publish-due")
    (publication,) = loa("post", "show", str(added.json()["id"]), "--json").json()["publications"]
    assert publication["status"] == "failed"
    assert page_posts(sandbox) == []
    assert state(sandbox)["facebook"]["pages"][PAGE]["photos"] == []  # staged, then deleted
