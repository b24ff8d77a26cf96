// The seat page's wording and money, as pure functions (templates/static/seatmap/words.js).
// Run by `node --test tests/js/` (and `make test`).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  cents,
  countdownWords,
  describeBestSeats,
  describeDearerSeats,
  explainRefusal,
  isLastMinute,
  joinWords,
  money,
  plural,
  totals,
} from "../../templates/static/seatmap/words.js";

const seat = (label, column, extra = {}) => ({ label, row: label[0], column, ...extra });

test("money is counted in cents and shown with two places and the currency", () => {
  assert.equal(cents("12.5"), 1250);
  assert.equal(cents("0.05"), 5);
  assert.equal(cents("7"), 700);
  assert.equal(money(1205, "EUR"), "12.05 EUR");
  assert.equal(money(5, ""), "0.05");
});

test("a percent voucher rounds half up to the cent; an amount never makes a total negative", () => {
  // 3 x 8.35 = 25.05; 15 % of it is 3.7575: 3.76 off.
  assert.deepEqual(totals(["8.35", "8.35", "8.35"], { discount_percent: "15.00", discount_amount: null }), {
    subtotal: 2505,
    discount: 376,
    total: 2129,
  });
  assert.deepEqual(totals(["5.00"], { discount_percent: null, discount_amount: "9.00" }), {
    subtotal: 500,
    discount: 500,
    total: 0,
  });
  assert.deepEqual(totals(["5.00", "2.50"], null), { subtotal: 750, discount: 0, total: 750 });
});

test("the countdown says less than a minute only when its clock shows less than one", () => {
  assert.deepEqual(countdownWords(60_000), {
    clock: "1:00",
    warning: false,
    text: "Your seats are held for 1:00.",
    bar: "Held 1:00",
  });
  // 59.001 s left rounds up to 1:00 on the clock: still no warning.
  assert.equal(countdownWords(59_001).warning, false);
  const last = countdownWords(59_000);
  assert.equal(last.clock, "0:59");
  assert.equal(last.text, "Less than a minute left: 0:59. Confirm now or the seats go back on sale.");
  assert.equal(isLastMinute(59_000), true);
  assert.equal(isLastMinute(59_001), false);
  assert.equal(countdownWords(-500).clock, "0:00");
  assert.equal(countdownWords(600_000).text, "Your seats are held for 10:00.");
});

test("words are joined and counted as people say them", () => {
  assert.equal(joinWords([]), "");
  assert.equal(joinWords(["A"]), "A");
  assert.equal(joinWords(["A", "B", "C"]), "A, B and C");
  assert.equal(plural("Adult", 2), "2 adults");
  assert.equal(plural("Child", 3), "3 children");
  assert.equal(plural("Senior", 1), "1 senior");
});

test("best seats say what was picked, and when the group is not together", () => {
  assert.equal(
    describeBestSeats([seat("C5", 5), seat("C4", 4)], []),
    "We picked 2 seats for you: C4, C5. They are held for you.",
  );
  // An aisle (column 6) between C5 and C7.
  assert.equal(
    describeBestSeats([seat("C5", 5), seat("C7", 7)], []),
    "We picked 2 seats for you: C5, C7. They are held for you. They are in row C but not side by side.",
  );
  assert.equal(
    describeBestSeats([seat("C5", 5), seat("D5", 5)], []),
    "We picked 2 seats for you: C5, D5. They are held for you. They are split across rows C and D, not all together.",
  );
  assert.equal(
    describeBestSeats([seat("D2", 2), seat("D3", 3)], [seat("C2", 2)]),
    "Added 2 seats (D2, D3) to the 1 you already held; 3 held in all. Your seats are now in rows C and D.",
  );
});

test("best seats of any type say which seats cost more, and by how much", () => {
  const picked = [
    seat("C5", 5, { type: "premium", price: "12.50" }),
    seat("C4", 4, { type: "premium", price: "12.50" }),
    seat("C3", 3, { type: "regular", price: "10.00" }),
  ];
  assert.equal(
    describeDearerSeats(picked, 1000, "EUR"),
    " C4 and C5 are premium seats: 12.50 EUR each, 2.50 EUR more than the 10.00 EUR seats.",
  );
  assert.equal(
    describeDearerSeats([seat("E1", 1, { type: "vip", price: "15.00" })], 1000, "EUR"),
    " E1 is a VIP seat: 15.00 EUR, 5.00 EUR more than the 10.00 EUR seats.",
  );
  assert.equal(describeDearerSeats([seat("C3", 3, { type: "regular", price: "10.00" })], 1000, "EUR"), "");
});

test("refusals are said in words, naming the showtimes already held", () => {
  const options = { maxSeats: 10, labelsOf: (ids) => ids.map((id) => `seat ${id}`).join("; "), formatDate: (iso) => `<${iso}>` };
  const refused = (status, code, details = {}, message = "") => ({ status, error: { code, message, details } });
  assert.equal(
    explainRefusal(
      refused(409, "too_many_showtimes_held", {
        max_showtimes_held: 3,
        held_showtimes: [
          { movie_title: "Heat", start_time: "2026-12-05T19:30:00+00:00" },
          { movie_title: "Alien", start_time: "2026-12-06T20:00:00+00:00" },
          { movie_title: "Up", start_time: "2026-12-07T15:00:00+00:00" },
        ],
      }),
      "hold that seat",
      options,
    ),
    "You can hold seats of at most 3 showtimes at once, and you hold seats of Heat (<2026-12-05T19:30:00+00:00>), " +
      "Alien (<2026-12-06T20:00:00+00:00>) and Up (<2026-12-07T15:00:00+00:00>). Book or release those first.",
  );
  assert.equal(
    explainRefusal(refused(409, "seat_unavailable", { unavailable_seat_ids: ["a"] }), "hold", options),
    "Sorry, seat a was just taken by someone else. Please pick another seat.",
  );
  assert.equal(explainRefusal(refused(422, "too_many_seats"), "hold", options), "You can hold at most 10 seats for one showtime.");
  assert.equal(explainRefusal(refused(401, "unauthorized"), "hold", options), null);
  assert.equal(explainRefusal(refused(418, "teapot", {}, "I am a teapot."), "hold", options), "I am a teapot.");
});
