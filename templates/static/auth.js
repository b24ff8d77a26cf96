// The login and register pages: post to the REST API and keep the token in localStorage.
import { api, safeNext, saveSession } from "./app.js";

const next = safeNext(new URLSearchParams(window.location.search).get("next"));
const status = document.querySelector("[data-form-status]");

// Links between the two pages keep where the person wanted to go.
for (const link of document.querySelectorAll("a[data-keep-next]")) {
  if (next !== "/") link.href = `${link.pathname}?next=${encodeURIComponent(next)}`;
}

function say(text) {
  status.textContent = text;
}

function clearFieldErrors(form) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
}

/** Show the service's 422 details ({field: [messages]}) next to their fields. */
function showFieldErrors(form, details) {
  let shown = false;
  const fields = (details && (details.fields || details)) || {};
  for (const [name, messages] of Object.entries(fields)) {
    const input = form.elements.namedItem(name);
    if (!input || !(input instanceof HTMLInputElement)) continue;
    const note = document.createElement("p");
    note.className = "field-error";
    note.id = `${input.id}-error`;
    note.textContent = Array.isArray(messages) ? messages.join(" ") : String(messages);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", note.id);
    input.insertAdjacentElement("afterend", note);
    shown = true;
  }
  return shown;
}

function describe(result) {
  const error = result.error;
  switch (result.status) {
    case 401:
      return "That email and password do not match an account.";
    case 409:
      return "An account with this email already exists. Log in instead?";
    case 429: {
      const wait = error.details && error.details.retry_after_seconds;
      return wait ? `Too many attempts. Try again in ${wait} seconds.` : "Too many attempts. Try again later.";
    }
    default:
      return error.message || "Something went wrong; try again.";
  }
}

async function logIn(email, password) {
  const result = await api("/api/v1/auth/login", { method: "POST", body: { email, password }, auth: false });
  if (result.ok) {
    saveSession(result.data, email);
    say("");
    window.location.assign(next);
  }
  return result;
}

function wire(form, submit) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    say("");
    try {
      const result = await submit(new FormData(form));
      if (result && !result.ok) {
        const detailed = result.status === 422 && showFieldErrors(form, result.error.details);
        say(detailed ? "Please correct the marked fields." : describe(result));
      }
    } finally {
      button.disabled = false;
    }
  });
}

const loginForm = document.getElementById("login-form");
if (loginForm) {
  wire(loginForm, (data) => logIn(String(data.get("email")).trim(), String(data.get("password"))));
}

const registerForm = document.getElementById("register-form");
if (registerForm) {
  wire(registerForm, async (data) => {
    const email = String(data.get("email")).trim();
    const password = String(data.get("password"));
    const created = await api("/api/v1/auth/register", {
      method: "POST",
      auth: false,
      body: {
        email,
        password,
        first_name: String(data.get("first_name") || "").trim(),
        last_name: String(data.get("last_name") || "").trim(),
      },
    });
    if (!created.ok) return created;
    return logIn(email, password);
  });
}
