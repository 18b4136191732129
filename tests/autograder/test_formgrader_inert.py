"""A hostile submission opened in formgrader and on its feedback page, in Debian's chromium: nothing runs.

A student of a tiny class puts every kind of payload we know of where formgrader shows it: raw HTML in the
written answer and in markdown cells of their own, and rich outputs of a solution cell (HTML with script,
JavaScript, markdown, SVG, a forged PNG, image metadata that breaks out of an attribute, iframes, styles).
Each payload, if it ran or loaded, would ask a marker HTTP server this test runs for its own path, or change
the page's title. The test opens formgrader's grading page (as the instructor, logged in) and the feedback
page and asserts the marker server was asked nothing, the title is the page's, and no student
``<script>``/``<style>``/``<iframe>`` or event handler is in the DOM; and (issue 22) that the grading page
shows the whole notebook: the question prompt above the answer it asks for. Screenshots in ``screenshots/``.
"""
from __future__ import annotations

import http.server
import threading
import time

import nbformat
import pytest

from autograder.grade import grade
from autograder.release import release
from conftest import TINY, TINY_NOTEBOOK, tiny_source_notebook, write_submission
from test_formgrader_browser import LIMITS, _submission_id, _wait, browser, jupyter_server  # noqa: F401

PROMPT = "Inline question 2: why does scale keep the shape of x?"
ANSWER = "Scaling multiplies each entry by the factor, so the shape stays the same."
NOTE = "My own note on add"
SETTLE_SECONDS = 3  # after the page is complete: time for a payload's image error or request to happen


class _Marker(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 -- http.server's name
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def marker():
    """A local HTTP server that records every path asked of it: (base URL, list of paths)."""
    handler = type("Marker", (_Marker,), {"hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hit/", handler.hits
    finally:
        server.shutdown()
        server.server_close()


def _hit(base: str, name: str) -> str:
    """JavaScript that reports ``name`` to the marker server and retitles the page (single quotes only)."""
    return f"new Image().src='{base}{name}';document.title='XSS-{name}'"


def _source() -> nbformat.NotebookNode:
    """The tiny assignment with its question prompt in a narrative cell before the answer, as the course has."""
    nb = tiny_source_notebook()
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id")
                 == "explain_scale")
    nb.cells.insert(index, nbformat.v4.new_markdown_cell(f"**{PROMPT}**"))
    return nb


def _outputs_code(base: str) -> str:
    """A solution cell that shows every kind of rich output, then defines a correct ``scale``."""
    def hit(name):
        return _hit(base, name)

    outputs = [
        ("HTML", f"<script>{hit('html-script')}</script><img src=x onerror=\"{hit('html-img')}\">"),
        ("Javascript", hit("javascript")),
        ("Markdown", f"<img src=x onerror=\"{hit('markdown-output')}\">"),
    ]
    raw = [
        {"image/svg+xml": f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{hit('svg-onload')}\">"
                          f"<script>{hit('svg-script')}</script></svg>"},
        {"image/png": f"x\" onerror=\"{hit('forged-png')}"},
        {"text/html": f"<iframe srcdoc=\"<script>{hit('output-iframe')}</script>\"></iframe>"
                      f"<style>* {{ background: url({base}output-style) }}</style>", "text/plain": "an iframe"},
        {"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0}},
    ]
    lines = ["from IPython.display import HTML, Javascript, Markdown, display"]
    lines += [f"display({kind}({text!r}))" for kind, text in outputs]
    lines += [f"display({bundle!r}, raw=True)" for bundle in raw]
    # image metadata that the template writes into an unquoted attribute, around a PNG the browser cannot decode
    width = f"1 onerror=new(Image)().src='{base}png-width'"
    metadata = {"image/png": {"width": width}}
    lines.append(f"display({{'image/png': 'iVBORw0KGgo='}}, metadata={metadata!r}, raw=True)")
    lines.append(f"print({('<script>' + hit('stream') + '</script>')!r})")
    lines.append("\n\ndef scale(x, factor=2.0):\n    return np.asarray(x) * factor")
    return "\n".join(lines)


def _hostile(base: str) -> nbformat.NotebookNode:
    def hit(name):
        return _hit(base, name)

    nb = _source()
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    by_id["explain_scale"].source = (
        f"{ANSWER}\n\n<img src=x onerror=\"{hit('answer-img')}\">\n\n<script>{hit('answer-script')}</script>"
        f"\n\n<style>body {{ background: url({base}answer-style) }}</style>\n\n"
        "[click me](javascript:document.title='XSS-answer-link')\n\n"
        "$\\href{javascript:document.title='XSS-mathjax'}{math link}$ (MathJax's Safe extension)")
    message = f"<img src=x onerror=\"{hit('error-message')}\">"
    by_id["add"].source = f"def add(a, b):\n    raise ValueError({message!r})"
    by_id["scale"].source = _outputs_code(base)
    index = nb.cells.index(by_id["add"])
    nb.cells.insert(index + 1, nbformat.v4.new_markdown_cell(
        f"{NOTE}\n\n<iframe srcdoc=\"<script>{hit('md-iframe')}</script>\"></iframe>\n\n"
        f"<svg onload=\"{hit('md-svg')}\"></svg>\n\n"
        f"<div style=\"background:url({base}md-inline-style)\">styled</div>\n\n"
        f"<link rel=stylesheet href={base}md-link>\n\n![tracker]({base}md-image)\n\n"
        "[ref][1] and <javascript:document.title='XSS-md-autolink'> and "
        "<a href=\"JaVaScRiPt:document.title='XSS-md-a'\">a</a>\n\n"
        "[1]: javascript:document.title='XSS-md-reference'\n\n"
        f"<object data={base}md-object></object><embed src={base}md-embed>"))
    return nb


STUDENT_CONTENT_CHECK = """
const box = document.getElementById('notebook-container') || document.body;
const bad = [];
for (const el of box.querySelectorAll('*')) {
  const tag = el.tagName.toLowerCase();
  if (tag === 'script' && !(el.type || '').startsWith('math/tex')) bad.push('script');
  if (['style', 'iframe', 'object', 'embed', 'svg', 'link', 'meta', 'base'].includes(tag)) bad.push(tag);
  for (const attr of el.attributes) {
    if (attr.name.startsWith('on')) bad.push(tag + '[' + attr.name + ']');
  }
  if (tag === 'a' && el.href && !['http:', 'https:', 'mailto:'].includes(new URL(el.href).protocol)) {
    bad.push('a[href=' + el.href + ']');
  }
  if (tag === 'img' && el.src && !el.src.startsWith('data:image/png;base64,')
      && !el.src.startsWith('data:image/jpeg;base64,')) bad.push('img[src=' + el.src + ']');
}
return bad;
"""


def _settled(driver):
    _wait(lambda: driver.execute_script("return document.readyState") == "complete", "the page to load")
    time.sleep(SETTLE_SECONDS)  # a payload that would run has run by now (its request or title change is seen)


def test_hostile_submission_runs_nothing_in_formgrader_or_feedback(browser, marker, tmp_path):
    from selenium.webdriver.common.by import By

    base, hits = marker
    root = tmp_path / "course"
    source = root / "source" / TINY
    source.mkdir(parents=True)
    nbformat.write(_source(), source / TINY_NOTEBOOK)
    release(assignments=[TINY], release_dir=root / "release", source_dir=root / "source")
    write_submission(root / "submitted", "eve", _hostile(base))
    grade(assignment=TINY, submitted_dir=root / "submitted", out_dir=root, jobs=1, limits=LIMITS,
          source_dir=root / "source", progress=False)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with jupyter_server(root, tmp_path) as (url, token):
        browser.get(f"{url}/formgrader?token={token}")  # the token logs the browser in (a cookie from here on)
        db_url = f"sqlite:///{root / 'gradebook.db'}"
        page = f"{url}/formgrader/submissions/{_submission_id(db_url, 'eve')}/"
        browser.get(page)
        _settled(browser)
        browser.save_screenshot(str(shots / "01-grading-page.png"))
        assert hits == [], f"payloads ran or loaded on the grading page: {hits}"
        # formgrader's own script ran (it fetched the grades and filled the auto score in): the page is live
        _wait(lambda: browser.find_element(By.ID, "scale_values").get_attribute("placeholder") == "3",
              "formgrader's script to show the auto score of scale_values")
        text = browser.find_element(By.TAG_NAME, "body").text
        bad = browser.execute_script(STUDENT_CONTENT_CHECK)
        title, where = browser.title, browser.current_url

    assert title == "Tiny" and where.split("?")[0] == page and bad == [], (title, where, bad)  # formgrader adds ?index
    # issue 22: the whole notebook, each source text once, the prompt above the answer it asks for
    assert text.count("A tiny assignment") == 1 and text.count(PROMPT) == 1
    assert text.index("A tiny assignment") < text.index(NOTE) < text.index(PROMPT) < text.index(ANSWER)
    assert "onerror" in text  # the student's markup is shown to the grader, as text

    feedback = root / "feedback" / "eve" / f"{TINY}.html"
    browser.get(feedback.as_uri())
    _settled(browser)
    browser.save_screenshot(str(shots / "02-feedback.png"))
    assert hits == [], f"payloads ran or loaded on the feedback page: {hits}"
    assert browser.title == f"{TINY}: feedback for eve" and browser.execute_script(STUDENT_CONTENT_CHECK) == []
    assert 'your code raised ValueError: <img src=x onerror="new Image()' in browser.find_element(
        By.TAG_NAME, "body").text
