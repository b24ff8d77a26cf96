// /scan: the usher's page at the door. A phone in one hand: the camera reads a ticket's QR code
// (BarcodeDetector where the browser has it, else the vendored zxing-wasm), the answer fills
// the screen green or red with the reason and the seats.
//
// Online, every scan goes to POST /api/v1/checkins, which admits each seat exactly once.
// Offline, the page answers from its last download, kept in localStorage: the public keys
// (signatures are checked with WebCrypto's Ed25519, so a forged code is refused with no network)
// and the showtime's ticket list. Offline admissions are queued and uploaded with
// POST /api/v1/checkins/batch when the network is back; every conflict the server finds (a seat
// admitted on another device first) is listed with that device and time.
import { api, cinemaTimeZone, formatDateTime, session } from "./app.js";

const root = document.querySelector("[data-scan]");
const STORE = "scan.";
const SAME_CODE_QUIET_MS = 5000; // a ticket held in view is answered once, not again and again
const ANSWER_MS = 4000;
const FRAME_MS = 150;
const REFRESH_MS = 30000; // a fallback: the WebSocket tells of changes at once

const store = {
  get(name, fallback) {
    try {
      const raw = localStorage.getItem(STORE + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(name, value) {
    localStorage.setItem(STORE + name, JSON.stringify(value));
  },
};

const REASONS = {
  ticket_unknown: "Unknown ticket",
  ticket_forged: "Forged or altered code",
  already_admitted: "Already admitted",
  reservation_cancelled: "Cancelled ticket",
  wrong_showtime: "Ticket for another showtime",
  checkin_not_open: "Check-in is not open yet",
  showtime_ended: "This showtime has ended",
  seats_not_on_ticket: "Seats not on this ticket",
  nonce_reused: "Scan again",
  not_verifiable: "Cannot check this code offline",
};

function field(name) {
  return root.querySelector(`[data-${name}]`);
}

function say(text, kind = "info") {
  const messages = field("messages");
  messages.dataset.kind = kind;
  messages.textContent = text;
  messages.hidden = !text;
}

/** "19:42" in the cinema's time zone: at the door, the day goes without saying. */
function clock(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: cinemaTimeZone() }).format(date);
  } catch {
    return formatDateTime(iso);
  }
}

function newNonce() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function fromBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(base64);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

// ---- what the page keeps: keys, the ticket list, the queue ----------------------------------

const state = {
  showtimeId: null,
  door: null, // the showtime's ticket list, as GET /showtimes/{id}/tickets answered it (kept up to date locally)
  keys: [],
  verifiers: new Map(), // kid -> CryptoKey
  queue: [],
  conflicts: [],
  device: "",
};

function doorKey() {
  return `door.${state.showtimeId}`;
}

function saveDoor() {
  store.set(doorKey(), state.door);
}

function ticketOf(ticketCode) {
  if (!state.door) return null;
  const wanted = ticketCode.trim().toUpperCase();
  return state.door.tickets.find((ticket) => ticket.ticket_code.toUpperCase() === wanted) || null;
}

function seatLabels(ticket, seatIds) {
  return seatIds.map((id) => ticket.seat_labels[ticket.seat_ids.indexOf(id)]).filter(Boolean);
}

function markAdmitted(ticket, seatIds, admission) {
  for (const id of seatIds) if (!ticket.admitted_seat_ids.includes(id)) ticket.admitted_seat_ids.push(id);
  ticket.last_admission = admission;
  saveDoor();
  showCounter();
}

function showCounter() {
  if (!state.door) return;
  const admitted = state.door.tickets
    .filter((ticket) => ticket.status === "confirmed")
    .reduce((sum, ticket) => sum + ticket.admitted_seat_ids.length, 0);
  field("admitted").textContent = String(admitted);
  field("sold").textContent = String(state.door.sold_seats);
}

function showNetwork() {
  const online = navigator.onLine;
  const waiting = state.queue.length;
  field("network").textContent = online
    ? waiting
      ? `Online · uploading ${waiting} offline scan${waiting === 1 ? "" : "s"}`
      : "Online"
    : `Offline · answers from the list of ${state.door ? new Date(state.door.downloaded_at).toLocaleTimeString() : "—"}`;
  field("network").dataset.online = String(online);
}

function showQueue() {
  const waiting = state.queue.length;
  field("queue").textContent = waiting
    ? `${waiting} scan${waiting === 1 ? "" : "s"} waiting to be uploaded.`
    : "None waiting.";
  const list = field("conflicts");
  list.replaceChildren(
    ...state.conflicts.map((conflict) => {
      const item = document.createElement("li");
      item.className = "scan-conflict";
      item.textContent = conflict.text;
      return item;
    }),
  );
  showNetwork();
}

// ---- signatures, checked on the phone ----------------------------------------------------

async function loadVerifiers() {
  state.verifiers = new Map();
  for (const key of state.keys) {
    try {
      const imported = await crypto.subtle.importKey("raw", fromBase64Url(key.public_key), { name: "Ed25519" }, false, [
        "verify",
      ]);
      state.verifiers.set(key.kid, imported);
    } catch {
      // A browser without Ed25519 in WebCrypto: codes are then checked by the server only.
    }
  }
}

/** {ticketCode} for a code that verifies (or a bare ticket code), {forged: reason} otherwise,
 * {unverifiable: true} when this browser cannot check it. Mirrors reservations/checkin/codes.py. */
async function verify(code) {
  const text = code.trim();
  if (!text.includes(".")) return { ticketCode: text.toUpperCase(), bare: true };
  const cut = text.lastIndexOf(".");
  const signed = text.slice(0, cut);
  const signature = text.slice(cut + 1);
  const dot = signed.indexOf(".");
  const kid = signed.slice(0, dot);
  const ticketCode = signed.slice(dot + 1);
  if (dot < 1 || !ticketCode || signature.length !== 86 || !/^[A-Za-z0-9_-]+$/.test(signature + kid)) {
    return { forged: "malformed" };
  }
  if (!state.keys.some((key) => key.kid === kid)) return { forged: "unknown_key" };
  const verifier = state.verifiers.get(kid);
  if (!verifier) return { ticketCode, unverifiable: true };
  let raw;
  try {
    raw = fromBase64Url(signature);
  } catch {
    return { forged: "bad_signature" };
  }
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, verifier, raw, new TextEncoder().encode(signed));
  return ok ? { ticketCode } : { forged: "bad_signature" };
}

// ---- the answer on the screen ------------------------------------------------------------

let answerTimer = null;

function showAnswer(ok, title, seats, reason) {
  const answer = field("answer");
  answer.dataset.ok = String(ok);
  field("answer-title").textContent = title;
  field("answer-seats").textContent = seats.length ? `Seats ${seats.join(", ")}` : "";
  field("answer-reason").textContent = reason || "";
  answer.hidden = false;
  answer.focus({ preventScroll: true });
  if (navigator.vibrate) navigator.vibrate(ok ? 80 : [60, 60, 60]);
  clearTimeout(answerTimer);
  answerTimer = setTimeout(hideAnswer, ANSWER_MS);
}

function hideAnswer() {
  clearTimeout(answerTimer);
  field("answer").hidden = true;
}

function refusalText(error, ticket) {
  const details = error.details || {};
  switch (error.code) {
    case "already_admitted": {
      const seats = ticket ? seatLabels(ticket, details.seat_ids || []) : [];
      const where = details.device ? ` on ${details.device}` : "";
      return `${seats.length ? `Seats ${seats.join(", ")} ` : ""}admitted ${details.admitted_at ? clock(details.admitted_at) : ""}${where}`.trim();
    }
    case "checkin_not_open":
      return details.opens_at ? `Opens ${clock(details.opens_at)}` : "";
    case "wrong_showtime":
      return details.start_time ? `That ticket is for ${clock(details.start_time)}` : "";
    case "ticket_forged":
      return details.reason ? `(${details.reason.replace("_", " ")})` : "";
    default:
      return error.message || "";
  }
}

// ---- one scan ----------------------------------------------------------------------------

let busy = false;

async function handle(code) {
  if (busy || !state.showtimeId) return;
  busy = true;
  try {
    await answer(code);
  } finally {
    busy = false;
  }
}

async function answer(code) {
  const verdict = await verify(code);
  if (verdict.forged) {
    showAnswer(false, REASONS.ticket_forged, [], refusalText({ code: "ticket_forged", details: { reason: verdict.forged } }));
    return;
  }
  const ticket = ticketOf(verdict.ticketCode);
  if (navigator.onLine) {
    const result = await api("/api/v1/checkins", {
      method: "POST",
      body: { code: code.trim(), nonce: newNonce(), showtime_id: state.showtimeId, device: state.device },
    });
    if (result.ok) {
      const checkin = result.data;
      if (ticket) markAdmitted(ticket, checkin.seat_ids, { admitted_at: checkin.admitted_at, device: checkin.device });
      showAnswer(true, "Admitted", checkin.seat_labels, "");
      return;
    }
    if (result.status !== 0) {
      if (result.error.code === "already_admitted" && ticket) {
        markAdmitted(ticket, result.error.details.seat_ids || [], result.error.details);
      }
      showAnswer(false, REASONS[result.error.code] || "Refused", [], refusalText(result.error, ticket));
      return;
    }
    // No answer: the network is gone although the browser thinks not; answer offline.
  }
  answerOffline(code, verdict, ticket);
}

function answerOffline(code, verdict, ticket) {
  const now = new Date();
  const refuse = (reason, text = "") => showAnswer(false, REASONS[reason], [], text);
  if (verdict.unverifiable) return refuse("not_verifiable", "Type the ticket code in when back online.");
  if (!state.door) return refuse("not_verifiable", "No ticket list downloaded for this showtime.");
  if (!ticket) return refuse("ticket_unknown", "Not a ticket of this showtime.");
  if (ticket.status !== "confirmed" || state.door.cancelled) return refuse("reservation_cancelled");
  if (now < new Date(state.door.opens_at)) return refuse("checkin_not_open", `Opens ${clock(state.door.opens_at)}`);
  if (now >= new Date(state.door.end_time)) return refuse("showtime_ended");
  const remaining = ticket.seat_ids.filter((id) => !ticket.admitted_seat_ids.includes(id));
  if (!remaining.length) {
    const last = ticket.last_admission || {};
    const text = last.admitted_at ? `admitted ${clock(last.admitted_at)}${last.device ? ` on ${last.device}` : ""}` : "";
    return refuse("already_admitted", text);
  }
  const scannedAt = now.toISOString();
  state.queue.push({
    code: code.trim(),
    nonce: newNonce(),
    scanned_at: scannedAt,
    showtime_id: state.showtimeId,
    device: state.device,
    ticket_code: ticket.ticket_code,
  });
  store.set("queue", state.queue);
  markAdmitted(ticket, remaining, { admitted_at: scannedAt, device: state.device });
  showQueue();
  showAnswer(true, "Admitted (offline)", seatLabels(ticket, remaining), "Will be confirmed when back online.");
}

// ---- uploading offline scans -------------------------------------------------------------

let uploading = false;

async function upload() {
  if (uploading || !state.queue.length || !navigator.onLine) return;
  uploading = true;
  try {
    const sent = state.queue.slice(0, 500);
    const scans = sent.map(({ ticket_code: _ticket, ...scan }) => scan);
    const result = await api("/api/v1/checkins/batch", { method: "POST", body: { scans } });
    if (!result.ok) return; // kept; tried again later
    result.data.results.forEach((outcome, index) => {
      if (outcome.status === "conflict" || outcome.status === "refused") {
        const scan = sent[index];
        const ticket = ticketOf(scan.ticket_code);
        const reason = REASONS[outcome.error.code] || outcome.error.message;
        state.conflicts.unshift({
          nonce: scan.nonce,
          text: `${scan.ticket_code}, scanned ${clock(scan.scanned_at)} here: ${reason}. ${refusalText(outcome.error, ticket)}`.trim(),
        });
      }
    });
    const done = new Set(sent.map((scan) => scan.nonce));
    state.queue = state.queue.filter((scan) => !done.has(scan.nonce));
    store.set("queue", state.queue);
    store.set("conflicts", state.conflicts.slice(0, 100));
    await download(); // the server's view replaces the local one
  } finally {
    uploading = false;
    showQueue();
  }
}

// ---- downloads: keys, showtimes, the ticket list -----------------------------------------

async function download() {
  const keys = await api("/api/v1/checkins/keys");
  if (keys.ok) {
    state.keys = keys.data.keys;
    store.set("keys", state.keys);
    await loadVerifiers();
  }
  if (!state.showtimeId) return;
  const door = await api(`/api/v1/showtimes/${state.showtimeId}/tickets`);
  if (door.ok) {
    state.door = { ...door.data, downloaded_at: new Date().toISOString() };
    // Offline admissions not uploaded yet stay admitted here.
    for (const scan of state.queue) {
      const ticket = ticketOf(scan.ticket_code);
      if (ticket) ticket.admitted_seat_ids = [...ticket.seat_ids];
    }
    saveDoor();
    showCounter();
    showNetwork();
  } else if (door.status === 401 || door.status === 403) {
    say("This account may not scan tickets: log in with an usher's or an admin's account.", "error");
  }
}

function todayInCinema() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: cinemaTimeZone(), year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

async function fillShowtimes(select) {
  const wanted = new URLSearchParams(window.location.search).get("showtime") || store.get("showtime", null);
  const listed = await api(`/api/v1/showtimes?date=${todayInCinema()}&page_size=100`, { auth: false });
  const showtimes = listed.ok ? listed.data.showtimes : store.get("showtimes", []);
  if (wanted && !showtimes.some((showtime) => showtime.id === wanted)) {
    const one = await api(`/api/v1/showtimes/${wanted}`, { auth: false });
    if (one.ok) showtimes.unshift(one.data);
  }
  if (listed.ok) store.set("showtimes", showtimes);
  select.replaceChildren(
    ...showtimes.map((showtime) => {
      const option = document.createElement("option");
      option.value = showtime.id;
      option.textContent = `${clock(showtime.start_time)} ${showtime.movie?.title || ""} · ${showtime.theater?.name || ""}`;
      return option;
    }),
  );
  if (wanted && showtimes.some((showtime) => showtime.id === wanted)) select.value = wanted;
  return select.value || null;
}

async function chooseShowtime(showtimeId) {
  state.showtimeId = showtimeId;
  store.set("showtime", showtimeId);
  state.door = store.get(doorKey(), null);
  showCounter();
  await download();
  watchLive();
  if (state.door) {
    const count = state.door.tickets.length;
    say(`Ready: ${count} ticket${count === 1 ? "" : "s"} of this showtime kept for offline use.`);
  } else {
    say("No ticket list for this showtime yet: scans need the network.", "warning");
  }
}

// ---- the live counter: the showtime's WebSocket tells of admissions on every device ----------

let liveSocket = null;
let liveRetryMs = 1000;
let refreshTimer = null;

function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    if (state.queue.length) upload();
    else download();
  }, 300);
}

function watchLive() {
  if (!state.showtimeId || !navigator.onLine) return;
  if (liveSocket) liveSocket.close();
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/ws/showtimes/${state.showtimeId}`);
  liveSocket = socket;
  socket.addEventListener("open", () => {
    liveRetryMs = 1000;
    field("counter").dataset.live = "true";
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    // An admission anywhere, or a sale (the sold count).
    const sold = message.type === "seats" && (message.changes || []).some((change) => change.status === "sold");
    if (message.type === "admissions" || sold) refreshSoon();
  });
  socket.addEventListener("close", () => {
    if (liveSocket !== socket) return;
    liveSocket = null;
    field("counter").dataset.live = "false";
    setTimeout(watchLive, liveRetryMs);
    liveRetryMs = Math.min(liveRetryMs * 2, 30000);
  });
}

// ---- the camera --------------------------------------------------------------------------

let lastCode = "";
let lastSeen = 0;

/** The BarcodeDetector's QR reader where the browser has one, else null. */
async function nativeDetector() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch {
    return null;
  }
}

/** Load the vendored decoder's WebAssembly now, while the network is there: the camera may be
 * started only once the door is offline. */
let zxingReady = null;
function loadZxing() {
  if (!zxingReady && window.ZXingWASM) {
    const wasm = root.dataset.decoderWasm;
    zxingReady = window.ZXingWASM.prepareZXingModule({
      overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasm : prefix + path) },
      fireImmediately: true,
    }).catch(() => (zxingReady = null));
  }
  return zxingReady;
}

async function decoderFor(video) {
  const detector = await nativeDetector();
  if (detector) return async () => (await detector.detect(video))[0]?.rawValue || "";
  await loadZxing();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return async () => {
    if (!video.videoWidth) return "";
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    context.drawImage(video, 0, 0);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    const results = await window.ZXingWASM.readBarcodes(image, {
      formats: ["QRCode"],
      tryHarder: true,
      maxNumberOfSymbols: 1,
    });
    return results.find((result) => result.isValid)?.text || "";
  };
}

async function startCamera(button) {
  const video = field("video");
  button.disabled = true;
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    await video.play();
  } catch (error) {
    button.disabled = false;
    field("camera-hint").textContent = `The camera cannot be used (${error.name}); type the ticket code below.`;
    return;
  }
  button.textContent = "Camera on";
  field("camera-hint").textContent = "Point the camera at the ticket's QR code.";
  const decode = await decoderFor(video);
  const frame = async () => {
    try {
      const code = field("answer").hidden && !busy ? await decode() : "";
      const now = Date.now();
      if (code && (code !== lastCode || now - lastSeen > SAME_CODE_QUIET_MS)) {
        lastCode = code;
        lastSeen = now;
        await handle(code);
      } else if (code) {
        lastSeen = now;
      }
    } catch {
      // a frame that cannot be read: the next one may
    }
    setTimeout(frame, FRAME_MS);
  };
  frame();
}

// ---- the page itself, for offline use -------------------------------------------------------

/** Keep this page and every file it uses in the cache that its service worker (/scan-sw.js)
 * answers from when the network is gone, so that a reload at the door still works. */
async function keepForOffline() {
  if (!("serviceWorker" in navigator) || !window.caches) return;
  try {
    await navigator.serviceWorker.register("/scan-sw.js", { scope: "/scan" });
    const files = [
      "/scan",
      ...[...document.querySelectorAll("script[src], link[rel='stylesheet'], link[rel='icon']")].map(
        (element) => element.getAttribute("src") || element.getAttribute("href"),
      ),
      root.dataset.decoderWasm,
      new URL("./app.js", import.meta.url).pathname, // as this module imports it
    ];
    const cache = await caches.open("scan-page");
    await cache.addAll(files.filter(Boolean));
    root.dataset.offlineReady = "true";
  } catch (error) {
    root.dataset.offlineReady = "false"; // scanning still works while the page stays open
    console.warn("/scan cannot be kept for offline use:", error);
  }
}

// ---- start -------------------------------------------------------------------------------

async function start() {
  if (!session()) {
    say("You are not logged in.", "error");
    field("login-hint").hidden = false;
    return;
  }
  nativeDetector().then((detector) => detector || loadZxing());
  keepForOffline();
  state.keys = store.get("keys", []);
  state.queue = store.get("queue", []);
  state.conflicts = store.get("conflicts", []);
  state.device = store.get("device", "") || `door-${Math.random().toString(36).slice(2, 6)}`;
  store.set("device", state.device);
  await loadVerifiers();

  const deviceInput = field("device");
  deviceInput.value = state.device;
  deviceInput.addEventListener("change", () => {
    state.device = deviceInput.value.trim().slice(0, 100) || state.device;
    store.set("device", state.device);
  });

  const select = field("showtime");
  const showtimeId = await fillShowtimes(select);
  select.addEventListener("change", () => chooseShowtime(select.value));
  field("scan-body").hidden = false;
  if (!showtimeId) {
    say("No showtime today.", "warning");
    return;
  }
  await chooseShowtime(showtimeId);
  showQueue();

  field("manual").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.target.elements.code;
    const code = input.value.trim();
    if (!code) return;
    await handle(code);
    input.value = "";
  });
  root.querySelector('[data-action="camera"]').addEventListener("click", (event) => startCamera(event.currentTarget));
  field("answer").addEventListener("click", hideAnswer);
  window.addEventListener("online", () => {
    showNetwork();
    upload();
    watchLive();
  });
  window.addEventListener("offline", showNetwork);
  setInterval(() => {
    if (navigator.onLine && state.queue.length) upload();
    else if (navigator.onLine && !uploading) download();
  }, REFRESH_MS);
  upload();
}

if (root) start();
