// api.js - the REST API as the page uses it. The signed-in token lives in this module's
// memory only: not in localStorage, a cookie or a URL, so it goes when the tab closes.

let token = null;
let me = null;

export class ApiError extends Error {
  constructor(status, body, requestId) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || (status === 0 ? "network" : "http_error");
    this.body = body;
    this.requestId = requestId || body.request_id || null;
  }
}

// Sends one request; resolves to the parsed JSON body, rejects with an ApiError.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, {
      error: "cofferd did not answer. Check that it is running and that this page is served by it.",
    });
  }
  const text = await res.text();
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: `cofferd answered ${res.status} with a body that is not JSON` };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, res.headers.get("X-Request-Id"));
    if (res.status === 401 && token !== null && onSignedOut) onSignedOut(explain(err));
    throw err;
  }
  return data;
}

// A query string from an object, leaving out empty values.
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

export const enc = encodeURIComponent;

let onSignedOut = null;

// Checks token with GET /v1/user/email and keeps it; rejects (and keeps nothing) if refused.
export async function signIn(candidate, signedOut) {
  if (!/^coffer_[A-Za-z0-9_-]{43}$/.test(candidate)) {
    throw new ApiError(400, {
      code: "token_shape",
      error: "That is not an API token: one is coffer_ followed by 43 letters, digits, - or _ (50 characters). Paste it again, whole.",
    });
  }
  token = candidate;
  try {
    me = await api("GET", "/v1/user/email");
  } catch (err) {
    token = null;
    me = null;
    throw err;
  }
  onSignedOut = signedOut;
  return me;
}

export function signOut() {
  token = null;
  me = null;
  onSignedOut = null;
}

export function whoami() {
  return me;
}

export function isAdmin() {
  return me !== null && me.role === "admin";
}

// Every page of a list endpoint (credentials, services): member names the array.
export async function listAll(path, member) {
  const all = [];
  let page = null;
  do {
    const data = await api("GET", path + qs({ limit: 1000, page }));
    all.push(...data[member]);
    page = data.next_page;
  } while (page);
  return all;
}

// What went wrong, said so that the person can act on it. names maps credential ids to names.
export function explain(err, names) {
  const name = (id) => (names && names.get(id) ? `"${names.get(id)}"` : id);
  const b = err.body || {};
  let text;
  switch (err.code) {
    case "network":
      text = err.message;
      break;
    case "unauthenticated":
    case "authentication_failed":
      text = "cofferd refused the token: it may be mistyped, expired or revoked. Sign in again with a valid API token.";
      break;
    case "forbidden":
      text = "Your role may not do this: auditors read, only admins change things.";
      break;
    case "revision_conflict":
      text = `Someone else changed this meanwhile (it is now at revision ${b.current_revision}). Reload to see their change, then make yours again.`;
      break;
    case "key_conflict": {
      const parts = Object.entries(b.conflicts || {}).map(([key, c]) => {
        const creds = (c.credentials || []).map(name).join(" and ");
        const svcs = (c.services || []).length ? ` in service ${c.services.join(", ")}` : "";
        return `key "${key}" is in ${creds}${svcs}`;
      });
      text = `Two credentials of one service may not share a key: ${parts.join("; ")}. Rename the key in one of them, or map only one.`;
      break;
    }
    case "name_conflict":
      text = `Another credential is already called that (id ${b.reference}). Choose another name.`;
      break;
    case "token_name_conflict":
      text = "An active token already has that name. Choose another, or revoke the old one first.";
      break;
    case "audit_unavailable":
      text = "The access log cannot be written just now, so cofferd refused the request: it never answers without logging it. Try again in a moment.";
      break;
    case "database_unavailable":
    case "kms_unavailable":
      text = `${b.error || "A back end is unavailable"}. Nothing was changed; try again in a moment.`;
      break;
    case "no_change":
      text = "That revision is the same as the current one: there is nothing to revert.";
      break;
    case "not_found":
      text = "It does not exist (or no longer does).";
      break;
    default:
      text = b.error || err.message;
  }
  return err.requestId ? `${text} (request id ${err.requestId})` : text;
}
