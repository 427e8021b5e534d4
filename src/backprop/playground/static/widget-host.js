// backprop playground in a notebook: the HOST of the page's scripts inside an anywidget view (see
// host.js for what a host provides). Not a page script: the widget's module (playground/esm.py)
// puts this first, then the page's scripts, each view in a scope of its own, with
// WIDGET_HOST = widgetHost(model, el, html, css). The page lives in a shadow root of the view's
// element (its styles stay inside, several widgets live side by side); the API calls are widget
// messages {id, method, path, body} answered by the kernel with {type: "reply", id, status, text};
// the kernel pushes {type: "frame", text} while playing and {type: "step" | "state", text} when
// Python made an update or a new setup.
"use strict";

const KERNEL_WAIT_MS = 120000; // the kernel answers between cells: a long cell delays it

function widgetHost(model, el, html, css) {
  el.classList.add("backprop-playground"); // tests find the view (and its data-* hooks) by this class
  const shadow = el.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = css;
  const page = document.createElement("div");
  page.className = "bp-page";
  page.tabIndex = 0; // the shortcuts work while the widget has the focus, and only then
  page.innerHTML = html;
  shadow.append(style, page);
  const prefix = Math.random().toString(36).slice(2); // several views of one widget tell their answers apart
  const waiting = new Map(), cleanup = [];
  let count = 0, onFrame = null, onShown = null;
  // what Python did while the view was still starting (the kernel runs the next cell before it answers
  // the view's first requests): the last such message, shown once the page listens
  let early = null;

  function onMessage(msg, buffers) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "reply") {
      const done = waiting.get(msg.id);
      if (done) { waiting.delete(msg.id); done({ msg, buffers }); }
    } else if (msg.type === "frame" && onFrame) onFrame(JSON.parse(msg.text));
    else if (msg.type === "step" || msg.type === "state") {
      if (onShown) onShown(msg.type, JSON.parse(msg.text));
      else early = msg;
    }
  }
  model.on("msg:custom", onMessage);
  cleanup.push(() => model.off("msg:custom", onMessage));
  // the kernel counts the views: when the last one goes (its cell run again or cleared), playing stops
  model.send({ type: "view", open: true, view: prefix });
  cleanup.push(() => model.send({ type: "view", open: false, view: prefix }));

  function send(method, path, body, buffers) {
    const id = `${prefix}-${++count}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        const error = `the kernel did not answer within ${KERNEL_WAIT_MS / 1000} s: is it busy or stopped?`;
        resolve({ msg: { status: 504, text: JSON.stringify({ error }) }, buffers: [] });
      }, KERNEL_WAIT_MS);
      waiting.set(id, (answer) => { clearTimeout(timer); resolve(answer); });
      model.send({ id, method, path, body: body === undefined ? null : body }, undefined, buffers);
    });
  }

  return {
    root: shadow, hook: el, keys: page, url: false,
    async request(method, path, body) {
      let buffers;
      if (body instanceof Blob) { buffers = [await body.arrayBuffer()]; body = undefined; }
      else if (body instanceof ArrayBuffer) { buffers = [body]; body = undefined; }
      const { msg } = await send(method, path, body, buffers);
      let data = null;
      try { data = msg.text ? JSON.parse(msg.text) : null; } catch (e) { data = null; }
      return { status: msg.status, data };
    },
    subscribe(frames, shown) {
      onFrame = frames; onShown = shown;
      if (early) { shown(early.type, JSON.parse(early.text)); early = null; }
    },
    async download(path) {
      const { msg, buffers } = await send("GET", path);
      if (msg.status < 200 || msg.status >= 300) {
        let error = `HTTP ${msg.status}`;
        try { error = JSON.parse(msg.text).error || error; } catch (e) { /* the status says it */ }
        throw new Error(error);
      }
      const url = URL.createObjectURL(new Blob(buffers, { type: msg.media_type }));
      const a = document.createElement("a");
      a.href = url; a.download = msg.filename;
      page.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    },
    onResize(fn) { // the notebook's column changes width without the window's doing so
      let width = null;
      const ro = new ResizeObserver((entries) => {
        const w = Math.round(entries[0].contentRect.width);
        if (width !== null && w !== width) fn();
        width = w;
      });
      ro.observe(page);
      cleanup.push(() => ro.disconnect());
    },
    close() { for (const fn of cleanup) fn(); waiting.clear(); },
  };
}
