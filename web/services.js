// services.js - the services and the credentials each one gets: the list, one service with
// its mapped credentials, map and unmap (each a new revision), enable and disable.
import { api, listAll, explain, isAdmin, enc, qs } from "/ui/api.js";
import { h, fill, table, when, field, notice, diffView, revisionActions, shown } from "/ui/dom.js";

const SERVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,127}$/;

export async function servicesView(el) {
  const status = h("div", { "aria-live": "polite" }, notice("info", "Loading services…"));
  const list = h("div");
  let add = null;
  if (isAdmin()) {
    const id = h("input", { autocomplete: "off", spellcheck: "false", placeholder: "web-production", required: true });
    const err = h("div", { "aria-live": "polite" });
    add = h(
      "form",
      {
        class: "card",
        onsubmit: (ev) => {
          ev.preventDefault();
          const v = id.value.trim();
          if (!SERVICE_ID.test(v)) {
            fill(err, notice("error", "A service id is 1–128 characters: letters, digits and _ . @ + = , - (not first)."));
            return;
          }
          location.hash = `#/services/${enc(v)}/new`;
        },
      },
      h("h2", {}, "New service"),
      err,
      field("Service id", id, "normally the service's IAM role name"),
      h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Continue")),
    );
  }
  fill(el, h("h1", {}, "Services"), status, list, add);
  const services = await listAll("/v1/services", "services");
  fill(status);
  fill(
    list,
    services.length === 0
      ? notice("info", "No services yet.")
      : table(
          [
            { title: "Service", cell: (s) => h("a", { href: `#/services/${enc(s.id)}` }, s.id) },
            { title: "Credentials", cell: (s) => String(s.credentials.length) },
            { title: "State", cell: (s) => h("span", { class: `badge ${s.enabled ? "on" : "off"}` }, s.enabled ? "enabled" : "disabled") },
            { title: "Revision", cell: (s) => String(s.revision) },
            { title: "Changed", cell: (s) => `${when(s.modified_date)} by ${s.modified_by}` },
          ],
          services,
          `${services.length} services`,
        ),
  );
}

// One service. creating: the admin chose a new id on the list; it is written on the first save.
export async function serviceView(el, id, creating) {
  fill(el, notice("info", "Loading the service…"));
  const admin = isAdmin();
  let svc = null;
  let history = { revisions: [] };
  try {
    [svc, history] = await Promise.all([
      api("GET", `/v1/services/${enc(id)}${qs({ metadata_only: "true" })}`),
      api("GET", `/v1/archive/services/${enc(id)}`),
    ]);
  } catch (err) {
    if (err.code !== "not_found" || !creating || !admin) throw err;
  }
  const all = await listAll("/v1/credentials", "credentials"); // names for ids; auditors may list too
  const names = new Map(all.map((c) => [c.id, c.name]));
  const mapped = svc ? svc.credentials : [];
  for (const c of mapped) names.set(c.id, c.name);
  const status = h("div", { "aria-live": "polite" });

  // Writes the mapping (the full list of ids) and the state; a new revision each time.
  const write = async (ids, enabled, done) => {
    const body = { credentials: ids, enabled, expected_revision: svc ? svc.revision : 0 };
    try {
      await api("PUT", `/v1/services/${enc(id)}`, body);
    } catch (err) {
      fill(status, notice("error", explain(err, names)));
      status.scrollIntoView({ block: "nearest" });
      return;
    }
    try {
      await serviceView(el, id, false);
      fill(el.querySelector(".status"), notice("ok", done));
    } catch (err) {
      fill(el, h("h1", {}, id), notice("ok", `${done} (saved)`), notice("error", `It could not be read again: ${explain(err)}`));
    }
  };
  const ids = mapped.map((c) => c.id);
  const enabled = svc ? svc.enabled : true;
  const label = (cid) => (names.has(cid) ? `"${names.get(cid)}"` : cid);

  const diffBox = h("div", { "aria-live": "polite" });
  const showDiff = async (older, newer) => {
    try {
      const d = await api("GET", `/v1/services/${enc(id)}/${older}/${newer}`);
      fill(diffBox, diffView(`Revision ${older} → ${newer}`, d, label));
      diffBox.querySelector("h3").focus();
    } catch (err) {
      fill(diffBox, notice("error", explain(err, names)));
    }
  };
  const revert = async (rev) => {
    if (!window.confirm(shown(`Revert ${id} to revision ${rev}? This writes revision ${svc.revision + 1} with revision ${rev}'s mapping.`))) return;
    try {
      await api("PUT", `/v1/services/${enc(id)}/${rev}${qs({ expected_revision: svc.revision })}`);
    } catch (err) {
      fill(status, notice("error", explain(err, names)));
      return;
    }
    await serviceView(el, id, false);
    fill(el.querySelector(".status"), notice("ok", `Reverted to revision ${rev}.`));
  };
  const historyTable = svc
    ? [
        h("h2", {}, "History"),
        table(
          [
            { title: "Revision", cell: (r) => String(r.revision) },
            { title: "Changed", cell: (r) => `${when(r.modified_date)} by ${r.modified_by}` },
            { title: "Credentials", cell: (r) => (r.credentials.length ? r.credentials.map(label).join(", ") : "none") },
            { title: "State", cell: (r) => (r.enabled ? "enabled" : "disabled") },
            { title: "", cell: (r) => revisionActions(r, svc.revision, admin, showDiff, revert) },
          ],
          [...history.revisions].reverse(),
        ),
        diffBox,
      ]
    : null;

  let mapForm = null;
  if (admin) {
    const choices = all.filter((c) => !ids.includes(c.id));
    const select = h(
      "select",
      { required: true },
      h("option", { value: "" }, choices.length ? "Choose a credential…" : "every credential is mapped"),
      choices.map((c) => h("option", { value: c.id }, `${c.name} (${c.credential_keys.join(", ")})`)),
    );
    mapForm = h(
      "form",
      {
        class: "card",
        onsubmit: (ev) => {
          ev.preventDefault();
          if (select.value === "") return;
          write([...ids, select.value], enabled, `Mapped "${names.get(select.value)}".`);
        },
      },
      h("h2", {}, svc ? "Map a credential" : "Create the service with a credential"),
      field("Credential", select),
      h(
        "div",
        { class: "actions" },
        h("button", { class: "primary", type: "submit", disabled: choices.length === 0 }, "Map"),
        svc === null ? h("button", { type: "button", onclick: () => write([], true, "Created.") }, "Create with no credential") : null,
      ),
    );
  }

  fill(
    el,
    h("p", {}, h("a", { href: "#/services" }, "← All services")),
    h("h1", {}, id),
    h("div", { class: "status", "aria-live": "polite" }),
    status,
    svc === null
      ? notice("info", "This service does not exist yet: it is created when you save its first mapping.")
      : h(
          "section",
          { class: "card" },
          h(
            "dl",
            { class: "props" },
            h("dt", {}, "State"),
            h("dd", {}, h("span", { class: `badge ${svc.enabled ? "on" : "off"}` }, svc.enabled ? "enabled" : "disabled")),
            h("dt", {}, "Revision"),
            h("dd", {}, String(svc.revision)),
            h("dt", {}, "Changed"),
            h("dd", {}, `${when(svc.modified_date)} by ${svc.modified_by}`),
          ),
          admin
            ? h(
                "div",
                { class: "actions" },
                h(
                  "button",
                  { type: "button", class: svc.enabled ? "danger" : "", onclick: () => write(ids, !svc.enabled, svc.enabled ? "Disabled." : "Enabled.") },
                  svc.enabled ? "Disable service" : "Enable service",
                ),
              )
            : null,
        ),
    h("h2", {}, "Credentials it gets"),
    mapped.length
      ? table(
          [
            { title: "Credential", cell: (c) => h("a", { href: `#/credentials/${enc(c.id)}` }, c.name) },
            { title: "Keys", cell: (c) => h("code", {}, c.credential_keys.join(", ")) },
            { title: "State", cell: (c) => h("span", { class: `badge ${c.enabled ? "on" : "off"}` }, c.enabled ? "enabled" : "disabled") },
            {
              title: "",
              cell: (c) =>
                admin
                  ? h(
                      "button",
                      { type: "button", class: "danger", onclick: () => write(ids.filter((x) => x !== c.id), enabled, `Unmapped "${c.name}".`) },
                      "Unmap",
                    )
                  : "",
            },
          ],
          mapped,
        )
      : h("p", { class: "muted" }, "No credential is mapped."),
    mapForm,
    historyTable,
  );
}
