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

  function say(text, kind = "info") {
    messages.dataset.kind = kind;
    messages.textContent = text;
  }

  /** What a form field is called on the page: its label's own words ("Release date"). */
  function labelOf(form, name) {
    const field = form && form.elements && form.elements.namedItem(name);
    const element = field && (field.labels ? field : field[0]);
    const label = element && element.labels && element.labels[0];
    if (!label) return name.replaceAll("_", " ");
    const words = [...label.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.textContent).join(" ");
    return words.replace(/\s+/g, " ").trim() || name.replaceAll("_", " ");
  }

  /** Every message under a field, however deep (a row's aisles, a dict's value), with the
   * path that leads to it: [["rows", "0", "aisles_after"], "Aisles go after ..."]. */
  function flatten(value, path = []) {
    if (typeof value === "string") return [[path, value]];
    if (Array.isArray(value)) return value.flatMap((item) => flatten(item, path));
    if (value && typeof value === "object") return Object.entries(value).flatMap(([key, item]) => flatten(item, [...path, key]));
    return [[path, String(value)]];
  }

  /** An error answer in words: the message, then each field by its label, and for a row of a
   * theater its label ("rows A, B: Aisles go after a seat number from 1 to 3."). */
  function describe(result, form = null, body = null) {
    const error = result.error || {};
    const fields = (error.details && error.details.fields) || null;
    if (!fields) return error.message || `The service answered ${result.status}.`;
    const grouped = new Map();
    for (const [path, message] of flatten(fields)) {
      const [name, ...rest] = path;
      let where = labelOf(form, name);
      const inner = rest.filter((part) => part !== "value" && part !== "key" && part !== "_schema");
      let row = null;
      if (name === "rows" && inner.length && /^[0-9]+$/.test(inner[0])) {
        const index = Number(inner.shift());
        row = (body && body.rows && body.rows[index] && body.rows[index].label) || String(index + 1);
        where = "row";
      }
      if (inner.length) where += ` ${inner.join(" ").replaceAll("_", " ")}`;
      const key = `${where}\u0000${message}`;
      if (!grouped.has(key)) grouped.set(key, { where, message, rows: [] });
      if (row !== null) grouped.get(key).rows.push(row);
    }
    const problems = [...grouped.values()].map(({ where, message, rows }) => {
      const named = rows.length ? where.replace(/^row/, rows.length > 1 ? `rows ${rows.join(", ")}` : `row ${rows[0]}`) : where;
      return `${named.charAt(0).toUpperCase()}${named.slice(1)}: ${message}`;
    });
    return `${error.message} ${problems.join(" ")}`;
  }

  /** The browser's own checks (required, number ranges), said in the page's banner with the
   * field's name instead of a bubble under an older message; false when one fails. */
  function checked(form) {
    const problems = [];
    let first = null;
    for (const field of form.elements) {
      if (!field.willValidate || field.checkValidity()) continue;
      first = first || field;
      const rule = field.validity.patternMismatch && field.title ? ` ${field.title}.` : "";
      problems.push(`${labelOf(form, field.name)}: ${field.validationMessage}${rule}`);
    }
    if (!first) return true;
    say(`Please check the form. ${problems.join(" ")}`, "error");
    first.focus();
    return false;
  }

  /** "12,50" as typed where a comma is the decimal mark: 12.50. */
  function decimal(raw) {
    return /^[0-9]+,[0-9]+$/.test(raw) ? raw.replace(",", ".") : raw;
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
    say(""); // news of a change is told after the panel is drawn anew (submitted)
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
      let raw = field.value.trim();
      if (!raw && !("keep" in field.dataset)) continue;
      if (field.inputMode === "decimal") raw = decimal(raw);
      switch (field.dataset.kind) {
        case "nullable":
          body[field.name] = raw || null;
          break;
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

  /** A seat type typed by its public name ("Wheelchair space") or its own ("accessible"). */
  function seatTypeName(form, typed) {
    const names = JSON.parse(form.dataset.seatTypes || "{}");
    const wanted = typed.toLowerCase();
    const found = Object.entries(names).find(([name, label]) => name.toLowerCase() === wanted || label.toLowerCase() === wanted);
    return found ? found[0] : typed;
  }

  function theaterBody(form) {
    const data = new FormData(form);
    const count = Number(data.get("rows"));
    const seats = Number(data.get("seats"));
    const aisles = String(data.get("aisles_after") || "").split(",").map((item) => item.trim()).filter(Boolean).map(Number);
    // Sent as typed: the service refuses a label that no row has (422 naming it).
    const rowTypes = {};
    for (const pair of String(data.get("row_types") || "").split(",")) {
      const [label, type] = pair.split("=").map((item) => (item || "").trim());
      if (label || type) rowTypes[label.toUpperCase()] = seatTypeName(form, type);
    }
    const rows = [];
    for (let index = 0; index < count; index += 1) {
      const row = { label: String.fromCharCode(65 + index), seats, seat_type: String(data.get("seat_type") || "regular") };
      if (aisles.length) row.aisles_after = aisles;
      rows.push(row);
    }
    return { name: String(data.get("name") || "").trim(), rows, row_types: rowTypes };
  }

  async function submitted(form, result, body = null) {
    if (result.ok) {
      const news = form.dataset.done || "Saved.";
      if (form.dataset.doneHref) {
        say(news, "success");
        window.location.assign(form.dataset.doneHref);
        return;
      }
      // The news is told once the panel is drawn anew, so that what it says is what is shown
      // and a form filled after it is not replaced under the person's hands.
      await load();
      say(news, "success");
      messages.focus(); // keyboard users go on from the news
    } else if (result.status === 401 || result.status === 403) {
      await load();
    } else {
      say(describe(result, form.tagName === "FORM" ? form : null, body), "error");
      messages.focus();
    }
  }

  /** A poster file sent as multipart (no JSON): the answer, in the shape `api` gives. */
  async function sendPoster(path, file) {
    const data = new FormData();
    data.append("file", file);
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { Accept: "application/json", Authorization: `Bearer ${token()}` },
        body: data,
      });
      const answer = await response.json().catch(() => null);
      return { ok: response.ok, status: response.status, error: answer && answer.error };
    } catch {
      return { ok: false, status: 0, error: { message: "The service cannot be reached; check your connection." } };
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
    for (const form of panel.querySelectorAll("form[data-api], form[data-theater-form], form[data-upload]")) {
      form.noValidate = true; // checked() says what is wrong in the banner, by the field's name
    }
    for (const form of panel.querySelectorAll("form[data-api]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (!checked(form)) return;
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        say("Saving…");
        const body = bodyOf(form);
        let result = await api(form.dataset.api, { method: form.dataset.method || "POST", body });
        const poster = form.querySelector('input[type="file"][data-poster]');
        if (result.ok && poster && poster.files.length) {
          result = await sendPoster(poster.dataset.poster, poster.files[0]);
        }
        button.disabled = false;
        await submitted(form, result, body);
      });
    }
    for (const form of panel.querySelectorAll("form[data-theater-form]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (!checked(form)) return;
        say("Saving…");
        const body = theaterBody(form);
        const result = await api("/api/v1/theaters", { method: "POST", body });
        await submitted(form, result, body);
      });
    }
    for (const form of panel.querySelectorAll("form[data-upload]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (!checked(form)) return;
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        const file = form.querySelector('input[type="file"]').files[0];
        const result = await sendPoster(form.dataset.upload, file);
        button.disabled = false;
        await submitted(form, result);
      });
    }
    for (const button of panel.querySelectorAll("button[data-api-action]")) {
      button.addEventListener("click", async () => {
        if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
        button.disabled = true;
        const result = await api(button.dataset.apiAction, { method: button.dataset.method || "POST" });
        button.disabled = false;
        await submitted(button, result);
      });
    }
    for (const button of panel.querySelectorAll("button[data-print]")) {
      button.addEventListener("click", () => window.print());
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
