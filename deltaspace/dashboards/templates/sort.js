// Sort a table.sortable by the clicked column (numbers by value, text alphabetically, empty cells
// last; click again to reverse).
document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("th button").forEach((button) => {
    button.addEventListener("click", () => {
      const column = Number(button.dataset.column);
      const ascending = button.dataset.order !== "asc";
      table.querySelectorAll("th button").forEach((b) => delete b.dataset.order);
      button.dataset.order = ascending ? "asc" : "desc";
      const key = (row) => {
        const raw = row.children[column].dataset.key;
        return raw === "" || isNaN(Number(raw)) ? raw : Number(raw);
      };
      const rows = Array.from(table.tBodies[0].rows);
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === "" || y === "") return (x === "") - (y === "");  // empty cells last either way
        const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
        return ascending ? order : -order;
      });
      rows.forEach((row) => table.tBodies[0].appendChild(row));
    });
  });
});
