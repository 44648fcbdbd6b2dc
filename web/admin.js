// admin.js - API tokens (create, shown once; list; revoke) and principals (people who sign
// in with kmsauth, and their role). Admins only: cofferd refuses everyone else anyway.
import { api, explain, enc, qs } from "/ui/api.js";
import { h, fill, table, when, field, notice, shown } from "/ui/dom.js";

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function roleSelect(value) {
  return h(
    "select",
    {},
    ["auditor", "admin"].map((r) => h("option", { value: r, selected: r === value }, r)),
  );
}

// Asks question; if the person agrees, DELETEs path, says done in status and reloads the list.
async function removeThen(status, question, path, done, reload) {
  if (!window.confirm(shown(question))) return;
  try {
    await api("DELETE", path);
    fill(status, notice("ok", done));
    await reload();
  } catch (err) {
    fill(status, notice("error", explain(err)));
  }
}

export async function tokensView(el) {
  const includeRevoked = h("input", { type: "checkbox", id: "tok-revoked" });
  const list = h("div");
  const status = h("div", { "aria-live": "polite" });
  const name = h("input", { required: true, autocomplete: "off", spellcheck: "false", placeholder: "deploy-bot" });
  const role = roleSelect("auditor");
  const days = h("input", { type: "number", min: 1, max: 365, value: 90 });
  const once = h("div", { "aria-live": "polite" });

  const load = async () => {
    const data = await api("GET", `/v1/tokens${qs({ include_revoked: includeRevoked.checked ? "true" : "" })}`);
    fill(
      list,
      table(
        [
          { title: "Name", cell: (t) => t.name },
          { title: "Role", cell: (t) => t.role },
          { title: "Id", cell: (t) => h("code", {}, t.id) },
          { title: "Created", cell: (t) => `${when(t.created_at)} by ${t.created_by}` },
          { title: "Expires", cell: (t) => when(t.expires_at) },
          { title: "Last used", cell: (t) => when(t.last_used_at) },
          {
            title: "",
            cell: (t) =>
              t.revoked_at
                ? `revoked ${when(t.revoked_at)} by ${t.revoked_by}`
                : h("button", { type: "button", class: "danger", onclick: () => revoke(t) }, "Revoke"),
          },
        ],
        data.tokens,
        `${data.tokens.length} tokens`,
      ),
    );
  };
  const revoke = (t) =>
    removeThen(status, `Revoke the token "${t.name}"? Whatever uses it stops working within a second.`, `/v1/tokens/${enc(t.id)}`, `Revoked "${t.name}".`, load);
  includeRevoked.addEventListener("change", () => load().catch((err) => fill(status, notice("error", explain(err)))));

  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (ev) => {
        ev.preventDefault();
        fill(once);
        if (!TOKEN_NAME.test(name.value)) {
          fill(status, notice("error", "A token name is 1–64 letters, digits, _ . or - (not first)."));
          return;
        }
        const d = Number(days.value);
        if (!Number.isInteger(d) || d < 1 || d > 365) {
          fill(status, notice("error", "The lifetime is a whole number of days, 1 to 365."));
          return;
        }
        try {
          const t = await api("POST", "/v1/tokens", { name: name.value, role: role.value, ttl_seconds: d * 86400 });
          fill(status);
          fill(
            once,
            notice(
              "ok",
              h("p", {}, `Token "${t.name}" (${t.role}) expires ${when(t.expires_at)}. Copy it now: it is never shown again.`),
              h("code", { class: "token-once", tabindex: "0" }, t.token),
            ),
          );
          name.value = "";
          await load();
        } catch (err) {
          fill(status, notice("error", explain(err)));
        }
      },
    },
    h("h2", {}, "New API token"),
    h("div", { class: "grid" }, field("Name", name), field("Role", role), field("Lifetime (days)", days)),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Create token")),
  );
  fill(
    el,
    h("h1", {}, "API tokens"),
    status,
    once,
    form,
    h("div", { class: "check" }, includeRevoked, h("label", { for: includeRevoked.id }, "Show revoked and expired tokens")),
    list,
  );
  await load();
}

export async function principalsView(el) {
  const status = h("div", { "aria-live": "polite" });
  const list = h("div");
  const name = h("input", { required: true, autocomplete: "off", spellcheck: "false", placeholder: "alice" });
  const role = roleSelect("auditor");

  const load = async () => {
    const data = await api("GET", "/v1/principals");
    fill(
      list,
      data.principals.length === 0
        ? h("p", { class: "muted" }, "No principals: nobody signs in with kmsauth yet.")
        : table(
            [
              { title: "Name", cell: (p) => p.name },
              { title: "Role", cell: (p) => p.role },
              { title: "Given", cell: (p) => `${when(p.modified_at)} by ${p.modified_by}` },
              { title: "", cell: (p) => h("button", { type: "button", class: "danger", onclick: () => remove(p) }, "Remove") },
            ],
            data.principals,
          ),
    );
  };
  const remove = (p) =>
    removeThen(status, `Remove "${p.name}"? They can no longer sign in with kmsauth.`, `/v1/principals/${enc(p.name)}`, `Removed "${p.name}".`, load);
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const who = name.value.trim();
        if (!/^[\x21-\x7e]{1,128}$/.test(who) || /[/:]/.test(who)) {
          fill(status, notice("error", "A principal's name is 1–128 printable ASCII characters, without spaces, / or :."));
          return;
        }
        try {
          const p = await api("PUT", `/v1/principals/${enc(who)}`, { role: role.value });
          fill(status, notice("ok", `"${p.name}" is now ${p.role}.`));
          name.value = "";
          await load();
        } catch (err) {
          fill(status, notice("error", explain(err)));
        }
      },
    },
    h("h2", {}, "Give someone a role"),
    h("p", { class: "muted" }, "A principal is a person's kmsauth name (the token's \"from\"); setting an existing one changes its role."),
    h("div", { class: "grid" }, field("Name", name), field("Role", role)),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Set role")),
  );
  fill(el, h("h1", {}, "Principals"), status, form, list);
  await load();
}
