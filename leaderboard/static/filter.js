// Filters without dependencies: each <select data-filter="NAME"> hides the filter items (rows and sections
// with class filter-item) whose data-NAME differs from its value. An item without data-NAME ignores that
// filter (a finding has no single protocol); the empty value shows everything.
"use strict";
(function () {
  const selects = Array.from(document.querySelectorAll("select[data-filter]"));
  const items = Array.from(document.querySelectorAll(".filter-item"));
  const count = document.getElementById("filter-count");

  function matches(item) {
    return selects.every((s) => {
      const value = item.getAttribute("data-" + s.getAttribute("data-filter"));
      return s.value === "" || value === null || value === s.value;
    });
  }

  function apply() {
    for (const item of items) item.hidden = !matches(item);
    if (count) {
      const groups = document.querySelectorAll("#groups tbody tr");
      const shown = Array.from(groups).filter((r) => !r.hidden).length;
      count.textContent = `${shown} of ${groups.length} groups shown`;
    }
  }

  for (const s of selects) s.addEventListener("change", apply);
  apply();  // a browser may restore the selections on back navigation
})();
