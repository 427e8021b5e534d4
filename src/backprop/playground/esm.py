"""The notebook widget's front end, built from the page's own files: nothing copied.

:func:`esm` returns the ES module anywidget loads: ``static/widget-host.js`` (the widget's
:data:`HOST`, see ``static/host.js``), then every script that ``static/index.html`` loads, in its
order, wrapped into one function that each view of the widget calls with its own host -- so each
view has its own scope and state -- and the page's markup and style sheet as strings that the host
puts into the view's shadow root. The style sheet is adapted to the shadow root (``:root`` and
``body`` rules apply to its host and page element) instead of being anywidget's ``_css``, which
goes into the notebook's document: there it would restyle the notebook and not reach the shadow root.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

from backprop.errors import InvalidInputError

SCRIPT = re.compile(r'<script\s+src="static/([\w.-]+\.js)"\s*>\s*</script>')
WIDGET_HOST = "widget-host.js"

#: rules the notebook needs on top of the page's: a frame of its own, the width of a cell
WIDGET_CSS = """
:host { display: block; overflow-x: auto; }
.bp-page { container-type: inline-size; min-width: 680px; border: 1px solid var(--line); border-radius: 10px;
  overflow: hidden; }
.bp-page:focus { outline: none; }
.bp-page:focus-visible { outline: 2px solid var(--accent); }
main { grid-template-columns: 220px minmax(0, 1fr) 340px; }
/* a cell output has no window height to follow: the drawing gets a fixed one */
#net-wrap { height: 460px; }
/* a notebook's column is narrower than a browser window: the inspector moves below */
@container (max-width: 1150px) {
  main { grid-template-columns: 210px minmax(0, 1fr); }
  #inspector { grid-column: 1 / -1; }
}
"""


def _static(name: str) -> str:
    return (resources.files("backprop.playground") / "static" / name).read_text(encoding="utf-8")


def page_scripts() -> list[str]:
    """The scripts ``index.html`` loads, in its order (new ones are in the widget too)."""
    names = SCRIPT.findall(_static("index.html"))
    if not names:
        raise InvalidInputError("index.html loads no static/*.js script: the widget has no page to show")
    return names


def page_body() -> str:
    """The page's markup: index.html's body without its scripts."""
    html = _static("index.html")
    body = html[html.index("<body>") + len("<body>"):html.index("</body>")]
    return SCRIPT.sub("", body).strip()


def page_css() -> str:
    """style.css for a shadow root: the document's rules moved onto the host and the page element."""
    css = _static("style.css")
    css = css.replace(":root {", ":host {")
    css = re.sub(r"(?m)^html, body \{[^}]*\}\n", "", css)
    css = re.sub(r"(?m)^body \{", ".bp-page {", css)
    return css + WIDGET_CSS


@functools.lru_cache(maxsize=1)
def esm() -> str:
    """The widget's ES module (built once per process)."""
    scripts = ", ".join(page_scripts())
    parts = [f"// backprop playground widget: built from the package's static/ files ({scripts})",
             f"const PAGE_HTML = {json.dumps(page_body())};",
             f"const PAGE_CSS = {json.dumps(page_css())};",
             f"// ---- static/{WIDGET_HOST}", _static(WIDGET_HOST),
             "// the page's scripts, in one scope per view",
             "function page(WIDGET_HOST) {"]
    for name in page_scripts():
        parts += [f"// ---- static/{name}", _static(name)]
    parts += ["}",
              "function render({ model, el }) {",
              "  const host = widgetHost(model, el, PAGE_HTML, PAGE_CSS);",
              "  page(host);",
              "  return () => host.close();",
              "}",
              "export default { render };", ""]
    return "\n".join(parts)
