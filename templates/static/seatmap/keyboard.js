// The hall is one Tab stop (a roving tabindex, as in the WAI-ARIA grid pattern): the seat last
// visited keeps tabindex 0, every other seat -1; arrow keys move between seats as they sit in
// the hall, Home and End to the ends of a row. So Tab goes from the hall straight on to Best
// seats and Confirm. Enter and Space are the buttons' own (a click: hold.js).

export function setUpKeyboard(page) {
  const { hall, seats } = page;
  const seatRows = [...hall.querySelectorAll(".hall-row")].filter((row) => row.querySelector("button.seat"));
  let rovingSeat = null;
  function makeTabStop(button) {
    if (rovingSeat === button) return;
    if (rovingSeat) rovingSeat.tabIndex = -1;
    rovingSeat = button;
    button.tabIndex = 0;
  }
  {
    const buttons = [...seats.values()].map((seat) => seat.button);
    for (const button of buttons) button.tabIndex = -1;
    const first = buttons.find((button) => button.dataset.status === "available") || buttons[0];
    if (first) makeTabStop(first);
  }
  hall.addEventListener("focusin", (event) => {
    const button = event.target.closest("button.seat[data-seat-id]");
    if (button) makeTabStop(button);
  });
  hall.addEventListener("keydown", (event) => {
    const button = event.target.closest("button.seat[data-seat-id]");
    if (button && (event.key === "Home" || event.key === "End")) {
      const inRow = [...button.parentElement.querySelectorAll("button.seat")];
      const target = event.key === "Home" ? inRow[0] : inRow[inRow.length - 1];
      event.preventDefault();
      target.focus();
      return;
    }
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (!button || !moves[event.key]) return;
    const [rowStep, columnStep] = moves[event.key];
    const row = button.parentElement;
    const cells = [...row.children];
    const column = cells.indexOf(button);
    let target = null;
    if (columnStep) {
      const ahead = columnStep > 0 ? cells.slice(column + 1) : cells.slice(0, column).reverse();
      target = ahead.find((cell) => cell.matches("button.seat")) || null;
    } else {
      const next = seatRows[seatRows.indexOf(row) + rowStep];
      if (next) {
        let best = Infinity;
        [...next.children].forEach((cell, index) => {
          if (cell.matches("button.seat") && Math.abs(index - column) < best) {
            best = Math.abs(index - column);
            target = cell;
          }
        });
      }
    }
    if (target) {
      event.preventDefault();
      target.focus();
    }
  });
}
