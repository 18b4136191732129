"""nbgrader's formgrader on our grades, in a real browser: Debian's chromium, headless, through chromedriver.

The test grades a tiny class, starts a Jupyter server with nbgrader's formgrader in the course root that
`autograder grade` prepared, opens a student's manual grading page, checks that the written answer and the
auto scores are there, enters a score and a comment, and checks that `autograder feedback` and
`autograder export` carry them. Screenshots of every page land in the test's tmp folder (``screenshots/``).
"""
from __future__ import annotations

import contextlib
import csv
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.cli import main as cli_main
from autograder.grade import Limits, grade
from autograder.nbgrader_api import COURSE_ID
from autograder.term import LOCAL_MATHJAX
from conftest import TINY, TINY_NOTEBOOK, replace_solution, write_submission

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ANSWER = "Scaling multiplies each entry by the factor, so the shape stays the same."
SCORE, COMMENT = "1.5", "Right idea; say what happens to the dtype too."
LIMITS = Limits(cell_timeout=10, submission_timeout=60, memory_mb=4096)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1600",
                  # offline, and fast about it: formgrader pages load MathJax from a CDN in a blocking <script>
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def _browser_or_skip():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .)")
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER, LOCAL_MATHJAX) if not p.is_file()]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver libjs-mathjax "
                    "(.ci/run does; formgrader's grading page needs MathJax and the test is offline)")
    return webdriver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def formgrader(tiny_course, tmp_path):
    """A graded class in a course root and a Jupyter server with formgrader on it: (root, url, token)."""
    root = tmp_path / "course"
    solution = tiny_course / "source" / TINY / TINY_NOTEBOOK
    write_submission(root / "submitted", "ada", replace_solution(solution, "explain_scale", ANSWER))
    write_submission(root / "submitted", "bob", replace_solution(solution, "add", "def add(a, b):\n    return a - b"))
    grade(assignment=TINY, submitted_dir=root / "submitted", out_dir=root, jobs=2, limits=LIMITS,
          source_dir=tiny_course / "source", progress=False)
    assert (root / "nbgrader_config.py").is_file() and (root / "autograded" / "ada" / TINY / TINY_NOTEBOOK).is_file()

    with jupyter_server(root, tmp_path) as (url, token):
        yield root, url, token


@contextlib.contextmanager
def jupyter_server(root: Path, tmp_path: Path):
    """A Jupyter server with formgrader on the course root ``root`` that `autograder grade` wrote: (url, token)."""
    port, token = _free_port(), secrets.token_hex(16)
    jupyter_home = tmp_path / "jupyter"  # no user-level Jupyter config or runtime files leak in or out
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(jupyter_home / "config"),
               JUPYTER_RUNTIME_DIR=str(jupyter_home / "runtime"), JUPYTER_DATA_DIR=str(jupyter_home / "data"),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    log = (tmp_path / "jupyter-server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "server", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--ServerApp.extra_static_paths={LOCAL_MATHJAX.parent.parent}"],
        cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("the Jupyter server did not start:\n"
                                + (tmp_path / "jupyter-server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    webdriver = _browser_or_skip()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def _submission_id(db_url: str, student: str) -> str:
    with Gradebook(db_url, course_id=COURSE_ID) as book:
        return book.find_submission_notebook("Tiny", TINY, student).id


def test_manual_grading_in_formgrader_reaches_feedback_and_exports(browser, formgrader, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    root, url, token = formgrader
    shots = tmp_path / "screenshots"
    shots.mkdir()
    db_url = f"sqlite:///{(root / 'gradebook.db').resolve()}"

    browser.get(f"{url}/formgrader?token={token}")  # the token logs the browser in (a cookie from here on)
    browser.get(f"{url}/formgrader/gradebook/{TINY}/Tiny")
    _wait(lambda: "ada" in browser.page_source and "bob" in browser.page_source, "the list of graded students")
    browser.save_screenshot(str(shots / "01-submissions.png"))

    browser.get(f"{url}/formgrader/submissions/{_submission_id(db_url, 'ada')}/")
    # formgrader shows an auto score as the placeholder of its score box, once its script fetched the grades
    _wait(lambda: browser.find_element(By.ID, "add_values").get_attribute("placeholder") == "1",
          "the auto score of add_values (1 point) in its score box")
    assert ANSWER in browser.find_element(By.TAG_NAME, "body").text  # the written answer, rendered
    assert browser.find_element(By.ID, "scale_values").get_attribute("placeholder") == "3"
    answer_box = browser.find_element(By.ID, "explain_scale")
    assert answer_box.get_attribute("value") == "" and "needs_manual_grade" in answer_box.get_attribute("class")
    browser.save_screenshot(str(shots / "02-manual-grading.png"))

    score = browser.find_element(By.ID, "explain_scale")
    score.clear()
    score.send_keys(SCORE, Keys.TAB)  # formgrader saves on the change event
    comment = browser.find_element(By.ID, "explain_scale-comment")
    comment.send_keys(COMMENT)
    browser.find_element(By.TAG_NAME, "body").click()  # leave the textarea: its change event saves it

    def saved():
        with Gradebook(db_url, course_id=COURSE_ID) as book:
            grade = book.find_grade("explain_scale", "Tiny", TINY, "ada")
            text = book.find_comment("explain_scale", "Tiny", TINY, "ada").manual_comment
            return grade.manual_score == float(SCORE) and text == COMMENT and not grade.needs_manual_grade

    _wait(saved, "formgrader to save the score and the comment in the gradebook")
    browser.save_screenshot(str(shots / "03-saved.png"))

    assert cli_main(["feedback", TINY, "--out", str(root)]) == 0
    page = root / "feedback" / "ada" / f"{TINY}.html"
    text = page.read_text()
    assert COMMENT.replace("'", "&#x27;") in text and f"{SCORE} / 2" in text and "<b>7.5 / 8</b>" in text
    assert "SECRET_HIDDEN_ASSERTION" not in text
    browser.get(page.as_uri())
    browser.save_screenshot(str(shots / "04-feedback.png"))

    class_csv, canvas_csv = tmp_path / "class.csv", tmp_path / "canvas.csv"
    assert cli_main(["export", "--db", db_url, "--out", str(class_csv)]) == 0
    assert cli_main(["export", "--db", db_url, "--out", str(canvas_csv), "--format", "canvas"]) == 0
    with class_csv.open(newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["student_id"] == "ada")
    assert (float(row["auto_score"]), float(row["manual_score"]), float(row["total"])) == (6.0, 1.5, 7.5)
    with canvas_csv.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[1][-1] == "8" and ["ada", "", "ada", "ada", "", "7.5"] in lines
    for shot in sorted(shots.glob("*.png")):
        assert shot.stat().st_size > 10_000, f"{shot.name} looks blank"
    if os.environ.get("FORMGRADER_SCREENSHOTS"):  # keep them past the tmp folder (the README's picture)
        shutil.copytree(shots, os.environ["FORMGRADER_SCREENSHOTS"], dirs_exist_ok=True)
