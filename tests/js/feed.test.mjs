// The live feed's rules (templates/static/seatmap/feed.js): which message to trust, when to ask
// for a snapshot, which seats are this person's. Run by `node --test tests/js/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { backOff, readChanges, readSnapshot } from "../../templates/static/seatmap/feed.js";

const page = ["a", "b", "c"];
const known = (id) => page.includes(id);

test("changes before the first snapshot, or of a version already seen, are ignored", () => {
  const message = { version: 5, changes: [{ id: "a", status: "held" }] };
  assert.equal(readChanges(message, { version: -1, known, myHold: new Map(), now: 0 }), null);
  assert.equal(readChanges(message, { version: 5, known, myHold: new Map(), now: 0 }), null);
  assert.equal(readChanges(message, { version: 7, known, myHold: new Map(), now: 0 }), null);
});

test("the next version is applied; a skipped one asks for a snapshot", () => {
  const next = readChanges(
    { version: 6, changes: [{ id: "a", status: "held" }, { id: "zz", status: "sold" }] },
    { version: 5, known, myHold: new Map(), now: 0 },
  );
  assert.equal(next.version, 6);
  assert.deepEqual([...next.statuses], [["a", "held"]]); // a seat this page has not: left out
  assert.equal(next.suspicious, false);
  const gap = readChanges({ version: 8, changes: [] }, { version: 5, known, myHold: new Map(), now: 0 });
  assert.equal(gap.suspicious, true);
});

test("seats marked held_by_me become ours, with the hold's expiry", () => {
  const read = readChanges(
    { version: 2, changes: [{ id: "b", status: "held", held_by_me: true }], hold_expires_at: "2026-12-01T19:00:00+00:00" },
    { version: 1, known, myHold: new Map(), now: 42 },
  );
  assert.deepEqual([...read.myHold], [["b", 42]]);
  assert.equal(read.mine, true);
  assert.equal(read.expiresAt, "2026-12-01T19:00:00+00:00");
});

test("one of our seats going free or sold is dropped and asks for a snapshot", () => {
  const myHold = new Map([["a", 1], ["b", 1]]);
  const read = readChanges({ version: 4, changes: [{ id: "a", status: "available" }] }, { version: 3, known, myHold, now: 9 });
  assert.deepEqual([...read.myHold.keys()], ["b"]);
  assert.equal(read.suspicious, true);
  assert.equal(read.mine, false);
  assert.deepEqual([...myHold.keys()], ["a", "b"], "the page's own map is not changed in place");
});

test("a snapshot is the truth, except our holds learnt after it was asked for", () => {
  const read = readSnapshot(
    {
      version: 10,
      seats: [
        { id: "a", status: "available" },
        { id: "b", status: "held" },
        { id: "c", status: "held", held_by_me: true },
      ],
      hold_expires_at: "2026-12-01T19:00:00Z",
    },
    {
      known,
      statusOf: () => "available",
      // a: ours since before the snapshot was asked for, now free: lost. b: learnt after it
      // was asked for (its change follows the snapshot): kept.
      myHold: new Map([["a", 100], ["b", 300]]),
      snapshotAskedAt: 200,
      holdExpiresAt: null,
      now: 400,
    },
  );
  assert.equal(read.version, 10);
  assert.deepEqual([...read.myHold], [["b", 300], ["c", 400]]);
  assert.equal(read.statuses.get("a"), "available");
  assert.equal(read.expiresAt, "2026-12-01T19:00:00Z");
  assert.equal(read.expired, false);
});

test("a seat learnt after the snapshot was asked for but shown sold is not ours", () => {
  const read = readSnapshot(
    { version: 3, seats: [{ id: "a", status: "sold" }] },
    { known, statusOf: () => "held", myHold: new Map([["a", 300]]), snapshotAskedAt: 200, holdExpiresAt: null, now: 400 },
  );
  assert.equal(read.myHold.size, 0);
});

test("seats lost at the hold's expiry are said to have expired; lost earlier, not", () => {
  const lostAt = (holdExpiresAt) =>
    readSnapshot(
      { version: 3, seats: [{ id: "a", status: "available" }] },
      { known, statusOf: () => "held", myHold: new Map([["a", 0]]), snapshotAskedAt: 50, holdExpiresAt, now: 10_000 },
    ).expired;
  assert.equal(lostAt(11_000), true); // within two seconds of its expiry
  assert.equal(lostAt(60_000), false); // released elsewhere, long before it would expire
  assert.equal(lostAt(null), false);
});

test("reconnects back off, doubling up to the most, with jitter", () => {
  assert.deepEqual(backOff(500, 15_000, () => 0.5), { wait: 500, next: 1000 });
  assert.deepEqual(backOff(500, 15_000, () => 0), { wait: 375, next: 1000 });
  assert.deepEqual(backOff(10_000, 15_000, () => 1), { wait: 12_500, next: 15_000 });
});

test("our seats freed at the hold's expiry, announced before the countdown, say it expired", () => {
  const myHold = new Map([["a", 1], ["b", 2]]);
  const freed = { version: 4, changes: [{ id: "a", status: "available" }, { id: "b", status: "available" }] };
  const atExpiry = readChanges(freed, { version: 3, known, myHold, now: 10_000, holdExpiresAt: 10_500 });
  assert.equal(atExpiry.expired, true);
  assert.equal(atExpiry.myHold.size, 0);
  // Freed long before the expiry: released (on another page of theirs), not expired.
  const early = readChanges(freed, { version: 3, known, myHold, now: 10_000, holdExpiresAt: 60_000 });
  assert.equal(early.expired, false);
  // Sold: booked, not expired; and no hold counted down: nothing to say.
  const sold = { version: 4, changes: [{ id: "a", status: "sold" }] };
  assert.equal(readChanges(sold, { version: 3, known, myHold, now: 10_000, holdExpiresAt: 10_500 }).expired, false);
  assert.equal(readChanges(freed, { version: 3, known, myHold, now: 10_000 }).expired, false);
});
