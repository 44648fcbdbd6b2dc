// dom.js - building the page out of elements. Text always goes in as text (text nodes),
// never as HTML, so nothing the API returns can run as markup; and every string goes through
// visible(), so that no character the API returns can hide or reorder what is around it.

// Code points a reader cannot see or that change how the text around them reads: the set of
// common/cf_text.c (cf_text_hidden()), which the coffer client and cofferd's log escape too.
// C0 and C1 controls and DEL; bidirectional embeddings, overrides, isolates and marks
// (U+202A-202E, U+2066-2069, U+200E-200F, U+061C); zero-width and other invisible format
// characters; line and paragraph separators; tag characters; and lone surrogates.
const HIDDEN =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff0-\ufffb\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0000}-\u{e007f}]|\p{Cs}/u;
const HIDDEN_ALL = new RegExp(HIDDEN.source, "gu");

// The escape that stands for a hidden character: \n, \r, \t, \x1b (other C0 and DEL),
// \u202e, \U000e0041 (as the coffer client prints them).
export function escapeOf(ch) {
  const cp = ch.codePointAt(0);
  const hex = (n) => cp.toString(16).padStart(n, "0");
  if (ch === "\n") return "\\n";
  if (ch === "\r") return "\\r";
  if (ch === "\t") return "\\t";
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(2)}`;
  return cp <= 0xffff ? `\\u${hex(4)}` : `\\U${hex(8)}`;
}

// s as a plain string with each hidden character written as its escape: for text that cannot
// hold elements (a confirm() question).
export function shown(s) {
  return String(s).replace(HIDDEN_ALL, escapeOf);
}

// s as nodes: its text, with each hidden character shown as its escape in a marked span
// (class "esc", titled with the code point). keepLines keeps line feeds and tabs as they are
// (for a value shown pre-formatted, such as a PEM key).
export function visible(s, keepLines = false) {
  s = String(s);
  if (!HIDDEN.test(s)) return document.createTextNode(s);
  const frag = document.createDocumentFragment();
  let text = "";
  for (const ch of s) {
    if ((keepLines && (ch === "\n" || ch === "\t")) || !HIDDEN.test(ch)) {
      text += ch;
      continue;
    }
    if (text) frag.append(document.createTextNode(text));
    text = "";
    const cp = ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    const esc = document.createElement("span");
    esc.className = "esc";
    esc.title = `U+${cp}: a hidden or control character`;
    esc.textContent = escapeOf(ch);
    frag.append(esc);
  }
  if (text) frag.append(document.createTextNode(text));
  return frag;
}

// h("button", {class: "primary", onclick: fn}, "Save") -> <button class="primary">Save</button>
// Attributes named on* take a function; `false`, null and undefined leave an attribute out.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value") el.value = value;
    else if (name === "checked") el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : visible(c));
  }
}

// Replaces everything in el with children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A table: columns is [{title, cell: row => Node|string}], rows the data.
export function table(columns, rows, caption) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))),
      h(
        "tbody",
        {},
        rows.map((r) => h("tr", {}, columns.map((c) => h("td", {}, c.cell(r))))),
      ),
    ),
  );
}

// "2026-12-03T06:44:39.123456+00:00" -> "2026-12-03 06:44:39 UTC"
export function when(ts) {
  if (!ts) return "—";
  return ts.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC");
}

// A labelled input: field("Name", h("input", {...})) with the label tied to the control.
let fieldCount = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCount}`;
  control.id = id;
  let hintEl = null;
  if (hint) {
    hintEl = h("span", { class: "hint", id: `${id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

// A message box that a screen reader announces; kind is "error", "ok" or "info".
export function notice(kind, ...text) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...text);
}

// A diff (API.md 3.6): scalars as removed → added, sets as − and + lists. label(v) names a
// member of a set (a credential id by its name, say).
export function diffView(title, d, label, hint) {
  const items = Object.entries(d).map(([member, change]) => {
    const side = (v) => (Array.isArray(v) ? v.map(label).join(", ") : v === null ? "null" : String(v));
    const parts = [];
    if ("removed" in change) parts.push(h("del", {}, `− ${side(change.removed)}`));
    if ("added" in change) parts.push(h("ins", {}, `+ ${side(change.added)}`));
    return [h("dt", {}, member), h("dd", {}, parts.flatMap((p, i) => (i ? [" ", p] : [p])))];
  });
  return h(
    "section",
    { class: "card diff" },
    h("h3", { tabindex: "-1" }, title),
    items.length ? h("dl", { class: "props" }, items) : h("p", {}, "No difference."),
    hint ? h("p", { class: "hint" }, hint) : null,
  );
}

// The buttons of one row of a history table: its diff with the revision before, and (when
// canRevert, for any revision but the current one) a revert to it.
export function revisionActions(r, current, canRevert, showDiff, revert) {
  const rev = r.revision;
  return h(
    "div",
    { class: "actions" },
    rev > 1 ? h("button", { type: "button", onclick: () => showDiff(rev - 1, rev) }, `Diff ${rev - 1}→${rev}`) : null,
    canRevert && rev !== current ? h("button", { type: "button", class: "danger", onclick: () => revert(rev) }, `Revert to ${rev}`) : null,
  );
}
