"""The review console end to end: real Kafka and MinIO, the app under uvicorn, headless Chromium.

A proctor logs in, a REVIEW decision arrives live (server-sent events) with its
captured frame (presigned MinIO link) beside the decrypted enrolled photo; "Same
person" must put a Feedback with that verdict and reviewer on the feedback topic
and an audit record on the audit topic. With EXAMGATE_UPDATE_SCREENSHOTS=1 the
review page is saved to docs/console.png for the README.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examgate.adapters.kafka import (
    EventPublisher,
    EventReader,
    KafkaClients,
    Topics,
    ensure_topics,
)
from examgate.core import events
from examgate.core.settings import Settings, load_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.integration,
    # Checked before the stack is started: without a browser there is nothing to do.
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="chromium and chromedriver are not installed; run "
                              "deploy/local/install-browser.sh"),
]
# The README's screenshot is refreshed only on request; a test run writes no tracked file.
REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOT = (REPO_ROOT / "docs" / "console.png" if os.environ.get("EXAMGATE_UPDATE_SCREENSHOTS")
              else Path(tempfile.gettempdir()) / "examgate-console.png")
PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jpeg(seed: int) -> bytes:
    """A drawn stand-in face: LFW photos may not be redistributed, e.g. in a screenshot."""
    import cv2
    import numpy as np

    img = np.full((250, 250, 3), (60 + 40 * seed, 90, 120), np.uint8)
    cv2.circle(img, (125, 120), 70, (170, 190, 220), -1)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def _photos(settings: Settings) -> tuple[bytes, bytes]:
    return _jpeg(0), _jpeg(1)


@pytest.fixture(scope="module")
def console_world(stack: Settings) -> Iterator[dict[str, Any]]:
    """Topics of this run, the console serving on a free port, its settings and ports."""
    import uvicorn

    from dashboard.app import create_app
    from dashboard.audit import console_codec
    from dashboard.auth import hash_password
    from dashboard.settings import ConsoleSettings, ConsoleUser
    from dashboard.wiring import console_ports

    run = uuid.uuid4().hex[:8]
    env = {f"EXAMGATE_KAFKA__TOPICS__{k.upper()}": f"itconsole{run}.{k}"
           for k in ("decisions", "feedback", "audit")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = load_settings()
    topics = Topics.from_settings(settings.kafka.topics)
    created = ensure_topics(settings.kafka, [topics.decisions, topics.feedback, topics.audit])
    console = ConsoleSettings(
        # pat proctors MATH101, the exam of every decision here (without exams: none shown).
        users=(ConsoleUser(username="pat", role="proctor", password_hash=hash_password(PASSWORD),
                           display_name="Pat Novak", exams=("MATH101",)),),
        session_secret=secrets.token_urlsafe(32), timezone="Europe/Prague")
    ports = console_ports(settings, console.lookback_hours)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, console, ports),
                                           host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    _wait_ready(base, timeout=90)
    yield {"settings": settings, "console": console, "ports": ports, "base": base,
           "run": run, "codec": console_codec()}
    server.should_exit = True
    thread.join(timeout=20)
    KafkaClients(settings.kafka).admin().delete_topics(created, operation_timeout=30)


def _wait_ready(base: str, timeout: float) -> None:
    import urllib.error
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"the console at {base} did not get ready in {timeout:.0f} s")


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver (nothing downloaded)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 "--window-size=1440,1000", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _store_images(world: dict[str, Any], student: str, decision_id: str
                  ) -> dict[str, Any]:
    """The captured frame in the frames bucket, the enrolled photo sealed; the frame's ref."""
    from examgate.adapters.objectstore import S3ObjectStore

    s = world["settings"]
    objects, sealer = world["ports"].objects, world["ports"].sealer
    assert isinstance(objects, S3ObjectStore)
    captured, enrolled = _photos(s)
    key = f"students/{student}/{uuid.uuid4()}-0.jpg.enc"
    objects.put(s.object_store.bucket_enrollment, key, sealer.seal(enrolled, key))
    frame_key = f"review/{student}/{decision_id}.jpg"
    objects.put(s.object_store.bucket_frames, frame_key, captured, "image/jpeg")
    return events.object_ref(s.object_store.bucket_frames, frame_key, captured)


def _decision(outcome: str, reason: str, student: str, similarity: float | None,
              detail: str, **extra: Any) -> dict[str, Any]:
    now = events.utcnow()
    record = {
        "event_id": events.new_event_id(), "gate_id": "north-hall-2", "exam_id": "MATH101",
        "claimed_student_id": student, "outcome": outcome, "reason": reason,
        "reason_detail": detail, "similarity": similarity,
        "thresholds": {"accept": 0.52, "reject": 0.31, "accept_far": 1e-4, "reject_far": 1e-2,
                       "replay": 0.995},
        "model_version": "3",
        "quality": {"face_count": 1, "face_size_px": 118.0, "sharpness": 41.7,
                    "brightness": 131.0, "clipped_fraction": 0.02, "yaw_deg": 21.0,
                    "roll_deg": -3.0, "detector_confidence": 0.93, "failed": []},
        "latency_ms": {"detect": 11.2, "embed": 7.9}, "shadow": None, "review_frame": None,
        "captured_at": now, "published_at": now, "decided_at": now, "processor_id": "it",
    }
    record.update(extra)
    return record


def _images_loaded(driver: Any, card_css: str) -> bool:
    return driver.execute_script(
        "const imgs = [...document.querySelectorAll(arguments[0] + ' img')];"
        "return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0);",
        card_css)


def _find(world: dict[str, Any], topic: str, predicate, timeout: float = 30) -> dict | None:
    reader = EventReader(world["settings"].kafka, world["codec"], [topic])
    try:
        for event, _ in reader.events(timeout=timeout):
            if not isinstance(event, Exception) and predicate(event.record):
                return event.record
    finally:
        reader.close()
    return None


def test_proctor_reviews_a_decision_in_the_browser(console_world: dict[str, Any],
                                                   browser: Any, tmp_path: Path) -> None:
    """Login, a live REVIEW card with both pictures, "Same person" -> Feedback + audit."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    world, driver, base = console_world, browser, console_world["base"]
    wait = WebDriverWait(driver, 30)
    topics = world["settings"].kafka.topics
    student = f"S{world['run'][:6].upper()}"

    # Log in; the login page sends us on to the page we asked for.
    driver.get(base + "/review?exam=MATH101")
    assert "/login" in driver.current_url
    driver.find_element(By.ID, "username").send_keys("pat")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    wait.until(lambda d: "/review" in d.current_url and "/login" not in d.current_url)
    wait.until(lambda d: d.find_element(By.ID, "stream-status").text == "live")

    # Decisions arrive while the page is open: the REVIEW one appears without a reload.
    review = _decision("REVIEW", "UNCERTAIN_MATCH", student, 0.447,
                       "The score is between the thresholds: compare the faces.")
    review["review_frame"] = _store_images(world, student, review["event_id"])
    others = [_decision("ACCEPT", "MATCH", "S20417", 0.781, ""),
              _decision("REJECT", "NO_MATCH", "S20533", 0.104,
                        "The face does not match the enrolled student.")]
    publisher = EventPublisher(world["settings"].kafka, world["codec"], "it-console")
    for d in (*others, review):
        publisher.publish(topics.decisions, d["gate_id"], "Decision", d)
    assert publisher.flush(30).ok

    card_css = f'article[data-event-id="{review["event_id"]}"]'
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, card_css))
    wait.until(lambda d: _images_loaded(d, card_css))
    card = driver.find_element(By.CSS_SELECTOR, card_css)
    assert student in card.text and "Uncertain match" in card.text
    assert "compare the faces" in card.text and "0.447" in card.text
    frame_src = card.find_element(By.CSS_SELECTOR, "img.captured").get_attribute("src")
    photo_src = card.find_element(By.CSS_SELECTOR, "img.enrolled").get_attribute("src")
    assert "X-Amz-Expires" in frame_src and photo_src.startswith(base + "/img/")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOT))

    card.find_element(By.CSS_SELECTOR, "button.verdict-btn.same").click()
    wait.until(lambda d: "Recorded" in d.find_element(By.CSS_SELECTOR, ".flash").text)
    assert not driver.find_elements(By.CSS_SELECTOR, card_css)

    feedback = _find(world, topics.feedback,
                     lambda r: r.get("decision_event_id") == review["event_id"])
    assert feedback is not None, "no Feedback event on the feedback topic"
    assert (feedback["verdict"], feedback["reviewer_id"]) == ("SAME_PERSON", "pat")
    audited = _find(world, topics.audit,
                    lambda r: r["action"] == "feedback" and r["target"] == review["event_id"])
    assert audited is not None and audited["actor"] == "pat" and audited["role"] == "proctor"
    assert "SAME_PERSON" in audited["detail"]
    assert _find(world, topics.audit, lambda r: r["action"] == "login" and r["actor"] == "pat",
                 timeout=10)

    # The live view shows all three, newest first, with a dispute button on the REJECT.
    driver.get(base + "/live?exam=MATH101")
    rows = driver.find_elements(By.CSS_SELECTOR, "#decision-rows tr[data-event-id]")
    assert [r.get_attribute("data-event-id") for r in rows] == [
        review["event_id"], others[1]["event_id"], others[0]["event_id"]]
    assert "reviewed" in rows[0].text
    assert rows[1].find_elements(By.CSS_SELECTOR, "form button")
    driver.save_screenshot(str(tmp_path / "live.png"))
