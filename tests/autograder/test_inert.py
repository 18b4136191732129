"""The autograded notebook made inert for the grader's browser (autograder/inert.py), without a browser:
the sanitiser, the output filter, the notebook as written, formgrader's template and our feedback pages.
(tests/autograder/test_formgrader_browser.py opens the same payloads in chromium.)"""
from __future__ import annotations

import base64
import re

import nbformat
import pytest

from autograder import feedback
from autograder.inert import clean_html, inert_markdown, inert_outputs, is_plain_markdown, make_inert, valid_image
from autograder.notebook import FROM_SOURCE

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(24)).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(24)).decode()
# tags that would run script, load a document or restyle the page if they reached it from a student
ACTIVE_TAGS = {"script", "style", "iframe", "frame", "object", "embed", "svg", "math", "link", "meta", "base",
               "form", "input", "button", "textarea", "select"}
SAFE_URL = re.compile(r"(data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+|https?://.*|mailto:.*|#.*)\Z", re.S)


def active(markup: str, allowed_tags=frozenset()) -> list[str]:
    """What in ``markup`` could act: active tags, event handler / style / id / srcdoc attributes, links or
    sources that are not http(s), mailto, #fragment or a PNG/JPEG data URL (text never counts)."""
    from html.parser import HTMLParser

    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ACTIVE_TAGS - set(allowed_tags):
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on") or name in ("style", "srcdoc", "id", "formaction", "action"):
                    found.append(f"{tag}[{name}]")
                if name in ("href", "src") and not SAFE_URL.match((value or "").strip()):
                    found.append(f"{tag}[{name}={value}]")

    Parser(convert_charrefs=True).feed(markup)
    return found


MARKDOWN_PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<iframe srcdoc='<script>parent.alert(1)</script>'></iframe>",
    "<style>body { background: url(http://127.0.0.1:9/css) }</style>",
    "<div style='position:fixed;top:0'>fake score box</div>",
    "<svg onload=alert(1)></svg>",
    "<a href='JaVaScRiPt:alert(1)'>x</a>",
    "[link](javascript:alert(1))",
    "[link](  javascript:alert(1) )",
    "[link](vbscript:msgbox(1))",
    "[link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[ref][1]\n\n[1]: jav&#x61;script:alert(1)",
    "<javascript:alert(1)>",
    "![img](javascript:alert(1))",
    "![img](http://127.0.0.1:9/tracker.png)",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![img](data:image/png;base64,x" onerror="alert(1))',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<h1 id=explain_scale>clobbers formgrader's score box</h1>",
    "<form action=/api/contents><input name=x></form>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<!-- <img src=x onerror=alert(1)> -->",
    "`code` <img src=`x` onerror=alert(1)>",
]


@pytest.mark.parametrize("payload", MARKDOWN_PAYLOADS)
def test_student_markdown_keeps_nothing_active(payload):
    shown = inert_markdown(f"My answer.\n\n{payload}")
    assert "My answer." in shown
    assert active(shown) == [], shown


@pytest.mark.parametrize("payload", MARKDOWN_PAYLOADS)
def test_the_grading_page_filter_keeps_nothing_active(payload):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    assert active(clean_html(markdown2html_mistune(payload))) == []


def test_plain_markdown_stays_as_the_student_wrote_it():
    text = ("# Why\nThe loss is *lower* when $D(x) > 0.5$; see [the paper](https://arxiv.org/abs/1406.2661).\n\n"
            "```python\nif a > b:\n    pass\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
            f"![plot](data:image/png;base64,{PNG})")
    assert is_plain_markdown(text) and inert_markdown(text) == text
    # a `<` or `&` anywhere: shown as nbconvert renders it, cleaned (no other renderer can read HTML into it)
    assert not is_plain_markdown("if `a < b` then") and "<code>a &lt; b</code>" in inert_markdown("if `a < b`")


def test_sanitised_markdown_keeps_its_text_code_and_images():
    shown = inert_markdown("Answer <b>bold</b> <img src=x>\n\n```python\nx = 1 < 2\n\n\ny = 3\n```\n\n"
                           "![pasted](attachment:a.png) ![forged](attachment:b.png)",
                           attachments={"a.png": {"image/png": PNG}, "b.png": {"image/png": "bm90IGEgcG5n"}})
    assert shown.startswith("<div>") and shown.endswith("</div>") and "\n" not in shown  # one HTML block
    assert "<b>bold</b>" in shown and "&lt;" in shown and f'src="data:image/png;base64,{PNG}"' in shown
    assert shown.count("<img") == 3 and shown.count("src=") == 1  # the forged and the external one: no source


def test_only_strict_base64_of_the_named_image_type_is_an_image():
    assert valid_image("image/png", PNG) == PNG
    assert valid_image("image/png", PNG[:20] + "\n" + PNG[20:]) == PNG  # nbformat's wrapped lines
    assert valid_image("image/jpeg", JPEG) == JPEG
    for forged in ['" onerror="alert(1)', PNG + '" onerror="x', PNG[:-2], JPEG, "", None, 3, ["x", 1],
                   base64.b64encode(b"<svg onload=alert(1)>").decode(), PNG.replace("A", " ")]:
        assert valid_image("image/png", forged) is None, forged
    assert valid_image("image/svg+xml", PNG) is None


def test_code_outputs_keep_only_text_and_valid_images():
    def display(data, **extra):
        return nbformat.v4.new_output("display_data", data=data, **extra)

    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="<script>alert(1)</script>"),
        display({"text/html": "<script>alert(1)</script>", "text/plain": "<IPython.core.display.HTML object>"}),
        display({"application/javascript": "alert(1)"}),
        display({"text/markdown": "<img src=x onerror=alert(1)>"}),
        display({"image/svg+xml": "<svg onload=alert(1)></svg>"}),
        display({"image/png": '" onerror="alert(1)'}),
        display({"image/png": PNG}, metadata={"image/png": {"width": "1 onerror=alert(1)"}}),
        display({"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/latex": "$x$"}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "42", "text/html": "<b>42</b>"},
                               execution_count=3),
        nbformat.v4.new_output("error", ename="ValueError", evalue="<img src=x onerror=alert(1)>",
                               traceback=["\x1b[31m<b>tb</b>"]),
        {"output_type": "made_up", "data": {"text/html": "<script></script>"}},
    ]
    kept = inert_outputs(outputs)
    mimes = {mime for output in kept for mime in output.get("data", {})}
    assert mimes == {"text/plain", "image/png"}
    assert all(not output.get("metadata") for output in kept)
    assert [o["output_type"] for o in kept].count("error") == 1 and kept[-1]["evalue"].startswith("<img")
    notes = [o["data"]["text/plain"] for o in kept if o.get("data", {}).get("text/plain", "").startswith("[")]
    assert any("application/javascript" in note for note in notes) and any("image/svg+xml" in n for n in notes)
    assert next(o for o in kept if o["output_type"] == "execute_result")["execution_count"] == 3


def test_make_inert_leaves_the_source_text_and_cleans_the_rest():
    prompt = nbformat.v4.new_markdown_cell("Inline question <b>2</b>", metadata={FROM_SOURCE: True})
    answer = nbformat.v4.new_markdown_cell("<img src=x onerror=alert(1)>It multiplies.", metadata={
        "nbgrader": {"grade": True, "solution": True, "grade_id": "explain", "points": 2}, "tags": ["\" x"]})
    added = nbformat.v4.new_markdown_cell("<script>alert(1)</script>", attachments={"a.svg": {
        "image/svg+xml": "PHN2Zz4="}})
    code = nbformat.v4.new_code_cell("x", metadata={"tags": ["<b>"], "jupyter": {"source_hidden": True}},
                                     outputs=[nbformat.v4.new_output("display_data", data={"text/html": "<i>"})])
    raw = nbformat.v4.new_raw_cell("<script>alert(1)</script>")
    executed = nbformat.v4.new_notebook(cells=[prompt, answer, added, code, raw])
    before = nbformat.writes(executed)
    nb = make_inert(nbformat.from_dict(executed))
    assert nbformat.writes(executed) == before  # the gradebook still reads the notebook as executed
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "markdown", "code"]
    assert nb.cells[0].source == "Inline question <b>2</b>" and FROM_SOURCE not in nb.cells[0].metadata
    assert "It multiplies." in nb.cells[1].source and active(nb.cells[1].source) == []
    assert dict(nb.cells[1].metadata) == {"nbgrader": answer.metadata["nbgrader"]}
    assert "attachments" not in nb.cells[2] and "script" not in nb.cells[2].source
    assert dict(nb.cells[3].metadata) == {} and "text/html" not in nb.cells[3].outputs[0]["data"]


def _render_grading_page(nb) -> str:
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from autograder.term import formgrader_exporter_settings

    config = Config()
    for name, value in formgrader_exporter_settings().items():
        setattr(config.HTMLExporter, name, value)
    page, _ = HTMLExporter(config=config).from_notebook_node(
        nb, resources={"base_url": "", "notebook_id": "Tiny", "index": 0, "total": 1})
    return page[page.index('id="notebook-container"'):]


def test_the_grading_template_cleans_markdown_and_outputs_itself():
    """Layer 2 alone: a notebook nobody made inert (stock `nbgrader autograde`) renders with nothing active."""
    answer = nbformat.v4.new_markdown_cell("<img src=x onerror=alert(1)> answer", metadata={
        "nbgrader": {"grade": True, "solution": True, "grade_id": "explain", "points": 2}})
    narrative = nbformat.v4.new_markdown_cell("<iframe srcdoc='<script>alert(1)</script>'></iframe> text")
    code = nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("display_data", data={
        "text/html": "<script>alert(1)</script><b onmouseover=alert(1)>b</b>",
        "application/javascript": "alert(1)", "text/markdown": "<img src=x onerror=alert(1)>"})])
    page = _render_grading_page(nbformat.v4.new_notebook(cells=[narrative, answer, code]))
    # formgrader's own score boxes, buttons and comment box (with their ids) are the page's, not the student's
    found = active(page, allowed_tags={"input", "button", "textarea"})
    assert [f for f in found if not re.fullmatch(r"(input|textarea|div)\[(id|style)\]|span\[style\]", f)] == []
    assert "<script" not in page and "alert(1)</script>" not in page
    assert " answer" in page and " text" in page


def test_generated_formgrader_config_sanitises(tmp_path):
    from autograder.term import load_config, write_formgrader_config

    path = write_formgrader_config(autograded_dir=tmp_path / "autograded", db_url="sqlite:///x.db",
                                   source_dir=tmp_path / "source")
    exporter = load_config(path).HTMLExporter
    assert exporter.sanitize_html is True and exporter.template_name == "formgrade_offline"
    assert exporter.filters == {"clean_html": "autograder.inert.clean_html"}


def test_feedback_pages_escape_what_the_student_and_the_grader_wrote():
    from autograder.term import CellGrade, Totals

    payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    record = {"assignment": "tiny", "student_id": "ada", "score": 0.0, "max_score": 1.0, "status": payload,
              "message": payload, "sandboxed": True, "manual_max_score": 2.0,
              "checks": [{"grade_id": "add_values", "passed": False, "score": 0.0, "max_score": 1.0,
                          "hidden": False, "message": f"your code raised ValueError: {payload}"}]}
    totals = Totals(student_id="ada", assignment="tiny", duedate=payload, seconds_late=3600.0,
                    cells=[CellGrade(grade_id="explain", notebook="Tiny", manual=True, points=1.0,
                                     max_points=2.0, extra_credit=0.0, needs_manual_grade=False,
                                     comment=payload)])
    page = feedback.render(record, totals)
    assert "<img" not in page and "<script>" not in page and page.count("&lt;img src=x onerror") == 5


def test_the_kernels_language_info_keeps_plain_names_only():
    nb = nbformat.v4.new_notebook(metadata={"language_info": {
        "name": "python", "pygments_lexer": "ipython3", "codemirror_mode": {"name": "<script>"},
        "file_extension": '.py" onload="x'}})
    assert dict(make_inert(nb).metadata["language_info"]) == {"name": "python", "pygments_lexer": "ipython3"}


def test_write_autograded_makes_every_notebook_inert_and_one_failure_loses_only_that_view(tmp_path, monkeypatch):
    from autograder import term

    hostile = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("<script>alert(1)</script>hi")])
    (tmp_path / "sub").mkdir()
    written = term.write_autograded(tmp_path / "autograded", student="eve", assignment="tiny",
                                    executed={"A.ipynb": hostile}, submission_folder=tmp_path / "sub")
    assert "script" not in written[0].read_text() and "hi" in written[0].read_text()

    def broken(notebook):
        raise RuntimeError("a bug")

    monkeypatch.setattr(term, "make_inert", broken)
    written = term.write_autograded(tmp_path / "autograded", student="eve", assignment="tiny",
                                    executed={"A.ipynb": hostile}, submission_folder=tmp_path / "sub")
    text = written[0].read_text()
    assert "could not be made safe to show (RuntimeError)" in text and "script" not in text


def test_offline_mathjax_follows_the_install_not_the_grading_order(tmp_path, monkeypatch, capfd):
    """Issue 22: libjs-mathjax installed after grading used to need a regrade; now a server restart does."""
    from autograder import term

    mathjax = tmp_path / "javascript" / "mathjax" / "MathJax.js"
    monkeypatch.setattr(term, "LOCAL_MATHJAX", mathjax)
    path = term.write_formgrader_config(autograded_dir=tmp_path / "autograded", db_url="sqlite:///x.db",
                                        source_dir=tmp_path / "source")  # graded before the install
    exporter = term.load_config(path).HTMLExporter
    assert "mathjax_url" not in exporter and exporter.sanitize_html is True
    said = capfd.readouterr().err
    assert "apt-get install libjs-mathjax" in said and f"extra_static_paths={mathjax.parent.parent}" in said
    mathjax.parent.mkdir(parents=True)
    mathjax.write_text("// MathJax 2")  # installed later; the server restarts and reads the config again
    exporter = term.load_config(path).HTMLExporter
    assert exporter.mathjax_url == term.LOCAL_MATHJAX_URL and exporter.template_name == "formgrade_offline"
    assert "MathJax" not in capfd.readouterr().err
