// Sortable tables without dependencies: click a header to sort by its column, click again to reverse.
// Cells carry data-sort-value when their text is not what should be compared (numbers, deltas).
"use strict";
(function () {
  function key(row, col) {
    const cell = row.cells[col];
    if (!cell) return "";
    return cell.hasAttribute("data-sort-value") ? cell.getAttribute("data-sort-value") : cell.textContent.trim();
  }

  function sortBy(table, th, col) {
    const body = table.tBodies[0];
    const descending = th.getAttribute("aria-sort") === "ascending";
    for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    const rows = Array.from(body.rows);
    const numeric = rows.every((r) => key(r, col) === "" || !isNaN(Number(key(r, col))));
    rows.sort((a, b) => {
      const x = key(a, col), y = key(b, col);
      if (x === "" || y === "") return (x === "") - (y === "");  // empty cells stay last either way
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return descending ? -order : order;
    });
    body.append(...rows);
  }

  for (const table of document.querySelectorAll("table.sortable")) {
    if (!table.tHead || !table.tBodies.length) continue;
    Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
      th.tabIndex = 0;
      th.addEventListener("click", () => sortBy(table, th, col));
      th.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, th, col);
        }
      });
    });
  }
})();
