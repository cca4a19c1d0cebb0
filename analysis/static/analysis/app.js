/* Sandgate's analyst pages: result tables people can sort and expand, and code panels that stay as the
   reader left them. Loaded as a file ('self'): the Content-Security-Policy allows no inline script. Without
   it every row is shown and every table keeps the order the code gave it. */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.children[index];
    if (!cell) return "";
    return cell.hasAttribute("data-sort") ? Number(cell.getAttribute("data-sort")) : cell.textContent.trim();
  }

  function sortBy(table, index, button) {
    var header = button.parentNode;
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, {numeric: true});
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    markFirstRows(table);
  }

  function markFirstRows(table) {
    var first = Number(table.getAttribute("data-first-rows")) || 10;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) {
      row.classList.toggle("more", i >= first);
    });
  }

  function makeSortable(table) {
    var headers = table.querySelectorAll("thead tr:last-child th");
    headers.forEach(function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent || "(index)";
      button.setAttribute("aria-label", "Sort by " + (th.textContent || "the first column"));
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, button); });
    });
  }

  function makeCollapsible(table) {
    var rows = table.tBodies[0].rows.length;
    table.classList.add("collapsed");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "show-all";
    button.setAttribute("aria-expanded", "false");
    button.textContent = "Show all " + rows + " rows";
    button.addEventListener("click", function () {
      var collapsed = table.classList.toggle("collapsed");
      button.setAttribute("aria-expanded", collapsed ? "false" : "true");
      button.textContent = collapsed ? "Show all " + rows + " rows" : "Show the first rows only";
    });
    table.parentNode.insertAdjacentElement("afterend", button);
  }

  function rememberPanels(root) {
    root.querySelectorAll("details[data-remember]:not([data-remembered])").forEach(function (panel) {
      panel.setAttribute("data-remembered", "");
      var key = "sandgate:" + panel.getAttribute("data-remember");
      var saved = window.sessionStorage.getItem(key);
      if (saved !== null) panel.open = saved === "open";
      panel.addEventListener("toggle", function () {
        window.sessionStorage.setItem(key, panel.open ? "open" : "closed");
      });
    });
  }

  function enhance(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("table.result-table:not([data-enhanced])").forEach(function (table) {
      table.setAttribute("data-enhanced", "");
      if (table.classList.contains("sortable")) makeSortable(table);
      if (table.classList.contains("collapsible")) makeCollapsible(table);
    });
    rememberPanels(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  // New content from htmx (a finished run's results, a new version): enhanced as it arrives.
  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });
})();
