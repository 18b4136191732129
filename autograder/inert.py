"""What a grader's browser may be shown of a submission: the autograded notebook, made inert.

formgrader renders ``autograded/`` notebooks to HTML inside the instructor's Jupyter server, on the server's
own origin: a script in that page runs with the instructor's cookie and XSRF token and can call the server's
API (write files, start a kernel and run code, change grades). nbgrader's grading template renders markdown
unsanitised and formgrader's HTMLExporter has ``sanitize_html=False``, so an ``<img onerror>`` in a written
answer or a ``text/html`` output of a solution cell would run there. Two layers stop it:

1. `make_inert` runs on the trusted side on every executed notebook before `autograder.term.write_autograded`
   writes it (local and Dask grading alike; the gradebook still reads the notebook as executed). What must
   hold for the notebook it returns:

   - code cells (every output came from the student's kernel, a setup cell's too) keep only stream text, the
     error's name, value and traceback as text, and of rich outputs only ``text/plain`` and ``image/png`` /
     ``image/jpeg`` whose data is strictly base64 of an image of that type; anything else (HTML, JavaScript,
     markdown, SVG, LaTeX, widgets, unknown types) gives way to its ``text/plain``, or to a one-line note
     when it has none. No output metadata, and no cell metadata but the source's ``nbgrader`` (templates put
     metadata into HTML attributes, some unquoted);
   - markdown cells that `autograder.notebook.assemble` did not copy from source/ (``FROM_SOURCE``), that is
     written answers and cells the student added, stay as written only when they have no ``<``, ``&`` or
     ``script:`` and nbconvert's own markdown parser (the one formgrader renders with) finds nothing in
     them but markdown, with links to http, https, mailto or #fragments only and images only as valid
     PNG/JPEG data (`is_plain_markdown`). Any other is replaced by its
     rendering cleaned by `clean_html`, on one line inside a ``<div>`` (an HTML block every markdown
     renderer passes through as it is). Attachments are dropped (valid PNG/JPEG ones inlined first);
   - raw cells are dropped; of the notebook's ``language_info`` (the kernel's reply) only plain names stay.

2. `clean_html` is also the grading page's ``clean_html`` filter, with ``sanitize_html`` on and our template
   cleaning every markdown cell (``autograder.term.formgrader_exporter_settings``): whatever reaches the page
   passes the same allow-list (nh3) again. The allow-list: text and table tags only; no ``id``, ``style``,
   ``name`` or event attributes; no classes but Pygments'; links only to http, https, mailto and #fragments;
   images only as valid PNG/JPEG ``data:`` URLs (a student's image never makes the grader's browser send a
   request); ``<script>``/``<style>`` dropped with their content.
"""
from __future__ import annotations

import base64
import binascii
import copy
import html
import re

import nbformat
import nh3
from pygments.token import STANDARD_TYPES

from autograder.notebook import FROM_SOURCE

IMAGE_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
LINK_PREFIXES = ("http://", "https://", "mailto:", "#")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_DATA_IMAGE = re.compile(r"data:(image/(?:png|jpeg));base64,(.*)", re.DOTALL)
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,40}")
# what browsers ignore inside a URL (tab, newline) or around it (C0 controls, space) when they read its scheme
_URL_IGNORED = re.compile(r"[\t\n\r]")

TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s",
        "samp", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "tt", "u", "ul", "var"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"}, "ol": {"start"}}
_PYGMENTS = {name for name in STANDARD_TYPES.values() if name}
_CLASSES = {"span": _PYGMENTS, "div": {"highlight"}}
# markdown token types that render only as tags of nbconvert's own choosing around escaped text
_PLAIN_TOKENS = {"paragraph", "text", "heading", "blank_line", "emphasis", "strong", "codespan", "linebreak",
                 "softbreak", "thematic_break", "block_text", "block_quote", "list", "list_item", "block_code",
                 "inline_math", "block_math", "multiline_math", "strikethrough", "table", "table_head",
                 "table_body", "table_row", "table_cell", "task_list_item", "def_list", "def_list_head",
                 "def_list_item", "link", "image"}


def valid_image(mime: str, data) -> str | None:
    """``data`` as one line of base64 when it is strictly base64 of a ``mime`` image (PNG or JPEG, by its
    signature), else None."""
    if mime not in IMAGE_SIGNATURES:
        return None
    if isinstance(data, list) and all(isinstance(part, str) for part in data):
        data = "".join(data)
    if not isinstance(data, str):
        return None
    compact = data.replace("\n", "")  # nbformat may wrap base64 lines; nothing else is let through
    if not compact or not _BASE64.fullmatch(compact):
        return None
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return compact if raw.startswith(IMAGE_SIGNATURES[mime]) else None


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return ""


def _link_allowed(url: str) -> bool:
    normal = _URL_IGNORED.sub("", url).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11"
                                             "\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    return normal.lower().startswith(LINK_PREFIXES)


def _image_allowed(url: str) -> str | None:
    found = _DATA_IMAGE.fullmatch(url.strip())
    if found is None:
        return None
    data = valid_image(found.group(1), found.group(2))
    return f"data:{found.group(1)};base64,{data}" if data else None


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name == "href":
        return value if _link_allowed(value) else None
    if name == "src":
        return _image_allowed(value) if tag == "img" else None
    if name in ("width", "height", "colspan", "rowspan", "start"):
        return value if value.strip().isdigit() and len(value.strip()) <= 5 else None
    return value


_CLEANER = nh3.Cleaner(tags=TAGS, attributes=ATTRIBUTES, attribute_filter=_attribute, strip_comments=True,
                       link_rel="noopener noreferrer nofollow", url_schemes={"http", "https", "mailto", "data"},
                       allowed_classes=_CLASSES)


def clean_html(element) -> str:
    """HTML through the allow-list (module docstring); nbconvert's ``clean_html`` filter signature."""
    text = element.decode("utf-8", "replace") if isinstance(element, bytes) else str(element)
    return _CLEANER.clean(text)


def _markdown(renderer):
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    return MarkdownWithMath(renderer=renderer)


def _renderer(attachments: dict | None = None):
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class Renderer(IPythonRenderer):
        def _embed_image_or_attachment(self, src: str) -> str:
            if src.startswith("attachment:"):  # nbconvert's raises on a missing one: the page would not render
                found = self.attachments.get(src[len("attachment:"):], {})
                return next((f"data:{mime};base64,{data}" for mime, data in found.items()), "")
            return src

    return Renderer(escape=False, attachments=attachments or {}, exclude_anchor_links=True)


def is_plain_markdown(text: str) -> bool:
    """Whether ``text`` may be shown as written: nbconvert's markdown parser finds nothing in it but markdown
    (no raw HTML) whose links and images `clean_html` would keep as they are, and, so that no other markdown
    renderer can read HTML or a script link into it either, it has no ``<``, no ``&`` and no ``script:``."""
    squeezed = re.sub(r"[\x00-\x20\x7f]", "", text).lower()
    if "<" in text or "&" in text or "script:" in squeezed:
        return False
    try:
        parser = _markdown(_renderer())
        parser.renderer = None  # mistune then returns the parsed tokens rather than HTML
        tokens, _ = parser.parse(text)
    except Exception:  # noqa: BLE001 -- a parser failure is simply not plain markdown
        return False
    if not isinstance(tokens, list):
        return False

    def plain(token) -> bool:
        if not isinstance(token, dict) or token.get("type") not in _PLAIN_TOKENS:
            return False
        url = str((token.get("attrs") or {}).get("url", ""))
        if token["type"] == "link" and not _link_allowed(url):
            return False
        if token["type"] == "image" and _image_allowed(url) != url:
            return False
        return all(plain(child) for child in token.get("children") or [])

    return all(plain(token) for token in tokens)


def inert_markdown(text: str, attachments=None) -> str:
    """Markdown a student wrote, as it may be shown (module docstring)."""
    if not attachments and is_plain_markdown(text):
        return text
    images = {}
    for name, bundle in (attachments or {}).items() if isinstance(attachments, dict) else ():
        if isinstance(bundle, dict):
            found = {mime: valid_image(mime, bundle.get(mime)) for mime in IMAGE_SIGNATURES}
            images[str(name)] = {mime: data for mime, data in found.items() if data}
    try:
        rendered = _markdown(_renderer(images)).render(text)
    except Exception:  # noqa: BLE001 -- unrenderable markdown is shown as its text
        rendered = f"<pre>{html.escape(text)}</pre>"
    cleaned = clean_html(rendered).replace("\r", "").replace("\n", "&#10;")  # one line: one HTML block
    return f"<div>{cleaned}</div>"


def inert_outputs(outputs) -> list:
    """The outputs of a code cell that may be shown (module docstring)."""
    kept = []
    for output in outputs if isinstance(outputs, list) else []:
        kind = output.get("output_type") if isinstance(output, dict) else None
        if kind == "stream":
            name = "stderr" if output.get("name") == "stderr" else "stdout"
            kept.append(nbformat.v4.new_output("stream", name=name, text=_text(output.get("text"))))
        elif kind == "error":
            traceback = output.get("traceback")
            kept.append(nbformat.v4.new_output(
                "error", ename=_text(output.get("ename")), evalue=_text(output.get("evalue")),
                traceback=[_text(line) for line in traceback] if isinstance(traceback, list) else []))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data") if isinstance(output.get("data"), dict) else {}
            shown = {mime: image for mime in IMAGE_SIGNATURES if (image := valid_image(mime, data.get(mime)))}
            if isinstance(data.get("text/plain"), (str, list)):
                shown["text/plain"] = _text(data["text/plain"])
            hidden = sorted(str(mime) for mime in data if mime not in shown)
            if not shown and hidden:
                shown["text/plain"] = f"[{', '.join(hidden)} output not shown: text and PNG/JPEG images only]"
            if not shown:
                continue
            if kind == "execute_result":
                count = output.get("execution_count")
                kept.append(nbformat.v4.new_output(kind, data=shown, execution_count=count
                                                   if isinstance(count, int) and not isinstance(count, bool)
                                                   else None))
            else:
                kept.append(nbformat.v4.new_output(kind, data=shown))
    return kept


def make_inert(notebook) -> nbformat.NotebookNode:
    """A copy of an executed notebook (a dict or a NotebookNode) that holds what the module docstring says."""
    nb = nbformat.from_dict(copy.deepcopy(dict(notebook)))
    cells = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        kept_metadata = ({"nbgrader": copy.deepcopy(metadata["nbgrader"])}
                         if isinstance(metadata.get("nbgrader"), dict) else {})
        source = _text(cell.get("source"))
        if cell.get("cell_type") == "code":
            count = cell.get("execution_count")
            new = nbformat.v4.new_code_cell(
                source=source, metadata=kept_metadata, outputs=inert_outputs(cell.get("outputs")),
                execution_count=count if isinstance(count, int) and not isinstance(count, bool) else None)
        elif cell.get("cell_type") == "markdown" and metadata.get(FROM_SOURCE) is True:
            new = copy.deepcopy(cell)  # the instructor's text, from source/
            new.metadata.pop(FROM_SOURCE, None)
        elif cell.get("cell_type") == "markdown":
            new = nbformat.v4.new_markdown_cell(source=inert_markdown(source, cell.get("attachments")),
                                                metadata=kept_metadata)
        else:
            continue  # raw cells: formgrader would render some of them as HTML
        if isinstance(cell.get("id"), str) and _CELL_ID.fullmatch(cell["id"]):
            new["id"] = cell["id"]
        cells.append(new)
    nb.cells = cells
    # nbclient copies the kernel's language_info in; the exporter picks its lexer from it: plain names only
    nb["metadata"] = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else nbformat.NotebookNode()
    info = nb.metadata.get("language_info")
    if info is not None:
        kept = {key: info[key] for key in ("name", "pygments_lexer", "file_extension", "version")
                if isinstance(info, dict) and isinstance(info.get(key), str) and _NAME.fullmatch(info[key])}
        nb.metadata["language_info"] = kept
    return nb
