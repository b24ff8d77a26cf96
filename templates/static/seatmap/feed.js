// The live feed's rules, as pure functions: which message to trust, when to ask for a fresh
// snapshot, and which seats are this person's. The socket itself is live.js; these take the
// page's state as plain values and answer what it becomes. Unit-tested by `node --test tests/js/`.
//
// `myHold` is a Map of seat id -> when this page learnt the seat was its person's (ms). A seat
// shows as theirs when it is held AND in that map, so a late message can never paint another
// person's hold as theirs.

export const EXPIRY_SLACK_MS = 2000; // a hold the service freed this close to its expiry expired

/**
 * A snapshot (`{version, seats: [{id, status, held_by_me?}], hold_expires_at?}`, from the socket
 * or the REST map) is the truth, except for seats our own hold answers gave us after it was
 * asked for: their change message follows it.
 *
 * known(id): whether the page has that seat; statusOf(id): its status before this snapshot;
 * holdExpiresAt: the hold's expiry the page counts down to (ms on this clock, or null); skew:
 * the service's clock minus this one (ms); now: ms.
 * Answers {version, statuses: Map id -> status, myHold, expired} where `expired` says that the
 * service freed our seats at their expiry before the page's own countdown got there.
 */
export function readSnapshot(message, { known, statusOf, myHold, snapshotAskedAt, holdExpiresAt, skew = 0, now }) {
  const statuses = new Map();
  const heldByMe = new Set();
  for (const entry of message.seats || []) {
    if (!known(entry.id)) continue;
    statuses.set(entry.id, entry.status);
    if (entry.held_by_me) heldByMe.add(entry.id);
  }
  const statusAfter = (id) => (statuses.has(id) ? statuses.get(id) : statusOf(id));
  const kept = new Map();
  let lost = 0;
  for (const [id, learnt] of myHold) {
    if (heldByMe.has(id) || (learnt >= snapshotAskedAt && statusAfter(id) !== "sold")) kept.set(id, learnt);
    else lost += 1;
  }
  for (const id of heldByMe) if (!kept.has(id)) kept.set(id, now);
  // Judged against the expiry the snapshot gives, when it gives one (the seats still held).
  let expiry = holdExpiresAt;
  const given = heldByMe.size ? Date.parse(message.hold_expires_at || "") : NaN;
  if (!Number.isNaN(given)) expiry = given - skew;
  const expired = lost > 0 && expiry !== null && expiry - now <= EXPIRY_SLACK_MS;
  return {
    version: message.version,
    statuses,
    myHold: kept,
    expiresAt: heldByMe.size ? message.hold_expires_at : undefined,
    expired,
  };
}

/**
 * A `seats` message (`{version, changes: [{id, status, held_by_me?}], hold_expires_at?}`).
 * Answers null when it is to be ignored (before the first snapshot, or a version already seen);
 * else {version, statuses, myHold, mine, suspicious, expired}: `mine` when it marks seats held by
 * this person (on this page or another of theirs), `suspicious` when the page should ask for a
 * snapshot: a version was skipped, or one of our seats went free or sold (expired, released or
 * booked elsewhere); `expired` when our seats went free at the hold's expiry (`holdExpiresAt`,
 * ms on this clock, or null), announced before the page's own countdown got there: the seats
 * then leave `myHold`, and the countdown finds nothing to say.
 */
export function readChanges(message, { version, known, myHold, now, holdExpiresAt = null }) {
  if (version < 0 || message.version <= version) return null;
  let suspicious = message.version > version + 1;
  let mine = false;
  const statuses = new Map();
  const kept = new Map(myHold);
  let freed = 0;
  for (const change of message.changes || []) {
    if (!known(change.id)) continue;
    if (change.held_by_me) {
      if (!kept.has(change.id)) kept.set(change.id, now);
      mine = true;
    } else if (kept.has(change.id) && change.status !== "held") {
      suspicious = true;
      kept.delete(change.id);
      if (change.status === "available") freed += 1;
    }
    statuses.set(change.id, change.status);
  }
  return {
    version: message.version,
    statuses,
    myHold: kept,
    mine,
    expiresAt: mine ? message.hold_expires_at : undefined,
    suspicious,
    expired: freed > 0 && holdExpiresAt !== null && holdExpiresAt - now <= EXPIRY_SLACK_MS,
  };
}

/** The next reconnect delay (ms): the last one doubled up to `max`, and this one's jittered
 * wait; `random` is Math.random or a test's. */
export function backOff(delay, max, random) {
  return { wait: Math.round(delay * (0.75 + random() * 0.5)), next: Math.min(delay * 2, max) };
}
