// credentials.js - the credentials: a searchable list (metadata only), one credential with
// its values hidden until "Reveal" (a separate, audited read), the editor, the history with
// diffs and revert, and the services that map it.
import { api, listAll, explain, isAdmin, enc, qs } from "/ui/api.js";
import { h, fill, table, when, field, notice, diffView, revisionActions, shown, visible } from "/ui/dom.js";

export async function credentialsView(el) {
  const status = h("div", { "aria-live": "polite" }, notice("info", "Loading credentials…"));
  const search = h("input", { type: "search", placeholder: "name, key, tag or id", autocomplete: "off" });
  const list = h("div");
  fill(
    el,
    h("h1", {}, "Credentials"),
    h(
      "div",
      { class: "actions" },
      field("Search", search),
      isAdmin() ? h("a", { class: "button primary", href: "#/credentials/new" }, "New credential") : null,
    ),
    status,
    list,
  );
  const creds = await listAll("/v1/credentials", "credentials");
  fill(status);
  const show = () => {
    const q = search.value.trim().toLowerCase();
    const rows = creds.filter(
      (c) =>
        !q ||
        c.name.toLowerCase().includes(q) ||
        c.id.includes(q) ||
        c.credential_keys.some((k) => k.includes(q)) ||
        c.tags.some((t) => t.toLowerCase().includes(q)),
    );
    fill(
      list,
      rows.length === 0
        ? notice("info", creds.length === 0 ? "No credentials yet." : "No credential matches the search.")
        : table(
            [
              { title: "Name", cell: (c) => h("a", { href: `#/credentials/${enc(c.id)}` }, c.name) },
              { title: "Keys", cell: (c) => h("code", {}, c.credential_keys.join(", ")) },
              { title: "State", cell: (c) => enabledBadge(c.enabled) },
              { title: "Revision", cell: (c) => String(c.revision) },
              { title: "Changed", cell: (c) => `${when(c.modified_date)} by ${c.modified_by}` },
            ],
            rows,
            `${rows.length} of ${creds.length} credentials`,
          ),
    );
  };
  search.addEventListener("input", show);
  show();
}

function enabledBadge(on) {
  return h("span", { class: `badge ${on ? "on" : "off"}` }, on ? "enabled" : "disabled");
}

// Rows of key and value inputs. pairs: the starting rows; secret marks value inputs that
// hold credential values. get() returns the object, or throws an Error a person can read.
function rowsEditor(legend, pairs, secret) {
  const rows = h("div", { class: "rows" });
  let n = 0;
  const addRow = (k = "", v = "") => {
    n++;
    const row = h(
      "div",
      { class: "row" },
      h("input", { "aria-label": `${legend}: key ${n}`, class: "key", value: k, placeholder: "key", autocomplete: "off", spellcheck: "false" }),
      // a textarea: a value may span lines (a PEM key), which an <input> would drop
      h("textarea", {
        "aria-label": `${legend}: value ${n}`,
        class: secret ? "val secret" : "val",
        rows: v.includes("\n") ? Math.min(v.split("\n").length, 12) : 1,
        placeholder: "value",
        autocomplete: "off",
        spellcheck: "false",
      }),
      h(
        "button",
        {
          type: "button",
          "aria-label": `Remove ${legend} row ${n}`,
          onclick: () => {
            row.remove();
            addButton.focus();
          },
        },
        "Remove",
      ),
    );
    row.querySelector("textarea").value = v;
    rows.append(row);
    return row;
  };
  const addButton = h("button", { type: "button", onclick: () => addRow().querySelector("input").focus() }, `Add a row`);
  for (const [k, v] of Object.entries(pairs)) addRow(k, v);
  if (Object.keys(pairs).length === 0) addRow();
  const el = h("fieldset", {}, h("legend", {}, legend), rows, addButton);
  const get = () => {
    const out = new Map();
    for (const row of rows.children) {
      const k = row.querySelector(".key").value.trim();
      const v = row.querySelector(".val").value;
      if (k === "" && v === "") continue;
      if (k === "") throw new Error(`${legend}: a row has a value but no key.`);
      if (out.has(k)) throw new Error(`${legend}: the key "${k}" is there twice.`);
      out.set(k, v);
    }
    return Object.fromEntries(out); // own members, "__proto__" included
  };
  return { el, get };
}

const sameObject = (a, b) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

const parseTags = (s) => s.split(",").map((t) => t.trim()).filter((t) => t !== "");
const sameSet = (a, b) => [...new Set(a)].sort().join("\n") === [...new Set(b)].sort().join("\n");
// A textarea gives "\n" line ends and "" for nothing; the API may hold "\r\n" or null.
const sameText = (a, b) => (a || "").replace(/\r\n/g, "\n") === (b || "").replace(/\r\n/g, "\n");

// The form for a new credential (cred null) or a change to one. onSaved(answer) after a save.
function credentialForm(cred, onSaved, onCancel) {
  const creating = cred === null;
  const c = cred || { name: "", enabled: true, documentation: null, tags: [], metadata: {}, credential_keys: [] };
  const name = h("input", { value: c.name, required: true, maxlength: 256, autocomplete: "off" });
  const enabled = h("input", { type: "checkbox", checked: c.enabled, id: "cred-enabled" });
  const docs = h("textarea", { rows: 3 });
  docs.value = c.documentation || "";
  const tags = h("input", { value: c.tags.join(", "), autocomplete: "off" });
  const metadata = rowsEditor("Metadata", c.metadata, false);
  const status = h("div", { "aria-live": "polite" });
  const save = h("button", { class: "primary", type: "submit" }, creating ? "Create credential" : "Save changes");

  // The pairs: a new credential's rows start empty; a change to one shows its keys only and
  // loads its values (an audited read) only when the person chooses to change them.
  let pairs = null;
  let loadedPairs = null;
  const pairsBox = h("div");
  if (creating) {
    pairs = rowsEditor("Credential pairs", {}, true);
    fill(pairsBox, pairs.el);
  } else {
    fill(
      pairsBox,
      h(
        "fieldset",
        {},
        h("legend", {}, "Credential pairs"),
        h("p", { class: "muted" }, `Keys: ${c.credential_keys.join(", ")}. The values stay as they are unless you change them.`),
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                const full = await api("GET", `/v1/credentials/${enc(c.id)}`);
                loadedPairs = full.credential_pairs;
                pairs = rowsEditor("Credential pairs", loadedPairs, true);
                fill(pairsBox, pairs.el, h("p", { class: "hint" }, "Loading the values was a read of the credential, written to the access log."));
                pairsBox.querySelector("input").focus();
              } catch (err) {
                fill(status, notice("error", explain(err)));
              }
            },
          },
          "Change values…",
        ),
      ),
    );
  }

  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (ev) => {
        ev.preventDefault();
        let body;
        try {
          body = {};
          const meta = metadata.get();
          const tagList = parseTags(tags.value);
          const doc = docs.value === "" ? null : docs.value;
          if (creating || name.value !== c.name) body.name = name.value;
          if (creating || enabled.checked !== c.enabled) body.enabled = enabled.checked;
          if (creating || !sameText(doc, c.documentation)) body.documentation = doc;
          if (creating || !sameSet(tagList, c.tags)) body.tags = tagList;
          if (creating || !sameObject(meta, c.metadata)) body.metadata = meta;
          if (pairs !== null) {
            const p = pairs.get();
            if (creating || !sameObject(p, loadedPairs)) body.credential_pairs = p;
          }
        } catch (err) {
          fill(status, notice("error", err.message));
          return;
        }
        if (!creating && Object.keys(body).length === 0) {
          fill(status, notice("info", "Nothing was changed, so nothing was saved."));
          return;
        }
        if (!creating) body.expected_revision = c.revision;
        save.disabled = true;
        fill(status, notice("info", "Saving…"));
        try {
          const answer = creating ? await api("POST", "/v1/credentials", body) : await api("PUT", `/v1/credentials/${enc(c.id)}`, body);
          body = null;
          onSaved(answer);
        } catch (err) {
          let names;
          if (err.code === "key_conflict") {
            // the conflict names the other credentials by id: say their names
            names = await listAll("/v1/credentials", "credentials").then(
              (all) => new Map(all.map((x) => [x.id, x.name])),
              () => undefined,
            );
          }
          fill(status, notice("error", explain(err, names)));
          save.disabled = false;
        }
      },
    },
    h("h2", {}, creating ? "New credential" : `Change "${c.name}"`),
    status,
    h(
      "div",
      { class: "grid" },
      field("Name", name),
      field("Tags", tags, "comma-separated"),
    ),
    h("div", { class: "check" }, enabled, h("label", { for: enabled.id }, "Enabled (a disabled credential delivers no values to services)")),
    field("Documentation", docs, "how to rotate it, who owns it"),
    pairsBox,
    metadata.el,
    h(
      "div",
      { class: "actions" },
      save,
      onCancel ? h("button", { type: "button", onclick: onCancel }, "Cancel") : null,
    ),
  );
  return form;
}

export function credentialNewView(el) {
  fill(
    el,
    h("h1", {}, "New credential"),
    credentialForm(
      null,
      (created) => {
        location.hash = `#/credentials/${enc(created.id)}`;
      },
      () => {
        location.hash = "#/credentials";
      },
    ),
  );
  el.querySelector("input").focus();
}

export async function credentialView(el, id) {
  fill(el, notice("info", "Loading the credential…"));
  const [cred, mapped, history] = await Promise.all([
    api("GET", `/v1/credentials/${enc(id)}${qs({ metadata_only: "true" })}`),
    api("GET", `/v1/credentials/${enc(id)}/services`),
    api("GET", `/v1/archive/credentials/${enc(id)}`),
  ]);
  const admin = isAdmin();
  const status = h("div", { "aria-live": "polite" });
  const editBox = h("div");
  const reload = (message) =>
    credentialView(el, id).then(
      () => message && fill(el.querySelector(".status"), notice("ok", message)),
      (err) => fill(el, h("h1", {}, "The credential could not be read again"), notice("error", explain(err))),
    );

  // The values: shown only after "Reveal", gone again after "Hide" (and when the view goes).
  const values = h("div");
  const reveal = h("button", { type: "button", "aria-expanded": "false" }, "Reveal values");
  let reveals = 0; // an answer that arrives after Hide (or a later Reveal) is dropped
  reveal.addEventListener("click", async () => {
    const mine = ++reveals;
    if (reveal.getAttribute("aria-expanded") === "true") {
      fill(values);
      reveal.textContent = "Reveal values";
      reveal.setAttribute("aria-expanded", "false");
      return;
    }
    reveal.disabled = true;
    try {
      const full = await api("GET", `/v1/credentials/${enc(id)}`);
      if (mine !== reveals) return;
      const rows = Object.entries(full.credential_pairs);
      fill(
        values,
        table(
          [
            { title: "Key", cell: ([k]) => h("code", {}, k) },
            { title: "Value", cell: ([, v]) => h("code", { class: "secret value" }, visible(v, true)) },
          ],
          rows,
        ),
        h("p", { class: "hint" }, "This read is in the access log (credential.get)."),
      );
      reveal.textContent = "Hide values";
      reveal.setAttribute("aria-expanded", "true");
    } catch (err) {
      fill(values, notice("error", explain(err)));
    } finally {
      reveal.disabled = false;
    }
  });

  const props = h(
    "dl",
    { class: "props" },
    h("dt", {}, "Id"),
    h("dd", {}, h("code", {}, cred.id)),
    h("dt", {}, "State"),
    h("dd", {}, enabledBadge(cred.enabled)),
    h("dt", {}, "Revision"),
    h("dd", {}, String(cred.revision)),
    h("dt", {}, "Keys"),
    h("dd", {}, h("code", {}, cred.credential_keys.join(", "))),
    h("dt", {}, "Tags"),
    h("dd", {}, cred.tags.length ? cred.tags.join(", ") : "—"),
    h("dt", {}, "Metadata"),
    h("dd", {}, Object.keys(cred.metadata).length ? Object.entries(cred.metadata).map(([k, v]) => `${k}=${v}`).join(", ") : "—"),
    h("dt", {}, "Documentation"),
    h("dd", {}, cred.documentation || "—"),
    h("dt", {}, "Last rotation"),
    h("dd", {}, when(cred.last_rotation_date)),
    h("dt", {}, "Changed"),
    h("dd", {}, `${when(cred.modified_date)} by ${cred.modified_by}`),
  );

  const diffBox = h("div", { "aria-live": "polite" });
  const showDiff = async (older, newer) => {
    try {
      const d = await api("GET", `/v1/credentials/${enc(id)}/${older}/${newer}`);
      fill(
        diffBox,
        diffView(`Revision ${older} → ${newer}`, d, (v) => v, "Pairs show key names only: a changed value lists its key on both sides."),
      );
      diffBox.querySelector("h3").focus();
    } catch (err) {
      fill(diffBox, notice("error", explain(err)));
    }
  };
  const revert = async (rev) => {
    if (!window.confirm(shown(`Revert "${cred.name}" to revision ${rev}? This writes revision ${cred.revision + 1} with revision ${rev}'s contents.`))) return;
    try {
      await api("PUT", `/v1/credentials/${enc(id)}/${rev}${qs({ expected_revision: cred.revision })}`);
      await reload(`Reverted to revision ${rev}.`);
    } catch (err) {
      fill(status, notice("error", explain(err)));
    }
  };
  const revisions = [...history.revisions].reverse();

  fill(
    el,
    h("p", {}, h("a", { href: "#/credentials" }, "← All credentials")),
    h("h1", {}, cred.name),
    h("div", { class: "status", "aria-live": "polite" }),
    status,
    h("section", { class: "card" }, props, admin ? h("div", { class: "actions" }, reveal, h("button", {
      type: "button",
      onclick: () => {
        fill(editBox, credentialForm(cred, () => reload("Saved."), () => fill(editBox)));
        editBox.querySelector("input").focus();
      },
    }, "Edit")) : null, values),
    editBox,
    h("h2", {}, "Services that get it"),
    mapped.services.length
      ? h("ul", {}, mapped.services.map((s) => h("li", {}, h("a", { href: `#/services/${enc(s.id)}` }, s.id), s.enabled ? "" : " (disabled)")))
      : h("p", { class: "muted" }, "No service maps this credential."),
    h("h2", {}, "History"),
    table(
      [
        { title: "Revision", cell: (r) => String(r.revision) },
        { title: "Changed", cell: (r) => `${when(r.modified_date)} by ${r.modified_by}` },
        { title: "Name", cell: (r) => r.name },
        { title: "Keys", cell: (r) => h("code", {}, r.credential_keys.join(", ")) },
        { title: "State", cell: (r) => enabledBadge(r.enabled) },
        { title: "", cell: (r) => revisionActions(r, cred.revision, admin, showDiff, revert) },
      ],
      revisions,
    ),
    diffBox,
  );
}
