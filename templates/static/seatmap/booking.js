// Booking the held seats: ticket types ("2 adults, 1 child", assigned to the seats in their
// order, the default type first), each seat's price from GET /showtimes/{id}/prices, a voucher
// from POST /vouchers/check, and "Confirm". The total shown is sent as expected_total, so the
// total shown is the total charged (or 409 price_changed, and the page shows the new prices).
// Also: the person's own confirmed bookings of this showtime.
import { api, session } from "../app.js";
import { plural, priced, totals } from "./words.js";

const MY_BOOKINGS_PAGES = 5; // of 100 reservations: more than anyone has for one showtime

export function setUpBooking(page) {
  const { ui, seats, showtimeId } = page;
  let ticketTypes = []; // the active ticket types, in their order (the default one first)
  const ticketPrices = new Map(); // "code|seat type" -> price, from /prices
  const ticketCounts = new Map(); // code -> seats of that type, for the types other than the default
  let voucher = null; // {code, discount_percent, discount_amount} once checked
  let booking = null; // {key, body} of the booking being attempted, kept for retries

  const defaultType = () => ticketTypes.find((type) => type.is_default) || ticketTypes[0];
  page.ticketTypeCount = () => ticketTypes.length;

  /** The held seats, each with the ticket type the stepper gives it and its price. */
  page.ticketsOf = (mine) => {
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
  };

  /** Subtotal, discount and total in cents, as the service computes them. */
  page.totalsOf = (tickets) => totals(tickets.map((ticket) => ticket.price), voucher);

  page.renderTickets = (tickets) => {
    if (!ui.tickets) return;
    ui.tickets.hidden = tickets.length === 0 || ticketTypes.length < 2;
    if (ui.voucher) ui.voucher.hidden = tickets.length === 0 || page.closed;
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
        less.disabled = count === 0 || page.busy;
        const more = document.createElement("button");
        more.type = "button";
        more.className = "button button--small";
        more.textContent = "+";
        more.dataset.ticketAdd = type.code;
        more.setAttribute("aria-label", `One ${type.name.toLowerCase()} ticket more`);
        more.disabled = defaults === 0 || page.busy;
        item.append(name, less, value, more);
        return item;
      }),
    );
    ui.ticketsSummary.textContent = ticketTypes
      .filter((type) => counts.get(type.code))
      .map((type) => plural(type.name, counts.get(type.code)))
      .join(", ");
  };

  function stepTickets(code, change) {
    const focusKey = change > 0 ? "ticketAdd" : "ticketRemove";
    ticketCounts.set(code, Math.max(0, (ticketCounts.get(code) || 0) + change));
    page.renderSelection();
    // Keep the keyboard where it was, or on the other button of the stepper once this one is off.
    const again = ui.ticketSteppers.querySelector(`[data-${focusKey === "ticketAdd" ? "ticket-add" : "ticket-remove"}="${code}"]`);
    const other = ui.ticketSteppers.querySelector(`[data-${focusKey === "ticketAdd" ? "ticket-remove" : "ticket-add"}="${code}"]`);
    (again && !again.disabled ? again : other)?.focus();
  }

  page.loadPrices = async () => {
    const [types, prices] = await Promise.all([
      api("/api/v1/ticket-types", { auth: false }),
      api(`/api/v1/showtimes/${showtimeId}/prices`, { auth: false }),
    ]);
    if (types.ok) ticketTypes = types.data.ticket_types;
    if (prices.ok) {
      ticketPrices.clear();
      for (const row of prices.data.prices) ticketPrices.set(`${row.ticket_type}|${row.seat_type}`, row.price);
    }
    page.renderSelection();
  };

  async function applyVoucher() {
    const code = ui.voucherInput.value.trim();
    if (!code) {
      voucher = null;
      ui.voucherStatus.textContent = "";
      page.renderSelection();
      return;
    }
    if (!page.signedIn()) return;
    const result = await api("/api/v1/vouchers/check", { method: "POST", body: { code, showtime_id: showtimeId } });
    if (result.ok) {
      voucher = result.data;
      const off = voucher.discount_percent !== null
        ? `${Number(voucher.discount_percent)} % off`
        : `${priced(voucher.discount_amount, page.currency)} off`;
      ui.voucherStatus.textContent = `Voucher ${voucher.code} applied: ${off}.`;
    } else {
      voucher = null;
      ui.voucherStatus.textContent = result.status === 429 ? page.explain(result, "check the voucher") : result.error.message;
    }
    page.renderSelection();
  }

  // ---- the person's bookings of this showtime ----------------------------------------------

  /** Seats of the person's confirmed reservations of this showtime, from their reservations. */
  page.loadMyBookings = async () => {
    if (!session()) return;
    const found = new Set();
    for (let number = 1; number <= MY_BOOKINGS_PAGES; number += 1) {
      const result = await api(`/api/v1/reservations?include_past=true&page=${number}&page_size=100`);
      if (!result.ok) return;
      const items = result.data.reservations || [];
      for (const reservation of items) {
        if (reservation.showtime_id !== showtimeId || reservation.status !== "confirmed") continue;
        for (const seat of reservation.seats || []) found.add(seat.id);
      }
      if (items.length < 100 || number * 100 >= (result.data.total ?? 0)) break;
    }
    for (const id of found) page.bookedByMe.add(id);
    page.renderAll();
    page.renderBookedNote();
  };

  /** Just booked: the seats are the person's, said once (the booked panel shows the code). */
  function noteBooked(chosen) {
    for (const seat of chosen) page.bookedByMe.add(seat.id);
    page.say("");
    page.renderAll();
    page.renderBookedNote();
  }

  // ---- confirming --------------------------------------------------------------------------

  function newIdempotencyKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  async function confirmBooking() {
    if (page.busy || !page.signedIn()) return;
    const chosen = page.mySeats();
    if (!chosen.length) return;
    const tickets = page.ticketsOf(chosen);
    const body = { showtime_id: showtimeId, seat_ids: chosen.map((seat) => seat.id).sort() };
    const named = tickets.filter((ticket) => ticket.type && ticket.type !== defaultType());
    if (named.length) body.tickets = Object.fromEntries(named.map((ticket) => [ticket.seat.id, ticket.type.code]));
    if (voucher) body.voucher_code = voucher.code;
    body.expected_total = (page.totalsOf(tickets).total / 100).toFixed(2);
    const bodyText = JSON.stringify(body);
    // A retry of the same booking reuses its key, so it can never book twice.
    if (!booking || booking.body !== bodyText) booking = { key: newIdempotencyKey(), body: bodyText };
    page.busy = true;
    page.renderSelection();
    page.say("Booking your seats…");
    const result = await api("/api/v1/reservations", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": booking.key },
    });
    page.busy = false;
    if (result.ok) {
      booking = null;
      for (const seat of chosen) {
        seat.status = "sold";
        page.myHold.delete(seat.id);
      }
      page.holdExpiresAt = null;
      page.strandedIds = [];
      page.stopTicker();
      page.renderAll();
      ui.ticketCode.textContent = result.data.ticket_code;
      ui.booked.hidden = false;
      noteBooked(chosen);
      ui.booked.querySelector("a")?.focus();
      return;
    }
    page.renderSelection();
    // Unreachable, busy (503) or a duplicate still running: the booking may yet happen, so the
    // retry keeps its Idempotency-Key and can never book twice.
    if (result.status === 0 || result.status === 503 || result.error?.code === "request_in_flight") {
      const why = result.status === 0 ? "the service was unreachable" : "the service was busy";
      page.say(`The booking could not be confirmed because ${why}. Press Confirm again: you will not be booked twice.`, "error");
      return;
    }
    booking = null;
    if (result.error?.code === "price_changed" || result.error?.code === "unknown_ticket_type") {
      await page.loadPrices(); // show the prices the service charges now, then let the person confirm
    }
    if (result.error?.code === "voucher_exhausted" || result.error?.code === "voucher_invalid") {
      voucher = null;
      ui.voucherStatus.textContent = result.error.message;
      page.renderSelection();
    }
    page.fail(result, "book the seats");
  }

  // ---- wiring ----------------------------------------------------------------------------

  ui.confirm.addEventListener("click", confirmBooking);
  if (ui.barConfirm) ui.barConfirm.addEventListener("click", confirmBooking);
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
}
