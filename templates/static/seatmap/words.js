// What the seat page says, as pure functions of plain values: no page, no network, no clock of
// its own. Unit-tested by `node --test tests/js/`. Money is counted in whole cents (integers),
// as the service counts it, so that a total shown is the total charged.

export const WARN_BEFORE_MS = 60_000; // the countdown warns when less than a minute is left

// Said when the hold runs out, whichever comes first: the page's countdown or the live map.
export const HOLD_EXPIRED = "Your hold expired and the seats went back on sale. Pick them again if they are still free.";

export const STATUS_WORDS = {
  available: "available",
  held: "held by someone else",
  mine: "held by you",
  sold: "sold",
  yours: "booked by you",
};

/** "12.5" or "12.50" -> 1250. */
export function cents(price) {
  const [whole, fraction = "0"] = String(price).split(".");
  return Number(whole) * 100 + Number(fraction.padEnd(2, "0").slice(0, 2));
}

/** 1250 -> "12.50". */
export function amount(totalCents) {
  return `${Math.floor(totalCents / 100)}.${String(totalCents % 100).padStart(2, "0")}`;
}

/** "12.50 EUR" (just "12.50" when the page names no currency). */
export function priced(value, currency) {
  return currency ? `${value} ${currency}` : String(value);
}

/** 1250 -> "12.50 EUR". */
export function money(totalCents, currency) {
  return priced(amount(totalCents), currency);
}

/** "1 seat", "3 seats". */
export function seatCount(count) {
  return `${count} seat${count === 1 ? "" : "s"}`;
}

/** "2 adults", "1 child", "3 children": a ticket type's name counted. */
export function plural(name, count) {
  const word = name.toLowerCase();
  if (count === 1) return `${count} ${word}`;
  return `${count} ${word === "child" ? "children" : `${word}s`}`;
}

/** "A, B and C". */
export function joinWords(words) {
  return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

/** "Row C, seat 7, premium, 12.50 EUR, held by you": what a screen reader says of a seat. */
export function seatAriaLabel({ row, number, type, price }, words, currency) {
  return `Row ${row}, seat ${number}, ${type}, ${priced(price, currency)}, ${words}`;
}

/** Whether the countdown warns: only once its clock shows less than a minute (0:59, never 1:00). */
export function isLastMinute(leftMs) {
  return Math.ceil(Math.max(0, leftMs) / 1000) < WARN_BEFORE_MS / 1000;
}

/** The hold's countdown `leftMs` before expiry: its clock, whether it warns, and its words in
 * the panel and in the phone's booking bar. */
export function countdownWords(leftMs) {
  const seconds = Math.ceil(Math.max(0, leftMs) / 1000);
  const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  const warning = isLastMinute(leftMs);
  const text = warning
    ? `Less than a minute left: ${clock}. Confirm now or the seats go back on sale.`
    : `Your seats are held for ${clock}.`;
  return { clock, warning, text, bar: `Held ${clock}` };
}

/** Subtotal, discount and total in cents of ticket prices ("12.50") and a checked voucher
 * ({discount_percent} or {discount_amount}), as the service computes them. */
export function totals(prices, voucher) {
  const subtotal = prices.reduce((sum, price) => sum + cents(price), 0);
  let discount = 0;
  if (voucher && voucher.discount_percent !== null && voucher.discount_percent !== undefined) {
    // Half up to the cent: round(subtotal x percent / 100), in whole hundredths.
    const hundredths = cents(voucher.discount_percent);
    discount = Math.floor((2 * subtotal * hundredths + 10000) / 20000);
  } else if (voucher) {
    discount = cents(voucher.discount_amount);
  }
  discount = Math.min(discount, subtotal);
  return { subtotal, discount, total: subtotal - discount };
}

const byLabel = (a, b) => a.label.localeCompare(b.label, "en", { numeric: true });

function rowsOf(list) {
  return [...new Set(list.map((seat) => seat.row))];
}

/** One row, and nothing but those seats (no aisle, no other seat) from the first to the last. */
function sideBySide(list) {
  if (rowsOf(list).length !== 1) return false;
  const places = list.map((seat) => seat.column).sort((a, b) => a - b);
  return places.every((place, index) => index === 0 || place === places[index - 1] + 1);
}

/** What "Best seats" did: added to a hold or started one, only the new seats, and whether they
 * sit together (a group split over rows or an aisle is said so, never passed off as one).
 * Seats are {label, row, column}; column counts the row's places, aisles included. */
export function describeBestSeats(added, before) {
  const picked = [...added].sort(byLabel);
  const names = picked.map((seat) => seat.label).join(", ");
  const count = seatCount(picked.length);
  const rows = rowsOf(picked);
  let where = "";
  if (picked.length > 1 && rows.length > 1) where = ` They are split across rows ${joinWords(rows)}, not all together.`;
  else if (picked.length > 1 && !sideBySide(picked)) where = ` They are in row ${rows[0]} but not side by side.`;
  if (!before.length) return `We picked ${count} for you: ${names}. They are held for you.${where}`;
  const heldRows = rowsOf(before);
  const apart = rows.some((row) => !heldRows.includes(row))
    ? ` Your seats are now in rows ${joinWords([...new Set([...heldRows, ...rows])].sort())}.`
    : "";
  return `Added ${count} (${names}) to the ${before.length} you already held; ${before.length + picked.length} held in all.${where}${apart}`;
}

/** " C5 and C6 are premium seats: 12.50 EUR each, 2.50 EUR more than the 10.00 EUR seats." for
 * the picked seats ({label, type, price}) dearer than the hall's cheapest (`cheapestCents`);
 * "" when none is. Best seats of "Any" type say it, so that nobody pays more unawares. */
export function describeDearerSeats(added, cheapestCents, currency) {
  const byPrice = new Map(); // "type|price" -> labels
  for (const seat of [...added].sort(byLabel)) {
    if (cents(seat.price) <= cheapestCents) continue;
    const key = `${seat.type}|${seat.price}`;
    byPrice.set(key, [...(byPrice.get(key) || []), seat.label]);
  }
  return [...byPrice]
    .map(([key, labels]) => {
      const [type, price] = key.split("|");
      const kind = type === "vip" ? "VIP" : type;
      const each = labels.length === 1
        ? `${labels[0]} is a ${kind} seat: ${priced(price, currency)}`
        : `${joinWords(labels)} are ${kind} seats: ${priced(price, currency)} each`;
      return ` ${each}, ${money(cents(price) - cheapestCents, currency)} more than the ${money(cheapestCents, currency)} seats.`;
    })
    .join("");
}

/** A refusal of the service in words for the seat page. `result` is app.js api()'s answer;
 * `labelsOf(ids)` names seats ("Row C, seat 6; Row C, seat 7"); `formatDate(iso)` a time. */
export function explainRefusal(result, what, { maxSeats, labelsOf, formatDate }) {
  const error = result.error || {};
  const details = error.details || {};
  switch (result.status) {
    case 0:
      return error.message;
    case 401:
      return null; // the page asks the person to log in
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
        const shows = details.held_showtimes.map((show) => `${show.movie_title} (${formatDate(show.start_time)})`);
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
