// The live map: the WebSocket of GET /ws/showtimes/{id} (messages as /work/shared/API.md and
// docs/architecture.md describe them), reconnecting with back-off, and while it is down the
// REST seat map fetched conditionally. What each message means for the page is feed.js's.
import { api, token } from "../app.js";
import { backOff, readChanges, readSnapshot } from "./feed.js";
import { HOLD_EXPIRED } from "./words.js";

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 15_000;
const POLL_MS = 3000; // while the live connection is down, the map is fetched this often

export function setUpLive(page) {
  const { ui, seats, showtimeId } = page;
  let socket = null;
  let retryDelay = RETRY_FIRST_MS;
  let retryTimer = null;
  let useToken = true;
  let connectAttempt = 0; // the latest connect() call; an older one waiting for its ticket gives up
  let pollTimer = null;
  let mapEtag = null; // the ETag of the last seat map fetched: unchanged, it costs a bodyless 304

  const known = (id) => seats.has(id);
  const socketLive = () => socket !== null && socket.readyState === WebSocket.OPEN;

  page.requestSnapshot = () => {
    if (socket && socket.readyState === WebSocket.OPEN) {
      page.snapshotAskedAt = Date.now();
      socket.send(JSON.stringify({ type: "resync" }));
    }
  };

  /** No seat of ours is left (freed, sold, or never there): no expiry, no countdown. */
  function stopCountdownIfNothingHeld() {
    if (page.myHold.size > 0) return;
    page.holdExpiresAt = null;
    page.stopTicker();
  }

  function applySnapshot(message) {
    const read = readSnapshot(message, {
      known,
      statusOf: (id) => seats.get(id)?.status,
      myHold: page.myHold,
      snapshotAskedAt: page.snapshotAskedAt,
      holdExpiresAt: page.holdExpiresAt,
      skew: page.skew,
      now: Date.now(),
    });
    page.version = read.version;
    for (const [id, status] of read.statuses) seats.get(id).status = status;
    page.myHold = read.myHold;
    if (read.expiresAt !== undefined) page.learnExpiry(read.expiresAt);
    stopCountdownIfNothingHeld();
    page.renderAll();
    // The service freed our seats at their expiry before this page's own countdown got there
    // (the sweeper and the live map are that quick): the same words as the countdown's.
    if (read.expired) page.say(HOLD_EXPIRED, "error");
  }

  function applyChanges(message) {
    const read = readChanges(message, {
      version: page.version,
      known,
      myHold: page.myHold,
      now: Date.now(),
      holdExpiresAt: page.holdExpiresAt,
    });
    if (read === null) return;
    page.version = read.version;
    for (const [id, status] of read.statuses) seats.get(id).status = status;
    page.myHold = read.myHold;
    if (read.mine) page.learnExpiry(read.expiresAt);
    stopCountdownIfNothingHeld();
    page.renderAll();
    // The sweeper announced our seats free at their expiry before this page's own countdown
    // got there (the countdown then finds no seats, and says nothing): say it here.
    if (read.expired) page.say(HOLD_EXPIRED, "error");
    if (read.suspicious) page.requestSnapshot();
  }

  /** The cinema cancelled the showtime (the live feed said so): say it plainly, release nothing
   * more (the service has freed every hold and cancelled every booking), and close the hall. */
  function showtimeCancelled() {
    page.closed = true;
    page.forgetHold();
    if (ui.cancelled) ui.cancelled.hidden = false;
    if (ui.bestSeats) ui.bestSeats.hidden = true;
    if (ui.bookedNote) ui.bookedNote.remove();
    ui.bookedNote = null;
    page.hall.setAttribute("aria-disabled", "true");
    page.renderAll();
    page.say("");
    page.setConnection("offline", "This showtime was cancelled.");
  }

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "snapshot") {
      stopPolling();
      retryDelay = RETRY_FIRST_MS;
      page.setConnection("live", "Live: other people's choices appear as they happen.");
      applySnapshot(message);
    } else if (message.type === "seats") {
      applyChanges(message);
    } else if (message.type === "cancelled") {
      showtimeCancelled();
    }
  }

  page.connect = async () => {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    const attempt = ++connectAttempt;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    page.setConnection("connecting", "Connecting to live updates…");
    // A one-minute ticket for this showtime's socket, never the access token: URLs get logged.
    let query = "";
    if (useToken && token()) {
      const issued = await api("/api/v1/ws-tickets", { method: "POST", body: { showtime_id: showtimeId } });
      if (attempt !== connectAttempt || page.leaving) return; // another connect() took over
      if (issued.ok) {
        query = `?ticket=${encodeURIComponent(issued.data.ticket)}`;
      } else if (token()) {
        scheduleReconnect(); // not a refused session (that logs out): watching anonymously would lose our marks
        return;
      }
    }
    page.snapshotAskedAt = Date.now();
    const current = new WebSocket(`${scheme}://${window.location.host}/ws/showtimes/${showtimeId}${query}`);
    socket = current;
    current.addEventListener("message", (event) => {
      if (socket === current) onMessage(event);
    });
    current.addEventListener("close", (event) => {
      if (socket !== current || page.leaving) return;
      socket = null;
      if (event.code === 4404) {
        if (!page.closed) page.setConnection("offline", "This showtime is no longer on sale.");
        return;
      }
      if (event.code >= 4400 && event.code < 4500 && useToken) useToken = false; // a refused token: watch anonymously
      scheduleReconnect();
    });
  };

  // ---- the polling fallback: while the socket is down, the REST map, conditionally ---------

  function startPolling() {
    if (pollTimer === null && !page.leaving) pollTimer = window.setTimeout(poll, POLL_MS);
  }

  function stopPolling() {
    window.clearTimeout(pollTimer);
    pollTimer = null;
  }

  async function poll() {
    pollTimer = null;
    if (socketLive() || page.leaving) return;
    const asked = Date.now();
    const result = await api(`/api/v1/showtimes/${showtimeId}/seats`, {
      headers: mapEtag ? { "If-None-Match": mapEtag } : {},
    });
    if (result.ok && result.data && !socketLive()) {
      mapEtag = result.response.headers.get("ETag");
      page.snapshotAskedAt = asked;
      applySnapshot(result.data); // the same fields as a snapshot: version, seats, held_by_me
    }
    if (!socketLive()) startPolling(); // a 304 changes nothing
  }

  function scheduleReconnect() {
    startPolling();
    const { wait, next } = backOff(retryDelay, RETRY_MAX_MS, Math.random);
    retryDelay = next;
    page.setConnection("offline", `Live updates lost; reconnecting in ${Math.max(1, Math.round(wait / 1000))} s…`);
    retryTimer = window.setTimeout(page.connect, wait);
  }

  // A hold belongs to the person, not to this tab: leaving the page keeps it until it expires or
  // they release it, and every open page of theirs shows it (the live feed marks their seats).
  window.addEventListener("pagehide", () => {
    page.leaving = true;
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return; // back from the back-forward cache: catch up
    page.leaving = false;
    page.renderAll();
    if (!socket) page.connect();
    else page.requestSnapshot();
  });
  window.addEventListener("online", () => {
    if (!socket) page.connect();
  });
}
