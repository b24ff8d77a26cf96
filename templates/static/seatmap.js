// The live seat map of /showtimes/{id}.
//
// The server renders the hall (every seat a <button> with its status); this module keeps it live
// over the WebSocket, holds and releases seats through the REST API as they are clicked, counts
// the hold down, books on "Confirm", and releases the hold when the page is left.
//
// Which seats are "mine" is the set `myHold`: filled by hold answers and by snapshots (held_by_me),
// emptied by releases, bookings and expiry. A seat shows as mine when it is held AND in that set,
// so a late WebSocket message can never paint another person's hold as mine.
//
// Ticket types: the held seats are sold as the types the stepper counts ("2 adults, 1 child"),
// assigned to the seats in their order (the default type first); each seat's price comes from
// GET /showtimes/{id}/prices, the voucher's discount from POST /vouchers/check, and the total
// shown is sent as expected_total, so the total shown is the total charged (or 409
// price_changed, and the page shows the new prices).
import { api, formatDateTime, session, token } from "./app.js";

const root = document.querySelector("[data-seatmap]");

const WARN_BEFORE_MS = 60_000;

const EXPIRY_SLACK_MS = 2000; // a hold the service freed this close to its expiry expired
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 15_000;
const POLL_MS = 3000; // while the live connection is down, the map is fetched this often
const STATUS_WORDS = {
  available: "available",
  held: "held by someone else",
  mine: "held by you",
  sold: "sold",
  yours: "booked by you",
};
const MY_BOOKINGS_PAGES = 5; // of 100 reservations: more than anyone has for one showtime

if (root) startSeatMap(root);

function startSeatMap(root) {
  const showtimeId = root.dataset.showtimeId;
  const started = root.dataset.started === "true";
  let closed = started; // started, or cancelled while the page is open: nothing can be booked
  const maxSeats = Number(root.dataset.maxSeats) || 10;
  const strandedCheck = root.dataset.strandedCheck === "true";
  const currency = root.dataset.currency || "";
  const hall = root.querySelector(".hall");
  const ui = {
    connection: root.querySelector("[data-connection]"),
    messages: root.querySelector("[data-messages]"),
    loginHint: root.querySelector("[data-login-hint]"),
    selectionEmpty: root.querySelector("[data-selection-empty]"),
    selectionList: root.querySelector("[data-selection-list]"),
    selectionTotal: root.querySelector("[data-selection-total]"),
    countdown: root.querySelector("[data-countdown]"),
    stranded: root.querySelector("[data-stranded-warning]"),
    confirm: root.querySelector('[data-action="confirm"]'),
    release: root.querySelector('[data-action="release"]'),
    booked: root.querySelector("[data-booked]"),
    ticketCode: root.querySelector("[data-ticket-code]"),
    bestSeats: root.querySelector("[data-best-seats]"),
    availableCount: root.querySelector("[data-available-count]"),
    bookedNote: root.querySelector("[data-booked-note]"),
    bestSeatsMode: root.querySelector("[data-best-seats-mode]"),
    bar: root.querySelector("[data-booking-bar]"),
    barCountdown: root.querySelector("[data-bar-countdown]"),
    barConfirm: root.querySelector('[data-action="confirm-bar"]'),
    cancelled: root.querySelector("[data-cancelled-notice]"),
    tickets: root.querySelector("[data-tickets]"),
    ticketSteppers: root.querySelector("[data-ticket-steppers]"),
    ticketsSummary: root.querySelector("[data-tickets-summary]"),
    voucher: root.querySelector("[data-voucher]"),
    voucherInput: root.querySelector("[data-voucher-input]"),
    voucherStatus: root.querySelector("[data-voucher-status]"),
  };

  /** seat id -> {id, button, status, pending} */
  const seats = new Map();
  for (const button of hall.querySelectorAll("button.seat[data-seat-id]")) {
    seats.set(button.dataset.seatId, { id: button.dataset.seatId, button, status: button.dataset.status, pending: false });
  }

  const myHold = new Map(); // seat id -> when our client learnt it was ours (ms)
  const bookedByMe = new Set(); // seat ids of the signed-in person's confirmed reservations here
  let messageAbout = new Map(); // seat id -> its status when the current message spoke of it
  let messageTimer = null;
  let holdExpiresAt = null; // ms, local clock
  let skew = 0; // ms: the service's clock minus this one, when clearly off (clockSkew)
  let warned = false;
  let strandedIds = [];
  let busy = false; // a booking request is in flight
  let booking = null; // {key, body} of the booking being attempted, kept for retries
  let version = -1; // -1 until the first snapshot
  let snapshotAskedAt = 0;
  let socket = null;
  let retryDelay = RETRY_FIRST_MS;
  let retryTimer = null;
  let useToken = true;
  let connectAttempt = 0; // the latest connect() call; an older one waiting for its ticket gives up
  let leaving = false;
  let ticker = null;
  let pollTimer = null;
  let mapEtag = null; // the ETag of the last seat map fetched: unchanged, it costs a bodyless 304
  let ticketTypes = []; // the active ticket types, in their order (the default one first)
  const ticketPrices = new Map(); // "code|seat type" -> price, from /prices
  const ticketCounts = new Map(); // code -> seats of that type, for the types other than the default
  let voucher = null; // {code, discount_percent, discount_amount} once checked

  // ---- rendering -------------------------------------------------------------------------

  const isMine = (seat) => seat.status === "held" && myHold.has(seat.id);
  const isBookedByMe = (seat) => seat.status === "sold" && bookedByMe.has(seat.id);
  const priced = (amount) => (currency ? `${amount} ${currency}` : amount);

  function describeSeat(seat) {
    const data = seat.button.dataset;
    return `Row ${data.row}, seat ${data.number}`;
  }

  function renderSeat(seat) {
    const { button } = seat;
    const mine = isMine(seat);
    button.dataset.status = seat.status;
    button.dataset.mine = mine ? "true" : "false";
    button.dataset.yours = isBookedByMe(seat) ? "true" : "false";
    button.dataset.pending = seat.pending ? "true" : "false";
    button.setAttribute("aria-pressed", mine ? "true" : "false");
    if (closed || (seat.status !== "available" && !mine)) button.setAttribute("aria-disabled", "true");
    else button.removeAttribute("aria-disabled");
    const data = button.dataset;
    const words = mine ? STATUS_WORDS.mine : isBookedByMe(seat) ? STATUS_WORDS.yours : STATUS_WORDS[seat.status] || seat.status;
    button.setAttribute("aria-label", `Row ${data.row}, seat ${data.number}, ${data.type}, ${priced(data.price)}, ${words}`);
  }

  function mySeats() {
    return [...seats.values()]
      .filter(isMine)
      .sort((a, b) => a.button.dataset.label.localeCompare(b.button.dataset.label, "en", { numeric: true }));
  }

  function cents(price) {
    const [whole, fraction = "0"] = String(price).split(".");
    return Number(whole) * 100 + Number(fraction.padEnd(2, "0").slice(0, 2));
  }

  function money(totalCents) {
    return priced(`${Math.floor(totalCents / 100)}.${String(totalCents % 100).padStart(2, "0")}`);
  }

  // ---- ticket types, prices and the voucher ------------------------------------------------

  const defaultType = () => ticketTypes.find((type) => type.is_default) || ticketTypes[0];
  const plural = (type, count) => {
    const word = type.name.toLowerCase();
    if (count === 1) return `${count} ${word}`;
    return `${count} ${word === "child" ? "children" : `${word}s`}`;
  };

  /** The held seats, each with the ticket type the stepper gives it and its price. */
  function ticketsOf(mine) {
    const others = ticketTypes.filter((type) => type !== defaultType());
    // The counts never name more seats than are held: the last types give way first.
    let room = mine.length;
    for (const type of others) {
      const count = Math.min(ticketCounts.get(type.code) || 0, room);
      ticketCounts.set(type.code, count);
      room -= count;
    }
    const order = [];
    if (defaultType()) for (let n = 0; n < room; n += 1) order.push(defaultType());
    for (const type of others) for (let n = 0; n < ticketCounts.get(type.code); n += 1) order.push(type);
    return mine.map((seat, index) => {
      const type = order[index];
      const known = type && ticketPrices.get(`${type.code}|${seat.button.dataset.type}`);
      return { seat, type, price: known || seat.button.dataset.price };
    });
  }

  /** Subtotal, discount and total in cents, as the service computes them. */
  function totalsOf(tickets) {
    const subtotal = tickets.reduce((sum, ticket) => sum + cents(ticket.price), 0);
    let discount = 0;
    if (voucher && voucher.discount_percent !== null) {
      // Half up to the cent: round(subtotal x percent / 100), in whole hundredths.
      const hundredths = cents(voucher.discount_percent);
      discount = Math.floor((2 * subtotal * hundredths + 10000) / 20000);
    } else if (voucher) {
      discount = cents(voucher.discount_amount);
    }
    discount = Math.min(discount, subtotal);
    return { subtotal, discount, total: subtotal - discount };
  }

  function renderTickets(tickets) {
    if (!ui.tickets) return;
    ui.tickets.hidden = tickets.length === 0 || ticketTypes.length < 2;
    if (ui.voucher) ui.voucher.hidden = tickets.length === 0 || closed;
    if (ui.tickets.hidden) return;
    const counts = new Map();
    for (const ticket of tickets) counts.set(ticket.type.code, (counts.get(ticket.type.code) || 0) + 1);
    const defaults = counts.get(defaultType().code) || 0;
    ui.ticketSteppers.replaceChildren(
      ...ticketTypes.map((type) => {
        const count = counts.get(type.code) || 0;
        const item = document.createElement("li");
        item.className = "ticket-stepper";
        const name = document.createElement("span");
        name.className = "ticket-stepper-name";
        name.textContent = type.name;
        const value = document.createElement("output");
        value.dataset.ticketCount = type.code;
        value.textContent = String(count);
        if (type === defaultType()) {
          // The seats no other type takes: counted, not stepped; spacers keep the counts aligned.
          const spacer = () => Object.assign(document.createElement("span"), { className: "ticket-stepper-spacer" });
          item.append(name, spacer(), value, spacer());
          return item;
        }
        const less = document.createElement("button");
        less.type = "button";
        less.className = "button button--small";
        less.textContent = "−";
        less.dataset.ticketRemove = type.code;
        less.setAttribute("aria-label", `One ${type.name.toLowerCase()} ticket less`);
        less.disabled = count === 0 || busy;
        const more = document.createElement("button");
        more.type = "button";
        more.className = "button button--small";
        more.textContent = "+";
        more.dataset.ticketAdd = type.code;
        more.setAttribute("aria-label", `One ${type.name.toLowerCase()} ticket more`);
        more.disabled = defaults === 0 || busy;
        item.append(name, less, value, more);
        return item;
      }),
    );
    ui.ticketsSummary.textContent = ticketTypes
      .filter((type) => counts.get(type.code))
      .map((type) => plural(type, counts.get(type.code)))
      .join(", ");
  }

  function stepTickets(code, change) {
    const focusKey = change > 0 ? "ticketAdd" : "ticketRemove";
    ticketCounts.set(code, Math.max(0, (ticketCounts.get(code) || 0) + change));
    renderSelection();
    // Keep the keyboard where it was, or on the other button of the stepper once this one is off.
    const again = ui.ticketSteppers.querySelector(`[data-${focusKey === "ticketAdd" ? "ticket-add" : "ticket-remove"}="${code}"]`);
    const other = ui.ticketSteppers.querySelector(`[data-${focusKey === "ticketAdd" ? "ticket-remove" : "ticket-add"}="${code}"]`);
    (again && !again.disabled ? again : other)?.focus();
  }

  async function loadPrices() {
    const [types, prices] = await Promise.all([
      api("/api/v1/ticket-types", { auth: false }),
      api(`/api/v1/showtimes/${showtimeId}/prices`, { auth: false }),
    ]);
    if (types.ok) ticketTypes = types.data.ticket_types;
    if (prices.ok) {
      ticketPrices.clear();
      for (const row of prices.data.prices) ticketPrices.set(`${row.ticket_type}|${row.seat_type}`, row.price);
    }
    renderSelection();
  }

  async function applyVoucher() {
    const code = ui.voucherInput.value.trim();
    if (!code) {
      voucher = null;
      ui.voucherStatus.textContent = "";
      renderSelection();
      return;
    }
    if (!signedIn()) return;
    const result = await api("/api/v1/vouchers/check", { method: "POST", body: { code, showtime_id: showtimeId } });
    if (result.ok) {
      voucher = result.data;
      const off = voucher.discount_percent !== null ? `${Number(voucher.discount_percent)} % off` : `${priced(voucher.discount_amount)} off`;
      ui.voucherStatus.textContent = `Voucher ${voucher.code} applied: ${off}.`;
    } else {
      voucher = null;
      ui.voucherStatus.textContent = result.status === 429 ? explain(result, "check the voucher") : result.error.message;
    }
    renderSelection();
  }

  function renderSelection() {
    const mine = mySeats();
    const tickets = ticketsOf(mine);
    ui.selectionList.replaceChildren(
      ...tickets.map((ticket) => {
        const item = document.createElement("li");
        const kind = ticketTypes.length > 1 && ticket.type ? ` · ${ticket.type.name}` : "";
        item.textContent = `${ticket.seat.button.dataset.label} · ${priced(ticket.price)}${kind}`;
        return item;
      }),
    );
    renderTickets(tickets);
    ui.selectionEmpty.hidden = mine.length > 0;
    ui.selectionTotal.hidden = mine.length === 0;
    const { subtotal, discount, total } = totalsOf(tickets);
    const off = discount ? ` (${money(subtotal)} less ${money(discount)} voucher)` : "";
    ui.selectionTotal.textContent = `${mine.length} seat${mine.length === 1 ? "" : "s"}, total ${money(total)}${off}`;
    ui.selectionTotal.dataset.total = (total / 100).toFixed(2);
    ui.confirm.disabled = busy || mine.length === 0 || closed;
    ui.confirm.textContent = mine.length ? `Confirm ${mine.length} seat${mine.length === 1 ? "" : "s"} · ${money(total)}` : "Confirm booking";
    ui.release.hidden = mine.length === 0;
    if (ui.bestSeatsMode) {
      ui.bestSeatsMode.textContent = mine.length
        ? `Adds to the ${mine.length} seat${mine.length === 1 ? "" : "s"} you hold; they stay yours.`
        : "Finds the best free seats together and holds them for you.";
    }
    if (ui.bar) {
      ui.bar.hidden = mine.length === 0 || closed;
      ui.barConfirm.disabled = ui.confirm.disabled;
      ui.barConfirm.textContent = ui.confirm.textContent;
    }
    const strandedNow = strandedIds.filter((id) => seats.get(id)?.status === "available");
    ui.stranded.hidden = mine.length === 0 || strandedNow.length === 0;
    if (!ui.stranded.hidden) {
      const labels = strandedNow.map((id) => seats.get(id).button.dataset.label).join(", ");
      ui.stranded.textContent =
        `Your selection leaves a single empty seat (${labels}) that nobody is likely to book. ` +
        "Consider picking it too, or seats next to each other, before you confirm.";
    }
    if (ui.availableCount) {
      ui.availableCount.textContent = String([...seats.values()].filter((seat) => seat.status === "available").length);
    }
    renderCountdown();
  }

  function renderAll() {
    for (const seat of seats.values()) renderSeat(seat);
    renderSelection();
    forgetStaleMessage();
  }

  /** Say `text`; `about` names the seats it speaks of, so that it goes once they change. */
  function say(text, kind = "info", about = []) {
    ui.messages.dataset.kind = kind;
    messageAbout = new Map(about.filter((id) => seats.has(id)).map((id) => [id, seats.get(id).status]));
    // Emptying first makes screen readers announce a repeated message again.
    ui.messages.textContent = "";
    window.clearTimeout(messageTimer);
    if (text) messageTimer = window.setTimeout(() => { ui.messages.textContent = text; }, 30);
  }

  /** "Row C, seat 6 is held by someone else" stops being true when C6 changes: say nothing. */
  function forgetStaleMessage() {
    for (const [id, status] of messageAbout) {
      if (seats.get(id)?.status !== status) {
        say("");
        return;
      }
    }
  }

  // ---- the signed-in person's bookings of this showtime -----------------------------------

  function renderBookedNote() {
    if (!ui.bookedNote) return;
    const labels = [...seats.values()].filter(isBookedByMe).map((seat) => seat.button.dataset.label)
      .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    ui.bookedNote.hidden = labels.length === 0;
    const text = ui.bookedNote.querySelector("[data-booked-note-text]");
    text.textContent = `You already have ${labels.length} seat${labels.length === 1 ? "" : "s"} for this showtime (${labels.join(", ")}).`;
  }

  /** Seats of the person's confirmed reservations of this showtime, from their reservations. */
  async function loadMyBookings() {
    if (!session()) return;
    const found = new Set();
    for (let page = 1; page <= MY_BOOKINGS_PAGES; page += 1) {
      const result = await api(`/api/v1/reservations?include_past=true&page=${page}&page_size=100`);
      if (!result.ok) return;
      const items = result.data.reservations || [];
      for (const reservation of items) {
        if (reservation.showtime_id !== showtimeId || reservation.status !== "confirmed") continue;
        for (const seat of reservation.seats || []) found.add(seat.id);
      }
      if (items.length < 100 || page * 100 >= (result.data.total ?? 0)) break;
    }
    for (const id of found) bookedByMe.add(id);
    renderAll();
    renderBookedNote();
  }

  /** Just booked: the seats are the person's, said once (the booked panel shows the code). */
  function noteBooked(chosen) {
    for (const seat of chosen) bookedByMe.add(seat.id);
    say("");
    renderAll();
    renderBookedNote();
  }

  function setConnection(state, text) {
    ui.connection.dataset.connection = state;
    ui.connection.textContent = text;
  }

  // ---- the hold's countdown --------------------------------------------------------------

  function renderCountdown() {
    const holding = mySeats().length > 0;
    ui.countdown.hidden = !holding;
    if (!holding) {
      ui.countdown.textContent = "";
      return;
    }
    if (holdExpiresAt === null) {
      // Held before this page opened (another tab or device): the map does not say until when.
      if (ui.barCountdown) ui.barCountdown.textContent = "Held";
      ui.countdown.dataset.warning = "false";
      ui.countdown.textContent = "You were already holding these seats; they are kept for a limited time, so confirm soon.";
      return;
    }
    const left = Math.max(0, holdExpiresAt - Date.now());
    const seconds = Math.ceil(left / 1000);
    const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    // "Less than a minute" only once the clock shows less than one: 0:59, never 1:00.
    const warning = seconds < WARN_BEFORE_MS / 1000;
    ui.countdown.dataset.warning = warning ? "true" : "false";
    ui.countdown.textContent = warning
      ? `Less than a minute left: ${clock}. Confirm now or the seats go back on sale.`
      : `Your seats are held for ${clock}.`;
    if (ui.barCountdown) {
      ui.barCountdown.dataset.warning = ui.countdown.dataset.warning;
      ui.barCountdown.textContent = `Held ${clock}`;
    }
  }

  function tick() {
    if (holdExpiresAt === null) return;
    const left = holdExpiresAt - Date.now();
    if (left <= 0) {
      expireHold();
      return;
    }
    if (Math.ceil(left / 1000) < WARN_BEFORE_MS / 1000 && !warned && mySeats().length) {
      warned = true;
      say("Less than a minute left on your hold. Confirm soon or the seats go back on sale.", "warning");
    }
    renderCountdown();
  }

  function startTicker() {
    if (ticker === null) ticker = window.setInterval(tick, 250);
  }

  function stopTicker() {
    if (ticker !== null) window.clearInterval(ticker);
    ticker = null;
  }

  /** The cinema cancelled the showtime (the live feed said so): say it plainly, release nothing
   * more (the service has freed every hold and cancelled every booking), and close the hall. */
  function showtimeCancelled() {
    closed = true;
    myHold.clear();
    holdExpiresAt = null;
    strandedIds = [];
    stopTicker();
    if (ui.cancelled) ui.cancelled.hidden = false;
    if (ui.bestSeats) ui.bestSeats.hidden = true;
    if (ui.bookedNote) ui.bookedNote.remove();
    ui.bookedNote = null;
    hall.setAttribute("aria-disabled", "true");
    renderAll();
    say("");
    setConnection("offline", "This showtime was cancelled.");
  }

  function expireHold() {
    // Every seat of the hold, also those the live map already showed going free (the sweeper
    // may announce them before this countdown gets there).
    const had = [...myHold.keys()].map((id) => seats.get(id)).filter(Boolean);
    for (const seat of had) if (seat.status === "held") seat.status = "available"; // a snapshot follows
    myHold.clear();
    holdExpiresAt = null;
    strandedIds = [];
    stopTicker();
    renderAll();
    if (had.length) say("Your hold expired and the seats went back on sale. Pick them again if they are still free.", "error");
    requestSnapshot();
  }

  function clockSkew(response) {
    // The service's clock decides expiry; correct for a local clock that is clearly off.
    const served = Date.parse(response?.headers.get("Date") || "");
    if (Number.isNaN(served)) return skew;
    const measured = served - Date.now();
    skew = Math.abs(measured) > 3000 ? measured : 0;
    return skew;
  }

  function applyHold(hold, response) {
    // locked_seat_ids is every seat now in our hold, not only those just added.
    const now = Date.now();
    const held = new Set(hold.locked_seat_ids || []);
    for (const id of [...myHold.keys()]) if (!held.has(id)) myHold.delete(id);
    for (const id of held) {
      const seat = seats.get(id);
      if (!seat) continue;
      seat.status = "held";
      if (!myHold.has(id)) myHold.set(id, now);
    }
    const expires = Date.parse(hold.expires_at);
    holdExpiresAt = Number.isNaN(expires) ? null : expires - clockSkew(response);
    warned = false;
    strandedIds = Array.isArray(hold.stranded_seat_ids) ? hold.stranded_seat_ids : [];
    ui.booked.hidden = true;
    startTicker();
    renderAll();
  }

  // ---- talking to the REST API -----------------------------------------------------------

  function needLogin(text) {
    ui.loginHint.hidden = false;
    say(text, "error");
  }

  function labelsOf(ids) {
    return (ids || []).map((id) => seats.get(id)).filter(Boolean).map(describeSeat).join("; ");
  }

  function explain(result, what) {
    const error = result.error || {};
    const details = error.details || {};
    switch (result.status) {
      case 0:
        return error.message;
      case 401:
        return null; // handled by needLogin
      case 409:
        if (details.unavailable_seat_ids) {
          const names = labelsOf(details.unavailable_seat_ids);
          return `Sorry, ${names || "that seat"} was just taken by someone else. Please pick another seat.`;
        }
        if (error.code === "hold_expired" || error.code === "seats_not_held") {
          return "Your hold expired before you confirmed, so the seats went back on sale. Pick them again if they are still free.";
        }
        if (error.code === "would_strand_seat") {
          const names = labelsOf(details.stranded_seat_ids);
          return `That choice would leave a single empty seat${names ? ` (${names})` : ""} that nobody could book. ` +
            "Pick seats next to each other, or take that seat too.";
        }
        if (error.code === "too_many_showtimes_held" && (details.held_showtimes || []).length) {
          const shows = details.held_showtimes.map((show) => `${show.movie_title} (${formatDateTime(show.start_time)})`);
          return `You can hold seats of at most ${details.max_showtimes_held} showtimes at once, and you hold seats of ` +
            `${joinWords(shows)}. Book or release those first.`;
        }
        if (error.code === "not_enough_seats") {
          return "There are not enough free seats of that kind left together. Try fewer seats or another type.";
        }
        return error.message || `Could not ${what}: the seats changed meanwhile.`;
      case 422:
        if (error.code === "too_many_seats") return `You can hold at most ${maxSeats} seats for one showtime.`;
        return error.message || `Could not ${what}.`;
      case 429:
        return "Too many requests at once; wait a moment and try again.";
      case 503:
        return "The service is busy right now; try again in a moment.";
      default:
        return error.message || `Could not ${what}.`;
    }
  }

  function fail(result, what) {
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
      renderAll();
      requestSnapshot();
    }
    if (result.status === 409 && ["hold_expired", "seats_not_held"].includes(result.error.code)) {
      myHold.clear();
      holdExpiresAt = null;
      stopTicker();
      renderAll();
      requestSnapshot();
    }
    say(explain(result, what), "error", details.unavailable_seat_ids || []);
  }

  function signedIn() {
    if (token()) return true;
    needLogin("Log in to pick seats. Your choice is kept only while you are on this page.");
    return false;
  }

  async function hold(seat) {
    seat.pending = true;
    renderSeat(seat);
    const result = await api(`/api/v1/showtimes/${showtimeId}/lock-seats`, {
      method: "POST",
      body: { seat_ids: [seat.id] },
    });
    seat.pending = false;
    if (result.ok) {
      applyHold(result.data, result.response);
      say(`${describeSeat(seat)} is held for you.`, "success");
    } else {
      renderSeat(seat);
      fail(result, "hold that seat");
    }
  }

  async function release(ids) {
    for (const id of ids) {
      seats.get(id).pending = true;
      renderSeat(seats.get(id));
    }
    const result = await api(`/api/v1/showtimes/${showtimeId}/lock-seats`, {
      method: "DELETE",
      body: { seat_ids: ids },
    });
    for (const id of ids) seats.get(id).pending = false;
    if (result.ok) {
      for (const id of ids) {
        myHold.delete(id);
        seats.get(id).status = "available";
      }
      strandedIds = [];
      if (myHold.size === 0) {
        holdExpiresAt = null;
        stopTicker();
      }
      renderAll();
      say(ids.length === 1 ? `${describeSeat(seats.get(ids[0]))} is released.` : "Your seats are released.");
      refreshStranded();
    } else {
      renderAll();
      fail(result, "release the seats");
    }
  }

  /** Ask again whether what is left of our hold strands a single seat (after a release). */
  async function refreshStranded() {
    const ids = mySeats().map((seat) => seat.id);
    if (!strandedCheck || !ids.length) return;
    const query = ids.map((id) => `seat_ids=${encodeURIComponent(id)}`).join("&");
    const result = await api(`/api/v1/showtimes/${showtimeId}/stranded-seats?${query}`);
    if (result.ok) {
      strandedIds = result.data.stranded_seat_ids || [];
      renderSelection();
    }
  }

  function newIdempotencyKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  async function confirmBooking() {
    if (busy || !signedIn()) return;
    const chosen = mySeats();
    if (!chosen.length) return;
    const tickets = ticketsOf(chosen);
    const body = { showtime_id: showtimeId, seat_ids: chosen.map((seat) => seat.id).sort() };
    const named = tickets.filter((ticket) => ticket.type && ticket.type !== defaultType());
    if (named.length) body.tickets = Object.fromEntries(named.map((ticket) => [ticket.seat.id, ticket.type.code]));
    if (voucher) body.voucher_code = voucher.code;
    body.expected_total = (totalsOf(tickets).total / 100).toFixed(2);
    const bodyText = JSON.stringify(body);
    // A retry of the same booking reuses its key, so it can never book twice.
    if (!booking || booking.body !== bodyText) booking = { key: newIdempotencyKey(), body: bodyText };
    busy = true;
    renderSelection();
    say("Booking your seats…");
    const result = await api("/api/v1/reservations", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": booking.key },
    });
    busy = false;
    if (result.ok) {
      booking = null;
      for (const seat of chosen) {
        seat.status = "sold";
        myHold.delete(seat.id);
      }
      holdExpiresAt = null;
      strandedIds = [];
      stopTicker();
      renderAll();
      ui.ticketCode.textContent = result.data.ticket_code;
      ui.booked.hidden = false;
      noteBooked(chosen);
      ui.booked.querySelector("a")?.focus();
      return;
    }
    renderSelection();
    // Unreachable, busy (503) or a duplicate still running: the booking may yet happen, so the
    // retry keeps its Idempotency-Key and can never book twice.
    if (result.status === 0 || result.status === 503 || result.error?.code === "request_in_flight") {
      const why = result.status === 0 ? "the service was unreachable" : "the service was busy";
      say(`The booking could not be confirmed because ${why}. Press Confirm again: you will not be booked twice.`, "error");
      return;
    }
    booking = null;
    if (result.error?.code === "price_changed" || result.error?.code === "unknown_ticket_type") {
      await loadPrices(); // show the prices the service charges now, then let the person confirm
    }
    if (result.error?.code === "voucher_exhausted" || result.error?.code === "voucher_invalid") {
      voucher = null;
      ui.voucherStatus.textContent = result.error.message;
      renderSelection();
    }
    fail(result, "book the seats");
  }

  async function bestSeats(form) {
    if (!signedIn()) return;
    const data = new FormData(form);
    const count = Number(data.get("count"));
    if (!Number.isInteger(count) || count < 1 || count > maxSeats) {
      say(`Choose between 1 and ${maxSeats} seats.`, "error");
      return;
    }
    const body = { count };
    if (data.get("seat_type")) body.seat_type = String(data.get("seat_type"));
    if (data.get("accessible")) body.accessible = true;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const before = mySeats();
    const result = await api(`/api/v1/showtimes/${showtimeId}/best-available`, { method: "POST", body });
    button.disabled = false;
    if (result.ok) {
      const held = new Set(before.map((seat) => seat.id));
      applyHold(result.data, result.response);
      const added = (result.data.locked_seat_ids || []).filter((id) => !held.has(id)).map((id) => seats.get(id)).filter(Boolean);
      // "Any" type may pick dearer seats (premium, VIP): say so, and by how much.
      const dearer = body.seat_type ? "" : describeDearerSeats(added);
      say(`${describeBestSeats(added, before)}${dearer}`, "success");
    } else {
      fail(result, "find seats");
    }
  }

  function rowsOf(list) {
    return [...new Set(list.map((seat) => seat.button.dataset.row))];
  }

  function sideBySide(list) {
    // One row, and nothing but those seats between the first and the last of them.
    if (rowsOf(list).length !== 1) return false;
    const cells = [...list[0].button.parentElement.children];
    const places = list.map((seat) => cells.indexOf(seat.button)).sort((a, b) => a - b);
    return places.every((place, index) => index === 0 || place === places[index - 1] + 1);
  }

  function joinWords(words) {
    return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
  }

  /** What "Best seats" did: added to a hold or started one, only the new seats, and whether
   * they sit together (a group split over rows or an aisle is said so, never passed off as one). */
  function describeBestSeats(added, before) {
    const order = (a, b) => a.button.dataset.label.localeCompare(b.button.dataset.label, "en", { numeric: true });
    added.sort(order);
    const names = added.map((seat) => seat.button.dataset.label).join(", ");
    const count = `${added.length} seat${added.length === 1 ? "" : "s"}`;
    const rows = rowsOf(added);
    let where = "";
    if (added.length > 1 && rows.length > 1) where = ` They are split across rows ${joinWords(rows)}, not all together.`;
    else if (added.length > 1 && !sideBySide(added)) where = ` They are in row ${rows[0]} but not side by side.`;
    if (!before.length) return `We picked ${count} for you: ${names}. They are held for you.${where}`;
    const heldRows = rowsOf(before);
    const apart = rows.some((row) => !heldRows.includes(row))
      ? ` Your seats are now in rows ${joinWords([...new Set([...heldRows, ...rows])].sort())}.`
      : "";
    return `Added ${count} (${names}) to the ${before.length} you already held; ${before.length + added.length} held in all.${where}${apart}`;
  }

  /** " C5 and C6 are premium seats: 12.50 EUR each, 2.50 EUR more than the 10.00 EUR seats."
   * for the picked seats that cost more than the hall's cheapest; "" when none does. */
  function describeDearerSeats(added) {
    const cheapest = Math.min(...[...seats.values()].map((seat) => cents(seat.button.dataset.price)));
    const byPrice = new Map(); // "type|price" -> labels
    for (const seat of added) {
      const { type, price, label } = seat.button.dataset;
      if (cents(price) <= cheapest) continue;
      const key = `${type}|${price}`;
      byPrice.set(key, [...(byPrice.get(key) || []), label]);
    }
    return [...byPrice].map(([key, labels]) => {
      const [type, price] = key.split("|");
      const kind = type === "vip" ? "VIP" : type;
      const each = labels.length === 1 ? `${labels[0]} is a ${kind} seat: ${priced(price)}` : `${joinWords(labels)} are ${kind} seats: ${priced(price)} each`;
      return ` ${each}, ${money(cents(price) - cheapest)} more than the ${money(cheapest)} seats.`;
    }).join("");
  }

  // ---- the WebSocket ---------------------------------------------------------------------

  function requestSnapshot() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      snapshotAskedAt = Date.now();
      socket.send(JSON.stringify({ type: "resync" }));
    }
  }

  function applySnapshot(message) {
    version = message.version;
    const listed = new Set();
    const heldByMe = new Set();
    for (const entry of message.seats || []) {
      const seat = seats.get(entry.id);
      if (!seat) continue;
      listed.add(entry.id);
      seat.status = entry.status;
      if (entry.held_by_me) heldByMe.add(entry.id);
    }
    // Keep seats our own hold answers gave us after the snapshot was asked for: its change
    // message follows it. Everything else the snapshot says is the truth.
    let lost = 0;
    for (const [id, learnt] of [...myHold]) {
      if (!heldByMe.has(id) && !(learnt >= snapshotAskedAt && seats.get(id)?.status !== "sold")) {
        myHold.delete(id);
        lost += 1;
      }
    }
    for (const id of heldByMe) if (!myHold.has(id)) myHold.set(id, Date.now());
    if (heldByMe.size) learnExpiry(message.hold_expires_at);
    // The service freed our seats at their expiry before this page's own countdown got there
    // (the sweeper and the live map are that quick): the same words as the countdown's.
    const expired = lost > 0 && holdExpiresAt !== null && holdExpiresAt - Date.now() <= EXPIRY_SLACK_MS;
    if (myHold.size === 0) {
      holdExpiresAt = null;
      stopTicker();
    }
    renderAll();
    if (expired) say("Your hold expired and the seats went back on sale. Pick them again if they are still free.", "error");
  }

  function applyChanges(message) {
    if (version < 0 || message.version <= version) return; // before the snapshot, or already seen
    const gap = message.version > version + 1;
    version = message.version;
    let suspicious = gap;
    let mine = false;
    for (const change of message.changes || []) {
      const seat = seats.get(change.id);
      if (!seat) continue;
      if (change.held_by_me) {
        // Held by us on another page (another tab or device), or this page's own hold.
        if (!myHold.has(change.id)) myHold.set(change.id, Date.now());
        mine = true;
      } else if (myHold.has(change.id) && change.status !== "held") {
        suspicious = true; // one of ours went free or sold: expired, released or booked elsewhere
        myHold.delete(change.id);
      }
      seat.status = change.status;
    }
    if (mine) learnExpiry(message.hold_expires_at);
    renderAll();
    if (suspicious) requestSnapshot();
  }

  /** The hold's expiry as the live feed says it (the same on every page of ours). */
  function learnExpiry(expiresAt) {
    const expires = Date.parse(expiresAt || "");
    if (Number.isNaN(expires)) return;
    holdExpiresAt = expires - skew;
    warned = false;
    startTicker();
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
      setConnection("live", "Live: other people's choices appear as they happen.");
      applySnapshot(message);
    } else if (message.type === "seats") {
      applyChanges(message);
    } else if (message.type === "cancelled") {
      showtimeCancelled();
    }
  }

  async function connect() {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    const attempt = ++connectAttempt;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    setConnection("connecting", "Connecting to live updates…");
    // A one-minute ticket for this showtime's socket, never the access token: URLs get logged.
    let query = "";
    if (useToken && token()) {
      const issued = await api("/api/v1/ws-tickets", { method: "POST", body: { showtime_id: showtimeId } });
      if (attempt !== connectAttempt || leaving) return; // another connect() took over
      if (issued.ok) {
        query = `?ticket=${encodeURIComponent(issued.data.ticket)}`;
      } else if (token()) {
        scheduleReconnect(); // not a refused session (that logs out): watching anonymously would lose our marks
        return;
      }
    }
    snapshotAskedAt = Date.now();
    const current = new WebSocket(`${scheme}://${window.location.host}/ws/showtimes/${showtimeId}${query}`);
    socket = current;
    current.addEventListener("message", (event) => {
      if (socket === current) onMessage(event);
    });
    current.addEventListener("close", (event) => {
      if (socket !== current || leaving) return;
      socket = null;
      if (event.code === 4404) {
        if (!closed) setConnection("offline", "This showtime is no longer on sale.");
        return;
      }
      if (event.code >= 4400 && event.code < 4500 && useToken) useToken = false; // a refused token: watch anonymously
      scheduleReconnect();
    });
  }

  // ---- the polling fallback: while the socket is down, the REST map, conditionally ---------

  const socketLive = () => socket !== null && socket.readyState === WebSocket.OPEN;

  function startPolling() {
    if (pollTimer === null && !leaving) pollTimer = window.setTimeout(poll, POLL_MS);
  }

  function stopPolling() {
    window.clearTimeout(pollTimer);
    pollTimer = null;
  }

  async function poll() {
    pollTimer = null;
    if (socketLive() || leaving) return;
    const asked = Date.now();
    const result = await api(`/api/v1/showtimes/${showtimeId}/seats`, {
      headers: mapEtag ? { "If-None-Match": mapEtag } : {},
    });
    if (result.ok && result.data && !socketLive()) {
      mapEtag = result.response.headers.get("ETag");
      snapshotAskedAt = asked;
      applySnapshot(result.data); // the same fields as a snapshot: version, seats, held_by_me
    }
    if (!socketLive()) startPolling(); // a 304 changes nothing
  }

  function scheduleReconnect() {
    startPolling();
    const delay = Math.round(retryDelay * (0.75 + Math.random() * 0.5));
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
    setConnection("offline", `Live updates lost; reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`);
    retryTimer = window.setTimeout(connect, delay);
  }

  // ---- wiring ----------------------------------------------------------------------------

  hall.addEventListener("click", (event) => {
    const button = event.target.closest("button.seat[data-seat-id]");
    if (!button) return;
    const seat = seats.get(button.dataset.seatId);
    if (!seat || seat.pending) return;
    if (closed) {
      say(started ? "This showtime has started; its seats can no longer be booked."
        : "This showtime was cancelled; its seats can no longer be booked.", "error");
      return;
    }
    if (isMine(seat)) {
      release([seat.id]);
      return;
    }
    if (isBookedByMe(seat)) {
      say(`${describeSeat(seat)} is already yours: it is in your reservations.`, "info", [seat.id]);
      return;
    }
    if (seat.status === "sold") {
      say(`${describeSeat(seat)} is already sold. Please pick another seat.`, "error", [seat.id]);
      return;
    }
    if (seat.status === "held") {
      say(`${describeSeat(seat)} is held by someone else right now. Please pick another seat.`, "error", [seat.id]);
      return;
    }
    if (!signedIn()) return;
    if (mySeats().length >= maxSeats) {
      say(`You can hold at most ${maxSeats} seats for one showtime.`, "error");
      return;
    }
    hold(seat);
  });

  // The hall is one Tab stop (a roving tabindex, as in the WAI-ARIA grid pattern): the seat last
  // visited keeps tabindex 0, every other seat -1; arrow keys move between seats as they sit in
  // the hall, Home and End to the ends of a row. So Tab goes from the hall straight on to Best
  // seats and Confirm.
  const seatRows = [...hall.querySelectorAll(".hall-row")].filter((row) => row.querySelector("button.seat"));
  let rovingSeat = null;
  function makeTabStop(button) {
    if (rovingSeat === button) return;
    if (rovingSeat) rovingSeat.tabIndex = -1;
    rovingSeat = button;
    button.tabIndex = 0;
  }
  {
    const buttons = [...seats.values()].map((seat) => seat.button);
    for (const button of buttons) button.tabIndex = -1;
    const first = buttons.find((button) => button.dataset.status === "available") || buttons[0];
    if (first) makeTabStop(first);
  }
  hall.addEventListener("focusin", (event) => {
    const button = event.target.closest("button.seat[data-seat-id]");
    if (button) makeTabStop(button);
  });
  hall.addEventListener("keydown", (event) => {
    const button = event.target.closest("button.seat[data-seat-id]");
    if (button && (event.key === "Home" || event.key === "End")) {
      const inRow = [...button.parentElement.querySelectorAll("button.seat")];
      const target = event.key === "Home" ? inRow[0] : inRow[inRow.length - 1];
      event.preventDefault();
      target.focus();
      return;
    }
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (!button || !moves[event.key]) return;
    const [rowStep, columnStep] = moves[event.key];
    const row = button.parentElement;
    const cells = [...row.children];
    const column = cells.indexOf(button);
    let target = null;
    if (columnStep) {
      const ahead = columnStep > 0 ? cells.slice(column + 1) : cells.slice(0, column).reverse();
      target = ahead.find((cell) => cell.matches("button.seat")) || null;
    } else {
      const next = seatRows[seatRows.indexOf(row) + rowStep];
      if (next) {
        let best = Infinity;
        [...next.children].forEach((cell, index) => {
          if (cell.matches("button.seat") && Math.abs(index - column) < best) {
            best = Math.abs(index - column);
            target = cell;
          }
        });
      }
    }
    if (target) {
      event.preventDefault();
      target.focus();
    }
  });

  ui.confirm.addEventListener("click", confirmBooking);
  // On a phone the legend is one line that opens on a tap (on wider screens it is always open).
  const legend = root.querySelector("[data-legend]");
  const legendToggle = root.querySelector("[data-legend-toggle]");
  legendToggle?.addEventListener("click", () => {
    const open = legend.dataset.open !== "true";
    legend.dataset.open = String(open);
    legendToggle.setAttribute("aria-expanded", String(open));
  });
  // On a phone the messages are a toast over the hall: a tap puts it away.
  ui.messages.addEventListener("click", () => say(""));
  if (ui.ticketSteppers) {
    ui.ticketSteppers.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button || button.disabled) return;
      if (button.dataset.ticketAdd) stepTickets(button.dataset.ticketAdd, 1);
      if (button.dataset.ticketRemove) stepTickets(button.dataset.ticketRemove, -1);
    });
  }
  if (ui.voucher) {
    ui.voucher.addEventListener("submit", (event) => {
      event.preventDefault();
      applyVoucher();
    });
  }
  if (ui.barConfirm) ui.barConfirm.addEventListener("click", confirmBooking);
  ui.release.addEventListener("click", () => {
    const ids = mySeats().map((seat) => seat.id);
    if (ids.length) release(ids);
  });
  if (ui.bestSeats) {
    ui.bestSeats.addEventListener("submit", (event) => {
      event.preventDefault();
      bestSeats(ui.bestSeats);
    });
  }

  // A hold belongs to the person, not to this tab: leaving the page keeps it until it expires or
  // they release it, and every open page of theirs shows it (the live feed marks their seats).
  window.addEventListener("pagehide", () => {
    leaving = true;
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return; // back from the back-forward cache: catch up
    leaving = false;
    renderAll();
    if (!socket) connect();
    else requestSnapshot();
  });
  window.addEventListener("online", () => {
    if (!socket) connect();
  });

  if (!session() && !started) ui.loginHint.hidden = false;
  renderAll();
  loadMyBookings();
  loadPrices();
  // On a narrow screen the hall scrolls sideways: start from its middle, where the screen is.
  const scroller = root.querySelector(".hall-scroll");
  if (scroller && scroller.scrollWidth > scroller.clientWidth) {
    scroller.scrollLeft = (scroller.scrollWidth - scroller.clientWidth) / 2;
  }
  connect();
}
