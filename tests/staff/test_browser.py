"""The staff app in real Chromium: log in, find a booked ticket, claim it, note it, close it,
export CSV, see the statistics chart. Screenshots go to MADOGUCHI_SCREENSHOT_DIR (docs/screenshots
when regenerating the README pictures) or the test's tmp dir."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from bot.domain.schedule import JST
from bot.store import stats
from bot.store.db import session_scope
from bot.store.models import CallbackTicket
from tests.staff.browser import LiveServer, chromium, full_page_screenshot, require_browser
from tests.staff.helpers import PASSWORD, book

PINNED = "2026-11-30T10:00:00+09:00"  # Monday 10:00 JST

pytestmark = pytest.mark.browser


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get("MADOGUCHI_SCREENSHOT_DIR")
    return Path(target) if target else tmp_path / "screenshots"


@pytest.fixture
def live(app, accounts, monkeypatch) -> Iterator[LiveServer]:
    require_browser()
    monkeypatch.setenv("MADOGUCHI_NOW", PINNED)
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def driver(tmp_path: Path, live) -> Iterator[Any]:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    gen = chromium(downloads)
    drv = next(gen)
    drv.downloads = downloads
    yield drv
    gen.close()


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def log_in(driver, live, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{live.url}/")
    assert "/login" in driver.current_url
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit].primary").click()
    wait_for(lambda: "/login" not in driver.current_url, what="login")


def seed_inbox() -> Any:
    """What a REST conversation books (the stack test books one for real), plus a few others."""
    first = book(
        priority="urgent",
        relation="self",
        age_band="18〜29歳",
        needs=("listen",),
        windows=("mihara_kokoro", "peer_support"),
        contact_method="chat",
        preferred_slot="any",
    )
    main = book(
        contact_method="phone",
        phone="090-1234-5678",
        relation="family",
        relation_detail="母",
        age_min=45,
        age_max=45,
        age_band="40〜49歳",
        situation="大学を中退してから二十年近く部屋から出てきません",
        needs=("ibasho",),
        windows=("chanks", "mihara_kokoro"),
        preferred_slot="2026-11-30_pm",
        preferred_at=datetime(2026, 11, 30, 13, tzinfo=JST),
        nickname="はなこ",
    )
    book(
        relation="family",
        relation_detail="父",
        age_min=16,
        age_max=16,
        age_band="15〜17歳",
        situation="高校に行けなくなって半年になります",
        needs=("school", "ibasho"),
        windows=("kyoiku_iinkai", "mihara_ibasho"),
        preferred_slot="2026-12-01_am",
        preferred_at=datetime(2026, 12, 1, 9, tzinfo=JST),
    )
    last = book(
        relation="other",
        relation_detail="民生委員",
        age_band="50〜64歳",
        needs=("living",),
        windows=("jiritsu_mihara",),
        preferred_slot="2026-12-02_pm",
        preferred_at=datetime(2026, 12, 2, 13, tzinfo=JST),
    )
    # Booked over the weekend before the pinned Monday morning.
    with session_scope() as s:
        for i, ticket_id in enumerate(range(first.id, last.id + 1)):
            booked = datetime(2026, 11, 29, 0, 40, tzinfo=JST) - timedelta(hours=7 * i)
            s.get(CallbackTicket, ticket_id).created_at = booked.astimezone(timezone.utc)  # stored as UTC
    return main


def seed_stats() -> None:
    """A plausible FY2026 (April–November): newcomers and returning people every month."""
    relations = ("family", "self", "family", "other", "self", "family", "family")
    bands = ("40〜49歳", "18〜29歳", "30〜39歳", "50〜64歳", "15〜17歳", "40〜49歳", "30〜39歳")
    needs = (
        ("ibasho",),
        ("listen",),
        ("work", "living"),
        ("family",),
        ("school", "listen"),
        ("health",),
        ("ibasho", "family"),
    )
    windows = (
        ("mihara_kokoro", "chanks"),
        ("jiritsu_mihara", "saposute"),
        ("mihara_ibasho",),
        ("mihara_kokoro", "kazokukai"),
    )
    hours = (23, 1, 10, 14, 21, 22, 0, 9, 15, 2, 11, 23, 13)
    pool: list[str] = []
    n = 0
    for idx, month in enumerate(range(4, 12)):
        newcomers = [f"rest-person-{len(pool) + i}" for i in range(4 + idx % 3)]
        returning = pool[-(3 + idx % 2) :]
        pool += newcomers
        for j, sender in enumerate(newcomers + returning):
            for conv in range(1 + (j % 3 == 0)):
                n += 1
                at = datetime(2026, month, 1 + (n * 7) % 27, hours[n % len(hours)], 0, tzinfo=JST)
                key = f"{month}-{conv}"
                stats.record_stat(
                    "consultation",
                    sender,
                    key,
                    relation=relations[n % 7],
                    age_band=bands[n % 7],
                    needs=needs[n % 7],
                    at=at,
                )
                if n % 3:
                    stats.record_stat("recommendation", sender, key, windows=windows[n % 4], at=at)


def test_staff_workflow_in_chromium(driver, live, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    ticket = seed_inbox()
    log_in(driver, live, "suzuki")

    # Inbox: the booked ticket is there, with today's badge, Japanese labels and no phone number.
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-ticket="{ticket.id}"]')
    assert "本日" in row.text and "ご家族（母）" in row.text and "40〜49歳" in row.text
    assert "ちゃんくす（市の委託事業含む）" in row.text and "5678" not in driver.page_source
    first = driver.find_elements(By.CSS_SELECTOR, "tr[data-ticket]")[0]
    assert "緊急" in first.text  # urgent first
    full_page_screenshot(driver, shots / "staff-inbox.png")

    # Ticket: the consented summary with the phone number; claim, note, contacted, closed.
    row.find_element(By.LINK_TEXT, f"#{ticket.id}").click()
    wait_for(lambda: f"/tickets/{ticket.id}" in driver.current_url, what="ticket page")
    assert "090-1234-5678" in driver.page_source and "二十年近く" in driver.page_source
    driver.find_element(By.ID, "claim").click()
    wait_for(lambda: "担当になりました" in driver.page_source, what="claim")
    driver.find_element(By.ID, "body").send_keys("母親と電話で15分話した。ちゃんくすの見学を希望。")
    driver.find_element(By.ID, "add-note").click()
    wait_for(lambda: "メモを追加しました" in driver.page_source, what="note")
    Select(driver.find_element(By.ID, "status")).select_by_value("contacted")
    driver.find_element(By.ID, "change-status").click()
    wait_for(lambda: "「連絡済み」に変更しました" in driver.page_source, what="contacted")
    Select(driver.find_element(By.ID, "outcome_window")).select_by_value("chanks")
    driver.find_element(By.CSS_SELECTOR, "form[action$='/outcome'] button").click()
    wait_for(lambda: "つないだ窓口を記録しました" in driver.page_source, what="outcome")
    full_page_screenshot(driver, shots / "staff-ticket.png")
    Select(driver.find_element(By.ID, "status")).select_by_value("closed")
    driver.find_element(By.ID, "change-status").click()
    wait_for(lambda: "「完了」に変更しました" in driver.page_source, what="closed")
    assert "母親と電話で15分話した。" in driver.page_source

    # Closed tickets leave the inbox.
    driver.get(f"{live.url}/")
    assert not driver.find_elements(By.CSS_SELECTOR, f'tr[data-ticket="{ticket.id}"]')

    # CSV export (no phone numbers) downloads a file Excel can open.
    driver.get(f"{live.url}/export")
    driver.find_element(By.ID, "export-submit").click()
    csv_file = wait_for(lambda: next(iter(driver.downloads.glob("madoguchi-tickets-*.csv")), None), 15, "download")
    wait_for(lambda: not list(driver.downloads.glob("*.crdownload")), 15, "download to finish")
    body = csv_file.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf") and "受付番号".encode() in body
    assert b"090-1234-5678" not in body and "完了".encode() in body

    # Statistics: the charts are drawn by Chart.js on canvas.
    seed_stats()
    driver.get(f"{live.url}/stats?year=2026")
    wait_for(
        lambda: driver.execute_script(
            "return typeof Chart !== 'undefined' && !!Chart.getChart(document.getElementById('chart-monthly'))"
        ),
        what="Chart.js chart",
    )
    painted = driver.execute_script("""
        const c = document.getElementById('chart-monthly');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
        return [c.width, c.height, n];""")
    assert painted[0] > 300 and painted[1] > 150 and painted[2] > 2000, painted
    assert (
        driver.execute_script(
            "return Chart.getChart(document.getElementById('chart-hours')).data.datasets[0].data.length"
        )
        == 24
    )
    assert "3未満" in driver.page_source
    full_page_screenshot(driver, shots / "staff-stats.png")
    for name in ("staff-inbox.png", "staff-ticket.png", "staff-stats.png"):
        assert (shots / name).stat().st_size > 10_000


def test_staff_user_cannot_open_supervisor_pages_in_the_browser(driver, live):
    from selenium.webdriver.common.by import By

    log_in(driver, live, "sato")
    assert not driver.find_elements(By.LINK_TEXT, "統計")
    driver.get(f"{live.url}/stats")
    assert "権限がありません" in driver.page_source
