// Holding seats: a click holds or releases a seat, "Best seats" holds a group, the countdown
// runs to the hold's expiry, and refusals are said in words. A hold belongs to the person, not
// to this page: leaving the page keeps it until it expires or they release it.
import { api, formatDateTime, token } from "../app.js";
import { HOLD_EXPIRED, cents, describeBestSeats, describeDearerSeats, explainRefusal, isLastMinute } from "./words.js";

export function setUpHold(page) {
  const { ui, seats, showtimeId, maxSeats } = page;
  let ticker = null;

  // ---- the countdown ---------------------------------------------------------------------

  function tick() {
    if (page.holdExpiresAt === null) return;
    const left = page.holdExpiresAt - Date.now();
    if (left <= 0) {
      expireHold();
      return;
    }
    if (isLastMinute(left) && !page.warned && page.mySeats().length) {
      page.warned = true;
      page.say("Less than a minute left on your hold. Confirm soon or the seats go back on sale.", "warning");
    }
    page.renderCountdown();
  }

  page.startTicker = () => {
    if (ticker === null) ticker = window.setInterval(tick, 250);
  };

  page.stopTicker = () => {
    if (ticker !== null) window.clearInterval(ticker);
    ticker = null;
  };

  /** The hold's expiry as the live feed says it (the same on every page of ours). */
  page.learnExpiry = (expiresAt) => {
    const expires = Date.parse(expiresAt || "");
    if (Number.isNaN(expires)) return;
    page.holdExpiresAt = expires - page.skew;
    page.warned = false;
    page.startTicker();
  };

  /** The hold ran out on this page's clock. */
  function expireHold() {
    // Every seat of the hold, also those the live map already showed going free (the sweeper
    // may announce them before this countdown gets there).
    const had = [...page.myHold.keys()].map((id) => seats.get(id)).filter(Boolean);
    for (const seat of had) if (seat.status === "held") seat.status = "available"; // a snapshot follows
    page.forgetHold();
    page.renderAll();
    if (had.length) page.say(HOLD_EXPIRED, "error");
    page.requestSnapshot();
  }

  /** Nothing is held any more: no seats, no expiry, no countdown, no stranded-seat warning. */
  page.forgetHold = () => {
    page.myHold.clear();
    page.holdExpiresAt = null;
    page.strandedIds = [];
    page.stopTicker();
  };

  function clockSkew(response) {
    // The service's clock decides expiry; correct for a local clock that is clearly off.
    const served = Date.parse(response?.headers.get("Date") || "");
    if (Number.isNaN(served)) return page.skew;
    const measured = served - Date.now();
    page.skew = Math.abs(measured) > 3000 ? measured : 0;
    return page.skew;
  }

  /** A hold answer (lock-seats or best-available): locked_seat_ids is every seat now in our
   * hold, not only those just added. */
  function applyHold(hold, response) {
    const now = Date.now();
    const held = new Set(hold.locked_seat_ids || []);
    for (const id of [...page.myHold.keys()]) if (!held.has(id)) page.myHold.delete(id);
    for (const id of held) {
      const seat = seats.get(id);
      if (!seat) continue;
      seat.status = "held";
      if (!page.myHold.has(id)) page.myHold.set(id, now);
    }
    const expires = Date.parse(hold.expires_at);
    page.holdExpiresAt = Number.isNaN(expires) ? null : expires - clockSkew(response);
    page.warned = false;
    page.strandedIds = Array.isArray(hold.stranded_seat_ids) ? hold.stranded_seat_ids : [];
    ui.booked.hidden = true;
    page.startTicker();
    page.renderAll();
  }

  // ---- refusals --------------------------------------------------------------------------

  function needLogin(text) {
    ui.loginHint.hidden = false;
    page.say(text, "error");
  }

  function labelsOf(ids) {
    return (ids || []).map((id) => seats.get(id)).filter(Boolean).map(page.describeSeat).join("; ");
  }

  page.explain = (result, what) => explainRefusal(result, what, { maxSeats, labelsOf, formatDate: formatDateTime });

  /** Say why `what` failed, and put the map right where the refusal shows it was wrong. */
  page.fail = (result, what) => {
    if (result.status === 401) {
      needLogin("Your session has ended. Log in again to pick seats.");
      return;
    }
    const details = (result.error && result.error.details) || {};
    if (result.status === 409 && details.unavailable_seat_ids) {
      for (const id of details.unavailable_seat_ids) {
        const seat = seats.get(id);
        if (seat && seat.status === "available") seat.status = "held";
      }
      page.renderAll();
      page.requestSnapshot();
    }
    if (result.status === 409 && ["hold_expired", "seats_not_held"].includes(result.error.code)) {
      page.myHold.clear();
      page.holdExpiresAt = null;
      page.stopTicker();
      page.renderAll();
      page.requestSnapshot();
    }
    page.say(page.explain(result, what), "error", details.unavailable_seat_ids || []);
  };

  page.signedIn = () => {
    if (token()) return true;
    needLogin("Log in to pick seats. Your choice is kept only while you are on this page.");
    return false;
  };

  // ---- holding and releasing -------------------------------------------------------------

  async function hold(seat) {
    seat.pending = true;
    page.renderSeat(seat);
    const result = await api(`/api/v1/showtimes/${showtimeId}/lock-seats`, {
      method: "POST",
      body: { seat_ids: [seat.id] },
    });
    seat.pending = false;
    if (result.ok) {
      applyHold(result.data, result.response);
      page.say(`${page.describeSeat(seat)} is held for you.`, "success");
    } else {
      page.renderSeat(seat);
      page.fail(result, "hold that seat");
    }
  }

  async function release(ids) {
    for (const id of ids) {
      seats.get(id).pending = true;
      page.renderSeat(seats.get(id));
    }
    const result = await api(`/api/v1/showtimes/${showtimeId}/lock-seats`, {
      method: "DELETE",
      body: { seat_ids: ids },
    });
    for (const id of ids) seats.get(id).pending = false;
    if (result.ok) {
      for (const id of ids) {
        page.myHold.delete(id);
        seats.get(id).status = "available";
      }
      page.strandedIds = [];
      if (page.myHold.size === 0) {
        page.holdExpiresAt = null;
        page.stopTicker();
      }
      page.renderAll();
      page.say(ids.length === 1 ? `${page.describeSeat(seats.get(ids[0]))} is released.` : "Your seats are released.");
      refreshStranded();
    } else {
      page.renderAll();
      page.fail(result, "release the seats");
    }
  }

  /** Ask again whether what is left of our hold strands a single seat (after a release). */
  async function refreshStranded() {
    const ids = page.mySeats().map((seat) => seat.id);
    if (!page.strandedCheck || !ids.length) return;
    const query = ids.map((id) => `seat_ids=${encodeURIComponent(id)}`).join("&");
    const result = await api(`/api/v1/showtimes/${showtimeId}/stranded-seats?${query}`);
    if (result.ok) {
      page.strandedIds = result.data.stranded_seat_ids || [];
      page.renderSelection();
    }
  }

  /** What words.js needs to know of a seat: its label, row, place in the row (aisles
   * counted), type and price. */
  function facts(seat) {
    const { label, row, type, price } = seat.button.dataset;
    return { label, row, type, price, column: [...seat.button.parentElement.children].indexOf(seat.button) };
  }

  async function bestSeats(form) {
    if (!page.signedIn()) return;
    const data = new FormData(form);
    const count = Number(data.get("count"));
    if (!Number.isInteger(count) || count < 1 || count > maxSeats) {
      page.say(`Choose between 1 and ${maxSeats} seats.`, "error");
      return;
    }
    const body = { count };
    if (data.get("seat_type")) body.seat_type = String(data.get("seat_type"));
    if (data.get("accessible")) body.accessible = true;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const before = page.mySeats();
    const result = await api(`/api/v1/showtimes/${showtimeId}/best-available`, { method: "POST", body });
    button.disabled = false;
    if (result.ok) {
      const held = new Set(before.map((seat) => seat.id));
      applyHold(result.data, result.response);
      const added = (result.data.locked_seat_ids || []).filter((id) => !held.has(id)).map((id) => seats.get(id)).filter(Boolean);
      // "Any" type may pick dearer seats (premium, VIP): say so, and by how much.
      const cheapest = Math.min(...[...seats.values()].map((seat) => cents(seat.button.dataset.price)));
      const dearer = body.seat_type ? "" : describeDearerSeats(added.map(facts), cheapest, page.currency);
      page.say(`${describeBestSeats(added.map(facts), before.map(facts))}${dearer}`, "success");
    } else {
      page.fail(result, "find seats");
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  page.hall.addEventListener("click", (event) => {
    const button = event.target.closest("button.seat[data-seat-id]");
    if (!button) return;
    const seat = seats.get(button.dataset.seatId);
    if (!seat || seat.pending) return;
    if (page.closed) {
      page.say(page.started ? "This showtime has started; its seats can no longer be booked."
        : "This showtime was cancelled; its seats can no longer be booked.", "error");
      return;
    }
    if (page.isMine(seat)) {
      release([seat.id]);
      return;
    }
    if (page.isBookedByMe(seat)) {
      page.say(`${page.describeSeat(seat)} is already yours: it is in your reservations.`, "info", [seat.id]);
      return;
    }
    if (seat.status === "sold") {
      page.say(`${page.describeSeat(seat)} is already sold. Please pick another seat.`, "error", [seat.id]);
      return;
    }
    if (seat.status === "held") {
      page.say(`${page.describeSeat(seat)} is held by someone else right now. Please pick another seat.`, "error", [seat.id]);
      return;
    }
    if (!page.signedIn()) return;
    if (page.mySeats().length >= maxSeats) {
      page.say(`You can hold at most ${maxSeats} seats for one showtime.`, "error");
      return;
    }
    hold(seat);
  });

  ui.release.addEventListener("click", () => {
    const ids = page.mySeats().map((seat) => seat.id);
    if (ids.length) release(ids);
  });
  if (ui.bestSeats) {
    ui.bestSeats.addEventListener("submit", (event) => {
      event.preventDefault();
      bestSeats(ui.bestSeats);
    });
  }
}
