// The live seat map of /showtimes/{id}: the entry point of the modules in seatmap/.
//
// The server renders the hall (every seat a <button> with its status); the modules keep it live
// over the WebSocket (live.js, with feed.js's rules), hold and release seats through the REST API
// as they are clicked and count the hold down (hold.js), book on "Confirm" (booking.js), draw
// (view.js), move by keyboard (keyboard.js), and say it all in words (words.js). feed.js and
// words.js are pure functions, unit-tested by `node --test tests/js/`.
//
// They share one `page` object: the page's elements and state (below), and the functions each
// module puts on it (page.say, page.renderAll, page.requestSnapshot, ...), so that a module calls
// another's without importing it.
import { session } from "./app.js";
import { setUpBooking } from "./seatmap/booking.js";
import { setUpHold } from "./seatmap/hold.js";
import { setUpKeyboard } from "./seatmap/keyboard.js";
import { setUpLive } from "./seatmap/live.js";
import { setUpView } from "./seatmap/view.js";

const root = document.querySelector("[data-seatmap]");
if (root) startSeatMap(root);

function startSeatMap(root) {
  const started = root.dataset.started === "true";
  const hall = root.querySelector(".hall");
  const find = (selector) => root.querySelector(selector);
  const ui = {
    connection: find("[data-connection]"),
    messages: find("[data-messages]"),
    loginHint: find("[data-login-hint]"),
    selectionEmpty: find("[data-selection-empty]"),
    selectionList: find("[data-selection-list]"),
    selectionTotal: find("[data-selection-total]"),
    countdown: find("[data-countdown]"),
    stranded: find("[data-stranded-warning]"),
    confirm: find('[data-action="confirm"]'),
    release: find('[data-action="release"]'),
    booked: find("[data-booked]"),
    ticketCode: find("[data-ticket-code]"),
    bestSeats: find("[data-best-seats]"),
    availableCount: find("[data-available-count]"),
    bookedNote: find("[data-booked-note]"),
    bestSeatsMode: find("[data-best-seats-mode]"),
    bar: find("[data-booking-bar]"),
    barCountdown: find("[data-bar-countdown]"),
    barConfirm: find('[data-action="confirm-bar"]'),
    cancelled: find("[data-cancelled-notice]"),
    tickets: find("[data-tickets]"),
    ticketSteppers: find("[data-ticket-steppers]"),
    ticketsSummary: find("[data-tickets-summary]"),
    voucher: find("[data-voucher]"),
    voucherInput: find("[data-voucher-input]"),
    voucherStatus: find("[data-voucher-status]"),
  };

  /** seat id -> {id, button, status, pending} */
  const seats = new Map();
  for (const button of hall.querySelectorAll("button.seat[data-seat-id]")) {
    seats.set(button.dataset.seatId, { id: button.dataset.seatId, button, status: button.dataset.status, pending: false });
  }

  const page = {
    root,
    hall,
    ui,
    seats,
    showtimeId: root.dataset.showtimeId,
    started,
    closed: started, // started, or cancelled while the page is open: nothing can be booked
    maxSeats: Number(root.dataset.maxSeats) || 10,
    strandedCheck: root.dataset.strandedCheck === "true",
    currency: root.dataset.currency || "",
    myHold: new Map(), // seat id -> when this page learnt it was ours (ms); see feed.js
    bookedByMe: new Set(), // seat ids of the signed-in person's confirmed reservations here
    holdExpiresAt: null, // ms, local clock
    skew: 0, // ms: the service's clock minus this one, when clearly off
    warned: false, // the last-minute warning was said
    strandedIds: [],
    busy: false, // a booking request is in flight
    version: -1, // of the live map: -1 until the first snapshot
    snapshotAskedAt: 0,
    leaving: false,
  };
  setUpView(page);
  setUpHold(page);
  setUpBooking(page);
  setUpLive(page);
  setUpKeyboard(page);

  if (!session() && !started) ui.loginHint.hidden = false;
  page.renderAll();
  page.loadMyBookings();
  page.loadPrices();
  // On a narrow screen the hall scrolls sideways: start from its middle, where the screen is.
  const scroller = root.querySelector(".hall-scroll");
  if (scroller && scroller.scrollWidth > scroller.clientWidth) {
    scroller.scrollLeft = (scroller.scrollWidth - scroller.clientWidth) / 2;
  }
  page.connect();
}
