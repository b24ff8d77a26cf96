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
  field("seats").textContent = (reservation.seats || []).map((seat) => seat.seat_label).join(", ");
  field("total").textContent = `${reservation.total_price} ${document.body.dataset.currency || ""}`.trim();
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
