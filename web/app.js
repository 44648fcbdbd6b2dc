// app.js - the page's frame: sign-in and sign-out, the navigation, and a router that maps
// the part of the address after "#" to a view. The address holds ids, never secret values
// or the token.
import { signIn, signOut, whoami, isAdmin, explain } from "/ui/api.js";
import { h, fill, notice, field } from "/ui/dom.js";
import { credentialsView, credentialView, credentialNewView } from "/ui/credentials.js";
import { servicesView, serviceView } from "/ui/services.js";
import { tokensView, principalsView } from "/ui/admin.js";
import { auditView } from "/ui/audit.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

// Sections: [hash, title, admins only]
const SECTIONS = [
  ["#/credentials", "Credentials", false],
  ["#/services", "Services", false],
  ["#/tokens", "API tokens", true],
  ["#/principals", "Principals", true],
  ["#/audit", "Access log", false],
];

// "#/credentials/abc" -> a view; each view renders into main and returns nothing.
function route(main) {
  const [, section, id, extra] = location.hash.split("/");
  const admin = isAdmin();
  switch (section) {
    case "credentials":
      if (id === "new" && admin) return credentialNewView(main);
      return id ? credentialView(main, decodeURIComponent(id)) : credentialsView(main);
    case "services":
      return id ? serviceView(main, decodeURIComponent(id), extra === "new") : servicesView(main);
    case "tokens":
      return admin ? tokensView(main) : notAllowed(main);
    case "principals":
      return admin ? principalsView(main) : notAllowed(main);
    case "audit":
      return auditView(main);
    default:
      location.replace(admin ? "#/credentials" : "#/audit");
      return undefined;
  }
}

function notAllowed(main) {
  fill(main, h("h1", {}, "Not for your role"), notice("error", "Only admins manage API tokens and principals."));
}

function showNav() {
  const admin = isAdmin();
  const here = `#/${location.hash.split("/")[1] || ""}`;
  fill(
    nav,
    SECTIONS.filter(([, , adminOnly]) => admin || !adminOnly).map(([href, title]) =>
      h("a", { href, "aria-current": href === here ? "page" : false }, title),
    ),
  );
  nav.hidden = false;
  const me = whoami();
  fill(
    who,
    h("span", {}, `${me.email} · ${me.role}`),
    h("button", { type: "button", onclick: () => leave("Signed out.") }, "Sign out"),
  );
}

async function render() {
  if (!whoami()) return;
  showNav();
  // Each view renders into a new element: one that is still loading when the person moves on
  // writes into an element no longer on the page.
  const view = h("div", { class: "view" });
  fill(main, view);
  try {
    await route(view);
  } catch (err) {
    fill(view, h("h1", {}, "Something went wrong"), notice("error", explain(err)));
  }
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

// Back to the sign-in form: the token is forgotten, everything shown is removed.
function leave(message) {
  signOut();
  history.replaceState(null, "", location.pathname); // the next person starts at their own home
  nav.hidden = true;
  nav.replaceChildren();
  who.replaceChildren();
  showSignIn(message);
}

function showSignIn(message) {
  const input = h("input", {
    type: "password",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "coffer_…",
  });
  const status = h("div", { "aria-live": "polite" }, message ? notice("info", message) : null);
  const button = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card signin",
      onsubmit: async (ev) => {
        ev.preventDefault();
        button.disabled = true;
        fill(status, notice("info", "Checking the token…"));
        try {
          await signIn(input.value.trim(), (why) => leave(why));
          input.value = "";
          await render();
        } catch (err) {
          fill(status, notice("error", explain(err)));
          button.disabled = false;
          input.focus();
        }
      },
    },
    h("h1", {}, "Sign in to coffer"),
    h(
      "p",
      { class: "muted" },
      "Paste an API token (an admin's or an auditor's). It is kept in this tab's memory only and forgotten when you sign out or close the tab.",
    ),
    status,
    field("API token", input),
    h("div", { class: "actions" }, button),
  );
  fill(main, form);
  input.focus();
}

window.addEventListener("hashchange", () => render());
// The skip link moves the focus, not the address (which names the view).
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});
showSignIn();
