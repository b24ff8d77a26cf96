// /my/reservations: the signed-in person's bookings, upcoming and past, with cancel and a QR code.
import { api, formatDateTime, session, token } from "./app.js";

const root = document.querySelector("[data-my-reservations]");
const PAGE_SIZE = 100;

if (root) start(root);

function start(root) {
  const messages = root.querySelector("[data-messages]");
  const loginHint = root.querySelector("[data-login-hint]");
  const template = root.querySelector("#reservation-template");
  const sections = {
    upcoming: root.querySelector('[data-section="upcoming"]'),
    past: root.querySelector('[data-section="past"]'),
  };

  function say(text, kind = "info") {
    messages.dataset.kind = kind;
    messages.textContent = text;
  }

  async function fetchAll() {
    const all = [];
    for (let page = 1; page <= 50; page += 1) {
      const result = await api(`/api/v1/reservations?include_past=true&page=${page}&page_size=${PAGE_SIZE}`);
      if (!result.ok) return result;
      const items = result.data.reservations || [];
      all.push(...items);
      if (items.length < PAGE_SIZE || all.length >= (result.data.total ?? all.length)) break;
    }
    return { ok: true, reservations: all };
  }

  function isUpcoming(reservation) {
    const startsAt = Date.parse(reservation.showtime?.start_time || "");
    return reservation.status === "confirmed" && !(startsAt <= Date.now());
  }

  function seatNames(reservation) {
    return (reservation.seats || []).map((seat) => seat.seat_label || `${seat.row_label}${seat.seat_number}`).join(", ");
  }

  async function drawQr(reservation, image) {
    const response = await fetch(`/api/v1/reservations/${reservation.id}/ticket.svg`, {
      headers: { Authorization: `Bearer ${token()}` },
    }).catch(() => null);
    if (!response || !response.ok) return;
    const svg = await response.text();
    image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    image.alt = `QR code of ticket ${reservation.ticket_code}`;
    image.hidden = false;
  }

  function card(reservation) {
    const item = template.content.firstElementChild.cloneNode(true);
    const field = (name) => item.querySelector(`[data-field="${name}"]`);
    item.dataset.reservationId = reservation.id;
    item.dataset.status = reservation.status;
    field("title").textContent = reservation.movie?.title || "Movie";
    const when = field("when");
    when.dateTime = reservation.showtime?.start_time || "";
    when.textContent = formatDateTime(reservation.showtime?.start_time || "");
    field("theater").textContent = reservation.theater?.name || "";
    field("seats").textContent = seatNames(reservation);
    field("total").textContent = `${reservation.total_price} ${document.body.dataset.currency || ""}`.trim();
    if (reservation.status === "confirmed") {
      const link = field("ticket-link");
      link.href = `/my/reservations/${reservation.id}/ticket`;
      link.setAttribute("aria-label", `Show the ticket for ${reservation.movie?.title || "this showtime"}`);
      link.hidden = false;
    }
    field("ticket").textContent = reservation.ticket_code;
    field("status").textContent =
      reservation.status === "cancelled"
        ? `Cancelled${reservation.cancel_reason === "showtime_cancelled" ? " (the showtime was cancelled)" : ""}`
        : isUpcoming(reservation) ? "Confirmed" : "Confirmed · shown";
    const cancel = item.querySelector('[data-action="cancel"]');
    cancel.hidden = !(reservation.status === "confirmed" && reservation.is_cancellable !== false && isUpcoming(reservation));
    cancel.setAttribute("aria-label", `Cancel the reservation for ${field("title").textContent}, ${when.textContent}`);
    cancel.addEventListener("click", () => cancelReservation(reservation, cancel));
    if (reservation.status === "confirmed") drawQr(reservation, field("qr"));
    return item;
  }

  async function cancelReservation(reservation, button) {
    const title = reservation.movie?.title || "this showtime";
    if (!window.confirm(`Cancel your reservation for ${title}? Your seats go back on sale.`)) return;
    button.disabled = true;
    const result = await api(`/api/v1/reservations/${reservation.id}`, { method: "DELETE" });
    if (result.ok) {
      say(`Your reservation for ${title} is cancelled.`, "success");
      await load();
      return;
    }
    button.disabled = false;
    if (result.status === 401) {
      showLoggedOut();
      return;
    }
    say(result.status === 409 ? "This reservation can no longer be cancelled: the show has started." : result.error.message, "error");
  }

  function fill(section, reservations) {
    const list = section.querySelector("[data-list]");
    list.replaceChildren(...reservations.map(card));
    section.querySelector("[data-empty]").hidden = reservations.length > 0;
    section.hidden = false;
  }

  function showLoggedOut() {
    say("You are not logged in.", "error");
    loginHint.hidden = false;
    sections.upcoming.hidden = true;
    sections.past.hidden = true;
  }

  async function load() {
    if (!session()) {
      showLoggedOut();
      return;
    }
    const result = await fetchAll();
    if (!result.ok) {
      if (result.status === 401) showLoggedOut();
      else say(result.error.message || "Your reservations could not be loaded; try again.", "error");
      return;
    }
    const upcoming = result.reservations.filter(isUpcoming);
    upcoming.sort((a, b) => Date.parse(a.showtime?.start_time) - Date.parse(b.showtime?.start_time));
    const past = result.reservations.filter((reservation) => !isUpcoming(reservation));
    past.sort((a, b) => Date.parse(b.showtime?.start_time) - Date.parse(a.showtime?.start_time));
    fill(sections.upcoming, upcoming);
    fill(sections.past, past);
    if (messages.dataset.kind !== "success") say(`${upcoming.length} upcoming, ${past.length} past or cancelled.`);
  }

  load();
}
