// backprop playground: where the page lives and how it talks to the engine -- the one place that
// knows. Classic scripts sharing one global scope, loaded in order by index.html:
// host.js, format.js, network.js, plots.js, inspector.js, app.js (which starts the page).
//
// HOST.root     where the page's elements are found: the document (page) or a shadow root (widget)
// HOST.hook     the element whose data-* attributes tell tests the page's state (ready, busy, ...)
// HOST.keys     the element that takes the keyboard shortcuts (the page: the whole document)
// HOST.request  (method, path, body) -> {status, data}: one API call (fetch, or a widget message)
// HOST.subscribe(onFrame, onShown)  the live frames (server-sent events, or widget messages); the
//               widget also calls onShown("step" | "state", value) for what its Python side did
// HOST.download(path)      save what an export endpoint answers
// HOST.onResize(fn)        fn after the drawing's room changed size
// HOST.url      whether the setup lives in the address bar's #fragment (and Share copies it)
// In the notebook widget the module that wraps these scripts defines WIDGET_HOST before them.
"use strict";

const HOST = typeof WIDGET_HOST === "object" ? WIDGET_HOST : pageHost();

function pageHost() {
  return {
    root: document, hook: document.body, keys: document, url: true,
    async request(method, path, body) {
      const init = { method, headers: {}, credentials: "same-origin" };
      if (body !== undefined) {
        if (body instanceof Blob || body instanceof ArrayBuffer) init.body = body;
        else { init.body = JSON.stringify(body); init.headers["content-type"] = "application/json"; }
      }
      const r = await fetch(path, init);
      const text = await r.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      return { status: r.status, data };
    },
    subscribe(onFrame) { // (the page has no Python side: nothing else is shown from elsewhere)
      const es = new EventSource("api/stream");
      es.addEventListener("frame", (ev) => onFrame(JSON.parse(ev.data)));
    },
    download(path) { location.href = path.replace(/^\//, ""); },
    onResize(fn) { window.addEventListener("resize", fn); },
  };
}

// the page's elements, looked up in its root
const $ = (id) => HOST.root.getElementById(id);
const $$ = (selector) => HOST.root.querySelectorAll(selector);
const $1 = (selector) => HOST.root.querySelector(selector);
