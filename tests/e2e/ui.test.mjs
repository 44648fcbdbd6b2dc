// ui.test.mjs - coffer's web page in headless Chromium, as an admin and as an auditor: sign
// in, create a credential, change it, reveal and hide its values, history, diff and revert,
// map it to a service (and see a key conflict refused), tokens and principals, then the
// access log with filters, paging, row detail, hostile rows (control and bidirectional
// characters shown as escapes, a name only claimed shown as such) and the chain's status.
// Screenshots of the main views go to COFFER_E2E_SHOTS. The browser never stores a token:
// checked while signed in (after sign-in and after each kind of action, Reveal too) and after
// sign-out. Run by tests/e2e/run.sh, which starts cofferd.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

const URL = process.env.COFFER_E2E_URL;
const ADMIN = process.env.COFFER_E2E_ADMIN_TOKEN;
const SHOTS = process.env.COFFER_E2E_SHOTS;
const SECRET = "s3cr3t-e2e-value";
const SECRET2 = "n3w-s3cr3t-value";

const browser = await chromium.launch({
  executablePath: process.env.COFFER_E2E_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(15000);

const problems = []; // console errors, CSP refusals, uncaught exceptions
// The API's refusals the test provokes (a wrong token, a key conflict) are logged by Chromium
// as "Failed to load resource"; everything else logged as an error is a problem.
page.on("console", (m) => {
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`exception: ${e.message}`));
const requests = []; // every request: method, URL, body
page.on("request", (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData() }));
page.on("dialog", (d) => d.accept());

let step = "start";
const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
const main = page.locator("main");
const alert = () => page.getByRole("alert").first();
const nav = (name) => page.locator("#nav").getByRole("link", { name, exact: true });
// Opens a section from the navigation and waits for its view (named like its link).
async function go(name) {
  await nav(name).click();
  await page.getByRole("heading", { level: 1, name, exact: true }).waitFor();
}

// Clicks something that loads a page of the access log, and waits until that page is shown.
async function logPage(locator) {
  await locator.click();
  await page.locator("#audit-results[aria-busy=false]").waitFor();
}

// Clicks, and waits for the answer to the write it sends.
async function write(method, locator) {
  const answer = page.waitForResponse((r) => r.request().method() === method && r.url().includes("/v1/"));
  await locator.click();
  return answer;
}

async function run(name, fn) {
  step = name;
  await fn();
  console.log(`ok - ${name}`);
}

async function signIn(token) {
  await page.getByLabel("API token").fill(token);
  await page.getByLabel("API token").press("Enter"); // the keyboard alone signs in
}

// Fails if the browser keeps the signed-in token anywhere a page can store it: localStorage,
// sessionStorage or a cookie (the page's, or any the browser holds, HttpOnly ones too). The
// token lives in the page's memory only, while signed in as much as after sign-out; its
// secret part (after "coffer_") is looked for, so that a token stored without its prefix
// fails too.
async function assertTokenNotStored(token, when) {
  const secret = token.replace(/^coffer_/, "");
  const stored = await page.evaluate(() => {
    const all = [];
    for (const [name, s] of [["localStorage", localStorage], ["sessionStorage", sessionStorage]]) {
      for (let i = 0; i < s.length; i++) all.push([name, s.key(i)], [name, s.getItem(s.key(i))]);
    }
    all.push(["document.cookie", document.cookie]);
    return all;
  });
  for (const c of await context.cookies()) stored.push(["a cookie", `${c.name}=${c.value}`]);
  for (const [where, text] of stored) {
    assert.ok(!text.includes(secret), `${when}: ${where} holds the API token`);
  }
}

const lastPut = (re) => {
  const r = requests.filter((x) => x.method === "PUT" && re.test(x.url)).at(-1);
  assert.ok(r, `no PUT to ${re}`);
  return JSON.parse(r.body || "{}");
};

let credId;
let auditorToken;
try {
  await run("the page is served with a strict Content-Security-Policy", async () => {
    const res = await page.goto(`${URL}/ui/`);
    assert.equal(res.status(), 200);
    const csp = res.headers()["content-security-policy"];
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    await page.getByRole("heading", { name: "Sign in to coffer" }).waitFor();
  });

  await run("a wrong token is refused, with a message a person can act on", async () => {
    await signIn("not a token");
    await page.getByText("That is not an API token").waitFor(); // said before anything is sent
    await signIn(`coffer_${"this-token-does-not-exist-".padEnd(43, "0")}`);
    await page.getByText(/refused the token/).waitFor();
    await shot("ui-sign-in");
  });

  await run("an admin signs in", async () => {
    await signIn(ADMIN);
    await page.getByRole("heading", { name: "Credentials" }).waitFor();
    assert.match(await page.locator("#who").innerText(), /admin/);
    await nav("API tokens").waitFor();
    await assertTokenNotStored(ADMIN, "signed in as the admin");
  });

  await run("the keyboard alone reaches the navigation and opens a section", async () => {
    await page.locator("body").focus();
    let on = "";
    for (let i = 0; i < 12 && on !== "Services"; i++) {
      await page.keyboard.press("Tab");
      on = await page.evaluate(() => document.activeElement.textContent.trim());
    }
    assert.equal(on, "Services", "Tab never reached the Services link");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Services", exact: true }).waitFor();
    await go("Credentials");
  });

  await run("create a credential", async () => {
    await page.getByRole("link", { name: "New credential" }).click();
    await page.getByLabel("Name", { exact: true }).fill("e2e database");
    await page.getByLabel("Tags").fill("db, e2e");
    await page.getByLabel("Documentation").fill("Rotate in the database console.");
    await page.getByLabel("Credential pairs: key 1").fill("username");
    await page.getByLabel("Credential pairs: value 1").fill("web");
    await page.getByRole("button", { name: "Add a row" }).first().click();
    await page.getByLabel("Credential pairs: key 2").fill("password");
    await page.getByLabel("Credential pairs: value 2").fill(SECRET);
    await page.getByRole("button", { name: "Create credential" }).click();
    await page.getByRole("heading", { name: "e2e database" }).waitFor();
    credId = decodeURIComponent(new globalThis.URL(page.url()).hash.split("/")[2]);
    assert.match(credId, /^[0-9a-f]{32}$/);
    assert.ok(!(await page.content()).includes(SECRET), "the value shows before Reveal");
    await assertTokenNotStored(ADMIN, "after creating a credential");
    await shot("ui-credential");
  });

  await run("reveal shows the values, hide removes them from the page", async () => {
    await page.getByRole("button", { name: "Reveal values" }).focus();
    await page.keyboard.press("Enter"); // a button, so the keyboard works it too
    await page.locator("code.value", { hasText: SECRET }).waitFor();
    await assertTokenNotStored(ADMIN, "with the values revealed");
    await shot("ui-credential-revealed");
    await page.getByRole("button", { name: "Hide values" }).click();
    await page.getByRole("button", { name: "Reveal values" }).waitFor();
    assert.ok(!(await page.content()).includes(SECRET), "the value stays on the page after Hide");
    await assertTokenNotStored(ADMIN, "after Hide");
  });

  await run("an edit that leaves the pairs alone does not send them", async () => {
    await page.getByRole("button", { name: "Edit" }).click();
    await page.getByLabel("Documentation").fill("Rotate in the console, then here.");
    assert.equal((await write("PUT", page.getByRole("button", { name: "Save changes" }))).status(), 200);
    await page.getByText("Saved.").waitFor();
    const body = lastPut(/\/v1\/credentials\/[0-9a-f]{32}$/);
    assert.equal(body.expected_revision, 1);
    assert.equal(body.documentation, "Rotate in the console, then here.");
    assert.ok(!("credential_pairs" in body), "unchanged pairs were sent back");
    await page.getByRole("button", { name: "Diff 1→2" }).waitFor(); // the view is read again
  });

  await run("changing a value sends the pairs", async () => {
    await page.getByRole("button", { name: "Edit" }).click();
    await page.getByRole("button", { name: "Change values…" }).click();
    // the rows hold the current values, keys in order
    assert.equal(await page.getByLabel("Credential pairs: key 1").inputValue(), "password");
    assert.equal(await page.getByLabel("Credential pairs: value 1").inputValue(), SECRET);
    await page.getByLabel("Credential pairs: value 1").fill(SECRET2);
    assert.equal((await write("PUT", page.getByRole("button", { name: "Save changes" }))).status(), 200);
    await page.getByText("Saved.").waitFor();
    const body = lastPut(/\/v1\/credentials\/[0-9a-f]{32}$/);
    assert.equal(body.expected_revision, 2);
    assert.deepEqual(body.credential_pairs, { password: SECRET2, username: "web" });
    await page.getByRole("button", { name: "Diff 2→3" }).waitFor(); // the editor is gone
    assert.ok(!(await page.content()).includes(SECRET2), "the new value stays on the page");
  });

  await run("history: a diff names the changed key, a revert brings the old value back", async () => {
    await page.getByRole("button", { name: "Diff 2→3" }).click();
    const diff = page.locator("section.diff");
    await diff.waitFor();
    assert.match(await diff.innerText(), /credential_pairs[\s\S]*password/);
    await page.getByRole("button", { name: "Revert to 1" }).click();
    await page.getByText("Reverted to revision 1.").waitFor();
    assert.match(await main.innerText(), /Revision\s+4/);
    await page.getByRole("button", { name: "Reveal values" }).click();
    await page.locator("code.value", { hasText: SECRET }).waitFor();
    await assertTokenNotStored(ADMIN, "after a revert and a Reveal");
    await page.getByRole("button", { name: "Hide values" }).click();
    await shot("ui-history");
  });

  await run("a second credential with the same key", async () => {
    await go("Credentials");
    await page.getByRole("link", { name: "New credential" }).click();
    await page.getByLabel("Name", { exact: true }).fill("e2e other");
    await page.getByLabel("Credential pairs: key 1").fill("password");
    await page.getByLabel("Credential pairs: value 1").fill("other-value");
    await page.getByRole("button", { name: "Create credential" }).click();
    await page.getByRole("heading", { name: "e2e other" }).waitFor();
    await go("Credentials");
    await page.getByLabel("Search").fill("e2e d");
    await page.getByRole("link", { name: "e2e database" }).waitFor();
    assert.equal(await page.getByRole("link", { name: "e2e other" }).count(), 0);
  });

  await run("map the credential to a new service; a key conflict is refused and explained", async () => {
    await go("Services");
    await page.getByLabel("Service id").fill("e2e-web");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "e2e-web" }).waitFor();
    await page.getByLabel("Credential").selectOption({ label: "e2e database (password, username)" });
    await page.getByRole("button", { name: "Map", exact: true }).click();
    await page.getByText('Mapped "e2e database".').waitFor();
    await page.getByLabel("Credential").selectOption({ label: "e2e other (password)" });
    assert.equal((await write("PUT", page.getByRole("button", { name: "Map", exact: true }))).status(), 400);
    await alert().waitFor();
    const text = await alert().innerText();
    assert.match(text, /key "password"/);
    assert.match(text, /"e2e database"/);
    assert.equal(await page.getByRole("link", { name: "e2e other" }).count(), 0);
    await shot("ui-service-conflict");
  });

  await run("a service's history: unmap, the diff names the credential, revert maps it again", async () => {
    await page.getByRole("button", { name: "Unmap" }).click();
    await page.getByText('Unmapped "e2e database".').waitFor();
    assert.match(await main.innerText(), /No credential is mapped/);
    await page.getByRole("button", { name: "Diff 1→2" }).click();
    const diff = page.locator("section.diff");
    await diff.waitFor();
    assert.match(await diff.innerText(), /credentials[\s\S]*− "e2e database"/);
    await page.getByRole("button", { name: "Revert to 1" }).click();
    await page.getByText("Reverted to revision 1.").waitFor();
    await page.getByRole("link", { name: "e2e database" }).waitFor();
    lastPut(/\/v1\/services\/e2e-web\/1\?expected_revision=2$/); // the revert said which revision it saw
  });

  await run("create an auditor token (shown once) and give a principal a role", async () => {
    await go("API tokens");
    await page.getByLabel("Name").fill("e2e-auditor");
    await page.getByLabel("Role").selectOption("auditor");
    await page.getByRole("button", { name: "Create token" }).click();
    auditorToken = (await page.locator("code.token-once").innerText()).trim();
    assert.match(auditorToken, /^coffer_[A-Za-z0-9_-]{43}$/);
    await go("Principals");
    await page.getByLabel("Name").fill("alice");
    await page.getByRole("button", { name: "Set role" }).click();
    await page.getByText('"alice" is now auditor.').waitFor();
    await go("API tokens");
    await page.getByRole("cell", { name: "e2e-auditor" }).waitFor();
    await assertTokenNotStored(ADMIN, "after creating a token and setting a role");
    await assertTokenNotStored(auditorToken, "after creating the auditor's token");
    await shot("ui-tokens");
  });

  await run("sign out forgets the token and leaves nothing in storage", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to coffer" }).waitFor();
    const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    assert.deepEqual(stored, [0, 0, ""]);
    assert.deepEqual(await context.cookies(), []);
    assert.equal(await nav("Credentials").count(), 0);
  });

  await run("an auditor sees the reveal in the access log", async () => {
    // The page walks the chain in ranges; here every range is cut to 10 rows on its way to
    // cofferd, so that the walk takes several requests, each one starting where the last ended.
    const ranges = [];
    await page.route(/\/v1\/audit\/verify\?/, (route) => {
      const u = new globalThis.URL(route.request().url());
      u.searchParams.set("to_id", String(Number(u.searchParams.get("from_id")) + 9));
      ranges.push(u.searchParams.get("from_id"));
      return route.continue({ url: u.toString() });
    });
    await signIn(auditorToken);
    await page.getByRole("heading", { name: "Access log" }).waitFor();
    await assertTokenNotStored(auditorToken, "signed in as the auditor");
    assert.equal(await nav("API tokens").count(), 0);
    await page.getByText("The access log verifies.").waitFor();
    const said = await page.locator(".notice.ok", { hasText: "The access log verifies." }).innerText();
    const [, last, count, head] = said.match(/Rows 1–(\d+) \((\d+)\).*head is row (\d+)/).map(Number);
    assert.equal(last, head);
    assert.equal(count, head); // every row, once
    assert.ok(ranges.length >= 5, `${ranges.length} ranges`);
    assert.deepEqual(ranges.map(Number), ranges.map((_, i) => 1 + 10 * i));
    await page.unroute(/\/v1\/audit\/verify\?/);
    const hourAgo = new Date(Date.now() - 3600e3);
    const local = (d) =>
      new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
    await page.getByLabel("From (local time)").fill(local(hourAgo));
    await page.getByLabel("Action").fill("credential.get");
    await page.getByLabel("Resource id").fill(credId);
    await logPage(page.getByRole("button", { name: "Apply filters" }));
    const rows = page.locator("main tbody tr");
    await rows.first().waitFor();
    // two reveals and the values loaded for the change, by the admin's token, all allowed
    assert.equal(await rows.count(), 3);
    for (const text of await rows.allInnerTexts()) {
      assert.match(text, /token:e2e-admin/);
      assert.doesNotMatch(text, /unauthenticated|claimed/);
      assert.match(text, /credential\.get/);
      assert.match(text, /allowed/);
    }
    await rows.first().getByRole("button", { name: /Details/ }).click();
    const detail = page.getByRole("heading", { name: /^Row \d+$/ });
    await detail.waitFor();
    assert.match(await main.innerText(), /prev_hash/);
    await shot("ui-audit");
  });

  await run("filter by result; page through the log", async () => {
    await logPage(page.getByRole("button", { name: "Clear" }));
    await page.getByLabel("Result").selectOption("denied");
    await logPage(page.getByRole("button", { name: "Apply filters" }));
    await page.locator("main tbody tr", { hasText: "unauthenticated" }).first().waitFor();
    for (const text of await page.locator("main tbody tr").allInnerTexts()) assert.match(text, /denied/);
    await page.getByLabel("Result").selectOption("");
    await logPage(page.getByRole("button", { name: "Apply filters" }));
    await page.getByText("page 1, 25 rows").waitFor();
    const firstId = await page.locator("main tbody tr td").first().innerText();
    await logPage(page.getByRole("button", { name: "Next page →" }));
    await page.getByText(/^page 2, /).waitFor();
    const secondId = await page.locator("main tbody tr td").first().innerText();
    assert.ok(Number(secondId) < Number(firstId), "page 2 is older than page 1");
    await logPage(page.getByRole("button", { name: "← Previous page" }));
    await page.getByText("page 1, 25 rows").waitFor();
    // page 1 again, asked anew: the newest rows, the ones this paging wrote included
    const againId = await page.locator("main tbody tr td").first().innerText();
    assert.ok(Number(againId) >= Number(firstId), "page 1 again starts at the newest row");
  });

  await run("hostile rows: hidden characters shown as escapes, a claimed name as claimed", async () => {
    // An unauthenticated caller chooses the actor (the Basic username it claims, or
    // X-Auth-From) and the resource id (a %-encoded path segment) of its row.
    const user = "\u001b[2J\r\nrow 1 ok\u202egnp.exe\u2066\u200b";
    const rid = "svc\u202eevil\u001b[31m\u200b\u0085";
    const basic = Buffer.from(`${user}:not-a-token`).toString("base64");
    let res = await fetch(`${URL}/v1/services/${encodeURIComponent(rid)}`, { headers: { Authorization: `Basic ${basic}` } });
    assert.equal(res.status, 401);
    res = await fetch(`${URL}/v1/services/e2e-spoofed`, { headers: { "X-Auth-From": "token:e2e-admin", "X-Auth-Token": "not-a-token" } });
    assert.equal(res.status, 401);
    await logPage(page.getByRole("button", { name: "Clear" }));
    await page.getByLabel("Actor type").selectOption("anonymous");
    await logPage(page.getByRole("button", { name: "Apply filters" }));
    const hostile = page.locator("main tbody tr", { hasText: "gnp.exe" });
    await hostile.waitFor();
    const text = await hostile.innerText();
    for (const shown of ["unauthenticated", "claimed", "\\x1b[2J\\r\\nrow 1 ok\\u202egnp.exe\\u2066\\u200b", "svc\\u202eevil\\x1b[31m\\u200b\\u0085"]) {
      assert.ok(text.includes(shown), `the row does not show ${shown}: ${text}`);
    }
    assert.ok((await hostile.locator(".esc").count()) >= 10, "the escapes are not marked");
    // nothing hidden is left in the table's text, the page's text or the row's detail
    const hidden = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;
    const spoofed = page.locator("main tbody tr", { hasText: "token:e2e-admin" }).first();
    await spoofed.waitFor();
    assert.match(await spoofed.innerText(), /unauthenticated\s+claimed\s+.?token:e2e-admin/);
    await hostile.getByRole("button", { name: /Details/ }).click();
    await page.getByRole("heading", { name: /^Row \d+$/ }).waitFor();
    const detail = await main.innerText();
    assert.match(detail, /actor_proven\s+false/);
    assert.match(detail, /claimed, not proven/);
    for (const t of [text, detail, await page.locator("body").textContent()]) {
      assert.ok(!hidden.test(t), `hidden character in ${JSON.stringify(t.match(hidden))}`);
    }
    await shot("ui-audit-hostile");
  });

  await run("an auditor reads metadata only: no Reveal", async () => {
    await go("Credentials");
    await page.getByRole("link", { name: "e2e database" }).click();
    await page.getByRole("heading", { name: "e2e database" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Reveal values" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Edit" }).count(), 0);
    await assertTokenNotStored(auditorToken, "after the auditor's reads");
  });

  await run("a narrow screen: nothing wider than the window", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await go("Access log");
    await page.getByText("The access log verifies.").waitFor();
    await page.locator("main tbody tr").first().waitFor();
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width, `the page is ${scroll} px wide in a ${width} px window`);
    await shot("ui-audit-narrow");
  });

  await run("no secret value or token in any URL; no console error or CSP refusal", async () => {
    for (const r of requests) {
      for (const s of [SECRET, SECRET2, ADMIN, auditorToken]) assert.ok(!r.url.includes(s), `${r.url} holds a secret`);
    }
    assert.deepEqual(problems, []);
  });
} catch (err) {
  console.error(`not ok - ${step}`);
  console.error(err);
  await shot("failure").catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log(`screenshots in ${SHOTS}`);
