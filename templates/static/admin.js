// The admin console (/admin/...). The page is a shell; its panel is rendered by the server for
// admins only and fetched here with the signed-in person's token. Forms in a panel change things
// through the REST API, then the panel is fetched again.
import { api, cinemaTimeZone, session, token } from "./app.js";

const root = document.querySelector("[data-admin]");

if (root) start(root);

/** "2026-12-10T19:30" read as a wall-clock time in `zone`, as an ISO instant. */
function zonedToIso(local, zone) {
  const [date, time] = local.split("T");
  const [year, month, day] = date.split("-").map(Number);
  const [hour, minute] = time.split(":").map(Number);
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone || "UTC", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const offsetAt = (instant) => {
    const parts = Object.fromEntries(format.formatToParts(new Date(instant)).map((part) => [part.type, part.value]));
    return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second) - instant;
  };
  // Twice: the offset at the guess may differ from the offset at the answer (a DST change).
  let instant = wall - offsetAt(wall);
  instant = wall - offsetAt(instant);
  return new Date(instant).toISOString();
}

function start(root) {
  const panel = root.querySelector("[data-panel]");
  const messages = root.querySelector("[data-messages]");
  const loginHint = root.querySelector("[data-login-hint]");
  let lastKind = "info";

  function say(text, kind = "info") {
    lastKind = kind;
    messages.dataset.kind = kind;
    messages.textContent = text;
  }

  function describe(result) {
    const error = result.error || {};
    const fields = (error.details && error.details.fields) || null;
    if (!fields) return error.message || `The service answered ${result.status}.`;
    const problems = Object.entries(fields).map(([name, list]) => `${name}: ${[].concat(list).join(" ")}`);
    return `${error.message} ${problems.join("; ")}`;
  }

  async function load() {
    const next = window.location.pathname + window.location.search;
    root.querySelector("[data-login-link]").href = `/login?next=${encodeURIComponent(next)}`;
    if (!session()) {
      say("Log in with an admin account to use the console.", "error");
      loginHint.hidden = false;
      return;
    }
    let response;
    try {
      response = await fetch(root.dataset.panelUrl, {
        headers: { Accept: "text/html", Authorization: `Bearer ${token()}` },
        credentials: "same-origin",
      });
    } catch {
      say("The service cannot be reached; check your connection.", "error");
      return;
    }
    if (!response.ok) {
      let error = {};
      try {
        error = (await response.json()).error || {};
      } catch {
        error = {};
      }
      if (response.status === 401 || response.status === 403) {
        loginHint.hidden = false;
        panel.replaceChildren();
        say(response.status === 403 ? "This page is for admins; your account is not an admin's." : "Your session has ended. Log in again.", "error");
        return;
      }
      say(error.message || `The service answered ${response.status}.`, "error");
      return;
    }
    panel.innerHTML = await response.text(); // rendered by our server, escaped by Jinja2
    loginHint.hidden = true;
    if (lastKind !== "success") say("");
    wire();
  }

  function bodyOf(form) {
    const body = {};
    for (const field of form.elements) {
      if (!field.name || field.type === "submit" || field.type === "file") continue;
      if (field.dataset.kind === "checked-numbers") {
        // A group of checkboxes of one name: the numbers of those ticked.
        body[field.name] = body[field.name] || [];
        if (field.checked) body[field.name].push(Number(field.value));
        continue;
      }
      const raw = field.value.trim();
      if (!raw && !("keep" in field.dataset)) continue;
      switch (field.dataset.kind) {
        case "number":
          body[field.name] = Number(raw);
          break;
        case "boolean":
          body[field.name] = raw === "true";
          break;
        case "list":
          body[field.name] = raw.split(",").map((item) => item.trim()).filter(Boolean);
          break;
        case "cinema-time":
          body[field.name] = zonedToIso(raw, cinemaTimeZone());
          break;
        default:
          body[field.name] = raw;
      }
    }
    return body;
  }

  function theaterBody(form) {
    const data = new FormData(form);
    const count = Number(data.get("rows"));
    const seats = Number(data.get("seats"));
    const aisles = String(data.get("aisles_after") || "").split(",").map((item) => item.trim()).filter(Boolean).map(Number);
    const rowTypes = {};
    for (const pair of String(data.get("row_types") || "").split(",")) {
      const [label, type] = pair.split("=").map((item) => (item || "").trim());
      if (label && type) rowTypes[label.toUpperCase()] = type;
    }
    const rows = [];
    for (let index = 0; index < count; index += 1) {
      const label = String.fromCharCode(65 + index);
      const row = { label, seats, seat_type: rowTypes[label] || String(data.get("seat_type") || "regular") };
      if (aisles.length) row.aisles_after = aisles;
      rows.push(row);
    }
    return { name: String(data.get("name") || "").trim(), rows };
  }

  async function submitted(form, result) {
    if (result.ok) {
      say(form.dataset.done || "Saved.", "success");
      await load();
      messages.focus(); // the form is drawn anew: keyboard users go on from the news
    } else if (result.status === 401 || result.status === 403) {
      await load();
    } else {
      say(describe(result), "error");
    }
  }

  function duplicateOf(title) {
    const wanted = title.trim().toLowerCase();
    if (!wanted) return null;
    return [...panel.querySelectorAll("[data-movie-title]")].find((cell) => cell.textContent.trim().toLowerCase() === wanted) || null;
  }

  function wire() {
    for (const form of panel.querySelectorAll("form[data-duplicate-check]")) {
      const title = form.elements.namedItem("title");
      const warning = form.querySelector("[data-duplicate-warning]");
      const check = () => {
        const existing = duplicateOf(title.value);
        warning.hidden = !existing;
        warning.textContent = existing
          ? `A movie called “${existing.textContent.trim()}” already exists. Press “Add movie” again to add another with the same title.`
          : "";
        return existing;
      };
      title.addEventListener("input", () => {
        delete form.dataset.confirmedTitle;
        check();
      });
      form.addEventListener("submit", (event) => {
        if (check() && form.dataset.confirmedTitle !== title.value.trim().toLowerCase()) {
          event.preventDefault();
          event.stopImmediatePropagation();
          form.dataset.confirmedTitle = title.value.trim().toLowerCase();
          say("That title is taken by another movie; press “Add movie” again if you mean it.", "error");
          title.focus();
        }
      });
    }
    for (const form of panel.querySelectorAll("form[data-api]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        const result = await api(form.dataset.api, { method: form.dataset.method || "POST", body: bodyOf(form) });
        button.disabled = false;
        await submitted(form, result);
      });
    }
    for (const form of panel.querySelectorAll("form[data-theater-form]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const result = await api("/api/v1/theaters", { method: "POST", body: theaterBody(form) });
        await submitted(form, result);
      });
    }
    for (const form of panel.querySelectorAll("form[data-upload]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        let result;
        try {
          const response = await fetch(form.dataset.upload, {
            method: "POST",
            headers: { Accept: "application/json", Authorization: `Bearer ${token()}` },
            body: new FormData(form),
          });
          const data = await response.json().catch(() => null);
          result = { ok: response.ok, status: response.status, error: data && data.error };
        } catch {
          result = { ok: false, status: 0, error: { message: "The service cannot be reached; check your connection." } };
        }
        button.disabled = false;
        await submitted(form, result);
      });
    }
    for (const button of panel.querySelectorAll("button[data-api-delete]")) {
      button.addEventListener("click", async () => {
        if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
        button.disabled = true;
        const result = await api(button.dataset.apiDelete, { method: "DELETE" });
        button.disabled = false;
        await submitted(button, result);
      });
    }
    for (const link of panel.querySelectorAll("a[data-csv]")) {
      link.addEventListener("click", (event) => {
        event.preventDefault();
        download(link);
      });
    }
  }

  /** A report as CSV: fetched with the token (a plain link could not send it), then saved. */
  async function download(link) {
    let response;
    try {
      response = await fetch(link.href, { headers: { Accept: "text/csv", Authorization: `Bearer ${token()}` } });
    } catch {
      say("The service cannot be reached; check your connection.", "error");
      return;
    }
    if (!response.ok) {
      say(`The report could not be downloaded (${response.status}).`, "error");
      return;
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = (/filename="?([^";]+)"?/.exec(disposition) || [])[1] || "report.csv";
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = name;
    document.body.append(save);
    save.click();
    save.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  load();
}
