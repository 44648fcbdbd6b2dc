// audit.js - the access log for auditors (and admins): filters, pages, one row's detail, and
// whether the hash chain verifies, said plainly. A row of failed authentication holds the name
// its caller merely claimed: it is shown as unauthenticated and claimed, never like an actor
// who proved who they are.
import { api, explain, qs } from "/ui/api.js";
import { h, fill, table, when, field, notice } from "/ui/dom.js";

const ACTIONS = [
  "service.list", "service.get", "service.get_metadata", "service.create", "service.update",
  "service.revert", "service.revisions", "service.diff", "credential.list", "credential.get",
  "credential.get_metadata", "credential.create", "credential.update", "credential.revert",
  "credential.revisions", "credential.diff", "credential.services", "identity.get",
  "client_config.get", "token.create", "token.list", "token.revoke", "principal.list",
  "principal.set", "principal.remove", "audit.query", "audit.verify", "unsupported",
];

const VERIFY_STEP = 100000;

// True unless the row says its actor proved who it is (actor_proven; from a server without
// that member, an actor_type other than anonymous).
const unproven = (e) => e.actor_proven === false || !e.actor_type || e.actor_type === "anonymous";

// The actor of a row: a proven one with its type; a claimed name marked as only claimed.
function actorCell(e) {
  if (!unproven(e)) return [h("bdi", {}, e.actor || "—"), h("span", { class: "muted" }, ` (${e.actor_type})`)];
  return h(
    "span",
    { class: "unproven" },
    h("span", { class: "badge unauthenticated" }, "unauthenticated"),
    e.actor ? [" claimed ", h("q", {}, h("bdi", {}, e.actor))] : null,
  );
}

function choice(options, value = "") {
  return h(
    "select",
    {},
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

const any = (list) => [["", "any"], ...list.map((v) => [v, v])];

// A datetime-local value (the person's local time) as RFC 3339 UTC, or "".
function toUtc(local) {
  if (!local) return "";
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

export async function auditView(el) {
  const f = {
    since: h("input", { type: "datetime-local", step: 1 }),
    until: h("input", { type: "datetime-local", step: 1 }),
    actor: h("input", { autocomplete: "off", spellcheck: "false", placeholder: "token:alice" }),
    actor_type: choice(any(["service", "user", "token", "system", "anonymous"])),
    action: h("input", { autocomplete: "off", spellcheck: "false", list: "audit-actions", placeholder: "credential.get" }),
    resource_type: choice(any(["service", "credential", "token", "principal", "audit", "identity"])),
    resource_id: h("input", { autocomplete: "off", spellcheck: "false" }),
    result: choice(any(["allowed", "denied", "error"])),
    order: choice([["desc", "newest first"], ["asc", "oldest first"]]),
    limit: choice([["25", "25"], ["100", "100"], ["500", "500"]], "25"),
  };
  const chain = h("div", { "aria-live": "polite" });
  const status = h("div", { "aria-live": "polite" });
  const results = h("div", { id: "audit-results", "aria-busy": "true" });
  const detail = h("div", { "aria-live": "polite" });
  const prev = h("button", { type: "button", disabled: true }, "← Previous page");
  const next = h("button", { type: "button", disabled: true }, "Next page →");
  const pageInfo = h("span", { class: "muted" });
  let cursors = [null]; // the cursor of each page seen so far; the last is the current page's
  let nextCursor = null;
  let filters = {};

  // The whole chain, walked in ranges of VERIFY_STEP rows (each a bounded request; a range
  // after the first starts from the stored hash of the row the previous range checked).
  let verifies = 0; // a walk whose view went, or that "Verify again" replaced, stops
  const verify = async () => {
    const mine = ++verifies;
    const again = h("button", { type: "button", onclick: verify }, "Verify again");
    let from = 1;
    let checked = 0;
    fill(chain, notice("info", "Verifying the hash chain…"));
    try {
      for (;;) {
        const v = await api("GET", `/v1/audit/verify${qs({ from_id: from, to_id: from + VERIFY_STEP - 1 })}`);
        if (mine !== verifies || !chain.isConnected) return;
        if (!v.ok) {
          fill(
            chain,
            notice(
              "error",
              h("strong", {}, "The access log does NOT verify. "),
              `The first bad row is ${v.first_bad_id} (${v.problem.replaceAll("_", " ")}), after ${checked + v.checked} good rows. Rows may have been changed or removed: treat the log from that row on as untrusted and investigate.`,
            ),
            again,
          );
          return;
        }
        checked += v.checked;
        if (v.to_id >= v.head_id) {
          fill(
            chain,
            notice(
              "ok",
              h("strong", {}, "The access log verifies. "),
              `Rows 1–${v.to_id} (${checked}) chain without a gap or a changed row; the head is row ${v.head_id}, hash `,
              h("code", {}, v.head_hash),
              ". Keep that pair elsewhere to detect rows cut from the end.",
            ),
            again,
          );
          return;
        }
        fill(chain, notice("info", `Verifying the hash chain… ${checked} of ${v.head_id} rows so far.`));
        from = v.to_id + 1;
      }
    } catch (err) {
      if (mine === verifies) fill(chain, notice("error", `The chain could not be verified: ${explain(err)}`), again);
    }
  };

  const showRow = (ev, tr) => {
    for (const s of results.querySelectorAll("tr.selected")) s.classList.remove("selected");
    tr.classList.add("selected");
    const fields = ["id", "time", "request_id", "actor_type", "actor", "actor_proven", "source_ip", "peer_ip", "action", "resource_type", "resource_id", "revision", "result", "reason", "prev_hash", "hash"];
    const value = (k) => {
      const code = h("code", {}, ev[k] === null ? "null" : String(ev[k]));
      if (k !== "actor" || !unproven(ev)) return code;
      return [h("span", { class: "badge unauthenticated" }, "unauthenticated"), " claimed, not proven: ", code];
    };
    fill(
      detail,
      h(
        "section",
        { class: "card" },
        h("h2", { tabindex: "-1" }, `Row ${ev.id}`),
        h("dl", { class: "props" }, fields.filter((k) => k in ev).map((k) => [h("dt", {}, k), h("dd", {}, value(k))])),
      ),
    );
    detail.querySelector("h2").focus();
  };

  let loads = 0; // an answer to an older load (filters changed meanwhile) is dropped
  // cursor: the page to load; stack: what cursors becomes once it has arrived
  const load = async (cursor, stack) => {
    const mine = ++loads;
    prev.disabled = true;
    next.disabled = true;
    results.setAttribute("aria-busy", "true");
    fill(status, notice("info", "Loading…"));
    try {
      const data = await api("GET", `/v1/audit/events${qs({ ...filters, cursor })}`);
      if (mine !== loads) return;
      cursors = stack;
      fill(status);
      fill(detail);
      nextCursor = data.next_cursor;
      next.disabled = !nextCursor;
      prev.disabled = cursors.length <= 1;
      pageInfo.textContent = `page ${cursors.length}, ${data.events.length} rows`;
      const t = table(
        [
          { title: "Id", cell: (e) => String(e.id) },
          { title: "Time", cell: (e) => when(e.time) },
          { title: "Actor", cell: actorCell },
          { title: "Action", cell: (e) => h("code", {}, e.action) },
          { title: "Resource", cell: (e) => (e.resource_type ? [e.resource_type, " ", h("code", {}, e.resource_id || "")] : "—") },
          { title: "Result", cell: (e) => h("span", { class: `badge ${e.result}` }, e.result) },
          { title: "Reason", cell: (e) => e.reason },
          { title: "", cell: (e) => h("button", { type: "button", class: "details", "aria-label": `Details of row ${e.id}` }, "Details") },
        ],
        data.events,
      );
      t.querySelectorAll("tbody tr").forEach((tr, i) => {
        tr.querySelector("button.details").addEventListener("click", () => showRow(data.events[i], tr));
      });
      fill(results, data.events.length ? t : notice("info", "No row matches these filters."));
      results.setAttribute("aria-busy", "false");
    } catch (err) {
      if (mine !== loads) return;
      fill(status, notice("error", explain(err)));
      prev.disabled = cursors.length <= 1;
      next.disabled = !nextCursor;
      results.setAttribute("aria-busy", "false");
    }
  };
  next.addEventListener("click", () => load(nextCursor, [...cursors, nextCursor]));
  prev.addEventListener("click", () => {
    const back = cursors.slice(0, -1);
    load(back[back.length - 1], back);
  });

  const apply = () => {
    filters = {
      since: toUtc(f.since.value),
      until: toUtc(f.until.value),
      actor: f.actor.value.trim(),
      actor_type: f.actor_type.value,
      action: f.action.value.trim(),
      resource_type: f.resource_type.value,
      resource_id: f.resource_id.value.trim(),
      result: f.result.value,
      order: f.order.value,
      limit: f.limit.value,
    };
    nextCursor = null;
    return load(null, [null]);
  };
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: (ev) => {
        ev.preventDefault();
        apply();
      },
    },
    h("h2", {}, "Filters"),
    h(
      "div",
      { class: "filters" },
      field("From (local time)", f.since),
      field("Until (local time)", f.until),
      field("Actor", f.actor),
      field("Actor type", f.actor_type),
      field("Action", f.action, "comma-separated for several"),
      field("Resource type", f.resource_type),
      field("Resource id", f.resource_id),
      field("Result", f.result),
      field("Order", f.order),
      field("Rows a page", f.limit),
    ),
    h("datalist", { id: "audit-actions" }, ACTIONS.map((a) => h("option", { value: a }))),
    h(
      "div",
      { class: "actions" },
      h("button", { class: "primary", type: "submit" }, "Apply filters"),
      h(
        "button",
        {
          type: "button",
          onclick: (ev) => {
            ev.target.form.reset();
            apply();
          },
        },
        "Clear",
      ),
    ),
  );
  fill(
    el,
    h("h1", {}, "Access log"),
    chain,
    form,
    status,
    results,
    h("div", { class: "actions" }, prev, next, pageInfo),
    detail,
  );
  verify();
  await apply();
}
