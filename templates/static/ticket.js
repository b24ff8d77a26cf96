// /my/reservations/{id}/ticket: one ticket, large, to show at the door or print.
import { api, formatDateTime, session, token } from "./app.js";

const root = document.querySelector("[data-ticket]");

if (root) start(root);

async function start(root) {
  const id = root.dataset.reservationId;
  const messages = root.querySelector("[data-messages]");
  const body = root.querySelector("[data-ticket-body]");
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const say = (text, kind = "info") => {
    messages.dataset.kind = kind;
    messages.textContent = text;
  };

  root.querySelector('[data-action="print"]').addEventListener("click", () => window.print());
  if (!session()) {
    say("You are not logged in.", "error");
    root.querySelector("[data-login-hint]").hidden = false;
    return;
  }
  const result = await api(`/api/v1/reservations/${id}`);
  if (!result.ok) {
    if (result.status === 401) root.querySelector("[data-login-hint]").hidden = false;
    say(result.status === 404 ? "You have no reservation at this address." : result.error.message, "error");
    return;
  }
  const reservation = result.data;
  const title = reservation.movie?.title || "Movie";
  document.title = `Ticket: ${title} · Reservations`;
  field("title").textContent = title;
  const when = field("when");
  when.dateTime = reservation.showtime?.start_time || "";
  when.textContent = formatDateTime(reservation.showtime?.start_time || "");
  field("theater").textContent = reservation.theater?.name || "";
  const money = (amount) => `${amount} ${document.body.dataset.currency || ""}`.trim();
  const seats = reservation.seats || [];
  field("seats").textContent = seats.map((seat) => seat.seat_label).join(", ");
  // Each seat with the ticket type it was booked as and what it cost; then the voucher.
  field("seat-lines").replaceChildren(
    ...seats.map((seat) => {
      const line = document.createElement("tr");
      for (const [text, kind] of [
        [seat.seat_label, ""],
        [seat.ticket_type_name || seat.ticket_type || "", ""],
        [money(seat.price), "money"],
      ]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        if (kind) cell.className = kind;
        line.append(cell);
      }
      return line;
    }),
  );
  if (reservation.discount && Number(reservation.discount) > 0) {
    field("voucher").textContent = `Voucher ${reservation.voucher_code || ""}`.trim();
    field("discount").textContent = `−${money(reservation.discount)}`;
    field("discount-line").hidden = false;
  }
  field("total").textContent = money(reservation.total_price);
  field("code").textContent = reservation.ticket_code;
  field("status").textContent = reservation.status === "cancelled" ? "Cancelled: this ticket is not valid." : "Confirmed";
  body.hidden = false;
  say("");
  messages.hidden = true;
  if (reservation.status !== "confirmed") return;
  const svg = await fetch(`/api/v1/reservations/${id}/ticket.svg`, { headers: { Authorization: `Bearer ${token()}` } })
    .then((response) => (response.ok ? response.text() : null))
    .catch(() => null);
  if (!svg) return;
  const image = field("qr");
  image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  image.alt = `QR code of ticket ${reservation.ticket_code}`;
  image.hidden = false;
}
