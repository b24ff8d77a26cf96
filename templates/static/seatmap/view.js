// What the seat page shows: each seat's look and words, the "Your seats" panel, the countdown,
// the messages (a toast on a phone), the connection line and the legend. Everything here draws
// from `page` (see ../seatmap.js); nothing here talks to the service.
import { STATUS_WORDS, countdownWords, money, priced, seatAriaLabel, seatCount } from "./words.js";

export function setUpView(page) {
  const { ui, seats, currency } = page;
  let messageAbout = new Map(); // seat id -> its status when the current message spoke of it
  let messageTimer = null;

  page.isMine = (seat) => seat.status === "held" && page.myHold.has(seat.id);
  page.isBookedByMe = (seat) => seat.status === "sold" && page.bookedByMe.has(seat.id);
  page.describeSeat = (seat) => `Row ${seat.button.dataset.row}, seat ${seat.button.dataset.number}`;

  /** The seats this person holds, in label order (A2 before A10). */
  page.mySeats = () =>
    [...seats.values()]
      .filter(page.isMine)
      .sort((a, b) => a.button.dataset.label.localeCompare(b.button.dataset.label, "en", { numeric: true }));

  page.renderSeat = (seat) => {
    const { button } = seat;
    const mine = page.isMine(seat);
    const yours = page.isBookedByMe(seat);
    button.dataset.status = seat.status;
    button.dataset.mine = mine ? "true" : "false";
    button.dataset.yours = yours ? "true" : "false";
    button.dataset.pending = seat.pending ? "true" : "false";
    button.setAttribute("aria-pressed", mine ? "true" : "false");
    if (page.closed || (seat.status !== "available" && !mine)) button.setAttribute("aria-disabled", "true");
    else button.removeAttribute("aria-disabled");
    const words = mine ? STATUS_WORDS.mine : yours ? STATUS_WORDS.yours : STATUS_WORDS[seat.status] || seat.status;
    button.setAttribute("aria-label", seatAriaLabel(button.dataset, words, currency));
  };

  page.renderSelection = () => {
    const mine = page.mySeats();
    const tickets = page.ticketsOf(mine);
    const several = page.ticketTypeCount() > 1;
    ui.selectionList.replaceChildren(
      ...tickets.map((ticket) => {
        const item = document.createElement("li");
        const kind = several && ticket.type ? ` · ${ticket.type.name}` : "";
        item.textContent = `${ticket.seat.button.dataset.label} · ${priced(ticket.price, currency)}${kind}`;
        return item;
      }),
    );
    page.renderTickets(tickets);
    ui.selectionEmpty.hidden = mine.length > 0;
    ui.selectionTotal.hidden = mine.length === 0;
    const { subtotal, discount, total } = page.totalsOf(tickets);
    const off = discount ? ` (${money(subtotal, currency)} less ${money(discount, currency)} voucher)` : "";
    ui.selectionTotal.textContent = `${seatCount(mine.length)}, total ${money(total, currency)}${off}`;
    ui.selectionTotal.dataset.total = (total / 100).toFixed(2);
    ui.confirm.disabled = page.busy || mine.length === 0 || page.closed;
    ui.confirm.textContent = mine.length ? `Confirm ${seatCount(mine.length)} · ${money(total, currency)}` : "Confirm booking";
    ui.release.hidden = mine.length === 0;
    if (ui.bestSeatsMode) {
      ui.bestSeatsMode.textContent = mine.length
        ? `Adds to the ${seatCount(mine.length)} you hold; they stay yours.`
        : "Finds the best free seats together and holds them for you.";
    }
    if (ui.bar) {
      ui.bar.hidden = mine.length === 0 || page.closed;
      ui.barConfirm.disabled = ui.confirm.disabled;
      ui.barConfirm.textContent = ui.confirm.textContent;
    }
    const strandedNow = page.strandedIds.filter((id) => seats.get(id)?.status === "available");
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
    page.renderCountdown();
  };

  page.renderAll = () => {
    for (const seat of seats.values()) page.renderSeat(seat);
    page.renderSelection();
    forgetStaleMessage();
  };

  /** Say `text`; `about` names the seats it speaks of, so that it goes once they change. */
  page.say = (text, kind = "info", about = []) => {
    ui.messages.dataset.kind = kind;
    messageAbout = new Map(about.filter((id) => seats.has(id)).map((id) => [id, seats.get(id).status]));
    // Emptying first makes screen readers announce a repeated message again (and restarts the
    // toast's fade on a phone).
    ui.messages.textContent = "";
    window.clearTimeout(messageTimer);
    if (text) messageTimer = window.setTimeout(() => { ui.messages.textContent = text; }, 30);
  };

  /** "Row C, seat 6 is held by someone else" stops being true when C6 changes: say nothing. */
  function forgetStaleMessage() {
    for (const [id, status] of messageAbout) {
      if (seats.get(id)?.status !== status) {
        page.say("");
        return;
      }
    }
  }

  page.renderBookedNote = () => {
    if (!ui.bookedNote) return;
    const labels = [...seats.values()].filter(page.isBookedByMe).map((seat) => seat.button.dataset.label)
      .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    ui.bookedNote.hidden = labels.length === 0;
    const text = ui.bookedNote.querySelector("[data-booked-note-text]");
    text.textContent = `You already have ${seatCount(labels.length)} for this showtime (${labels.join(", ")}).`;
  };

  page.setConnection = (state, text) => {
    ui.connection.dataset.connection = state;
    ui.connection.textContent = text;
  };

  page.renderCountdown = () => {
    const holding = page.mySeats().length > 0;
    ui.countdown.hidden = !holding;
    if (!holding) {
      ui.countdown.textContent = "";
      return;
    }
    if (page.holdExpiresAt === null) {
      // Held before this page opened (another tab or device): the map does not say until when.
      if (ui.barCountdown) ui.barCountdown.textContent = "Held";
      ui.countdown.dataset.warning = "false";
      ui.countdown.textContent = "You were already holding these seats; they are kept for a limited time, so confirm soon.";
      return;
    }
    const words = countdownWords(page.holdExpiresAt - Date.now());
    ui.countdown.dataset.warning = words.warning ? "true" : "false";
    ui.countdown.textContent = words.text;
    if (ui.barCountdown) {
      ui.barCountdown.dataset.warning = ui.countdown.dataset.warning;
      ui.barCountdown.textContent = words.bar;
    }
  };

  // On a phone the legend is one line that opens on a tap (on wider screens it is always open).
  const legend = page.root.querySelector("[data-legend]");
  const legendToggle = page.root.querySelector("[data-legend-toggle]");
  legendToggle?.addEventListener("click", () => {
    const open = legend.dataset.open !== "true";
    legend.dataset.open = String(open);
    legendToggle.setAttribute("aria-expanded", String(open));
  });
  // On a phone the messages are a toast over the hall: a tap puts it away.
  ui.messages.addEventListener("click", () => page.say(""));
}
