// Small-screen layout helpers (progressive enhancement: without JavaScript wide tables
// scroll inside their own box and the header menus open and close with a tap).
// 1. Tables marked .table-stack become one card per row on phones: each cell gets its
//    column's heading as data-label, which the stylesheet prints before the value.
// 2. A table box that scrolls sideways becomes focusable, so it scrolls from the keyboard.
// 3. An open header menu closes on Escape or a click outside it.
(function () {
  "use strict";

  Array.prototype.forEach.call(document.querySelectorAll("table.table-stack"), function (table) {
    var headings = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      var column = 0;
      Array.prototype.forEach.call(row.children, function (cell) {
        if (!cell.hasAttribute("data-label")) { cell.setAttribute("data-label", headings[column] || ""); }
        column += cell.colSpan || 1;
      });
    });
    table.classList.add("is-labelled");
  });

  var boxes = document.querySelectorAll(".table-wrap");
  function markScrollable() {
    Array.prototype.forEach.call(boxes, function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
      } else {
        box.removeAttribute("tabindex");
      }
    });
  }
  markScrollable();
  window.addEventListener("resize", markScrollable);

  var menus = document.querySelectorAll(".site-header details");
  function closeMenus(except) {
    Array.prototype.forEach.call(menus, function (menu) {
      if (menu !== except && !menu.contains(except)) { menu.open = false; }
    });
  }
  document.addEventListener("click", function (event) {
    var inside = event.target.closest ? event.target.closest(".site-header details") : null;
    closeMenus(inside);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var open = document.querySelector(".site-header details[open]");
    if (open) {
      closeMenus(null);
      open.querySelector("summary").focus();
    }
  });
})();
