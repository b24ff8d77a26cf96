// Shared by every page: the signed-in session (kept in localStorage), a small JSON API client,
// and the navigation bar. Plain ES module, no dependencies.

const SESSION_KEY = "reservations.session";

/** The stored session {token, email, expiresAt} or null when absent or expired. */
export function session() {
  let stored = null;
  try {
    stored = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    stored = null;
  }
  if (!stored || typeof stored.token !== "string") return null;
  if (typeof stored.expiresAt === "number" && stored.expiresAt <= Date.now()) {
    clearSession();
    return null;
  }
  return stored;
}

export function token() {
  const current = session();
  return current ? current.token : null;
}

export function saveSession(login, email) {
  const expiresAt = Date.now() + Math.max(0, (login.expires_in || 3600) - 30) * 1000;
  localStorage.setItem(SESSION_KEY, JSON.stringify({ token: login.access_token, email, expiresAt }));
  updateNav();
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
  updateNav();
}

/**
 * Call the REST API. Never throws: answers {ok, status, data, error} where error is the
 * service's {code, message, details} (or a made-up one for network faults).
 */
export async function api(path, { method = "GET", body, headers = {}, keepalive = false, auth = true } = {}) {
  const sent = { Accept: "application/json", ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const bearer = auth ? token() : null;
  if (bearer) sent.Authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      keepalive,
      credentials: "same-origin",
    });
  } catch {
    return {
      ok: false,
      status: 0,
      data: null,
      error: { code: "network", message: "The service cannot be reached; check your connection.", details: {} },
    };
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  const error = response.ok
    ? null
    : (data && data.error) || { code: `http_${response.status}`, message: `The service answered ${response.status}.`, details: {} };
  if (response.status === 401 && bearer) clearSession();
  return { ok: response.ok, status: response.status, data, error, response };
}

/**
 * A path of this origin to go to after logging in, never another origin. The value is parsed
 * as the browser would parse it (which drops tabs and newlines, and reads "\\" as "/"), so
 * "/\t/evil.example" or "/\\evil.example" cannot slip through as a path; what is returned is
 * rebuilt from the parsed URL and never starts with "//".
 */
export function safeNext(value) {
  if (typeof value !== "string" || !value.startsWith("/")) return "/";
  let url;
  try {
    url = new URL(value, window.location.origin);
  } catch {
    return "/";
  }
  if (url.origin !== window.location.origin || url.pathname.startsWith("//")) return "/";
  return `${url.pathname}${url.search}${url.hash}`;
}

export function cinemaTimeZone() {
  return document.body.dataset.cinemaTz || undefined;
}

/** "Fri 5 Dec, 19:30" in the cinema's time zone. */
export function formatDateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat("en-GB", {
      weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", timeZone: cinemaTimeZone(),
    }).format(date);
  } catch {
    return date.toLocaleString();
  }
}

export function updateNav() {
  const current = session();
  for (const item of document.querySelectorAll("[data-when]")) {
    if (item.dataset.when === "admin") item.hidden = !(current && current.role === "admin");
    else item.hidden = (item.dataset.when === "signed-in") !== Boolean(current);
  }
  for (const label of document.querySelectorAll("[data-user-email]")) {
    label.textContent = current && current.email ? current.email : "";
  }
}

/** The signed-in person's role, asked once per session, for the navigation only (the server
 * checks the role on every request that needs it). */
async function learnRole() {
  const current = session();
  if (!current || current.role) return;
  const result = await api("/api/v1/auth/me");
  const now = session();
  if (!result.ok || !now || now.token !== current.token) return;
  localStorage.setItem(SESSION_KEY, JSON.stringify({ ...now, role: result.data.role }));
  updateNav();
}

/** UTF-8 bytes of `text`: how the service measures a password (bcrypt's limit is 72 bytes). */
export function utf8Bytes(text) {
  return new TextEncoder().encode(text).length;
}

/** Password fields marked data-count-bytes="<hint id>" show their size as the check counts it. */
function setUpByteCounters() {
  for (const input of document.querySelectorAll("input[data-count-bytes]")) {
    const counter = document.getElementById(input.dataset.countBytes)?.querySelector("[data-byte-count]");
    if (!counter) continue;
    const max = Number(input.maxLength) > 0 ? Number(input.maxLength) : 72;
    const show = () => {
      const size = utf8Bytes(input.value);
      counter.textContent = input.value ? `${size} of ${max} bytes used.` : "";
      counter.dataset.over = String(size > max);
    };
    input.addEventListener("input", show);
    show();
  }
}

function setUpNav() {
  updateNav();
  learnRole();
  for (const button of document.querySelectorAll('[data-action="logout"]')) {
    button.addEventListener("click", () => {
      clearSession();
      window.location.assign("/");
    });
  }
  // Another tab logged in or out.
  window.addEventListener("storage", (event) => {
    if (event.key === SESSION_KEY || event.key === null) updateNav();
  });
  // The genre filter submits itself when a genre is chosen (the button stays for keyboards).
  for (const form of document.querySelectorAll("form[data-auto-submit]")) {
    const select = form.querySelector("select");
    if (select) select.addEventListener("change", () => form.requestSubmit());
  }
}

setUpNav();
setUpByteCounters();
