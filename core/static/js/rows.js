// Lists of rows (fieldset[data-rows], see core/_macros.html rows_field): adds buttons to add a
// row, remove one and move one up or down, and renumbers the fields (name, id, labels) so the
// server reads them in the order shown. Progressive enhancement: without JavaScript the page
// shows the existing rows plus blank ones, and blank rows are skipped by the server.
(function () {
  "use strict";

  function rowsOf(list) {
    return Array.prototype.filter.call(list.children, function (child) {
      return child.hasAttribute("data-row");
    });
  }

  function renumberAttribute(element, attribute, pattern, replacement) {
    var value = element.getAttribute(attribute);
    if (value) { element.setAttribute(attribute, value.replace(pattern, replacement)); }
  }

  // WTForms names the fields of row n "<list>-<n>-<field>"; rewrite them all for row `index`.
  function renumber(container, list) {
    var prefix = container.id;
    var pattern = new RegExp("(^|\\s)" + prefix + "-\\d+-", "g");
    rowsOf(list).forEach(function (row, index) {
      var replacement = "$1" + prefix + "-" + index + "-";
      row.querySelectorAll("[id], [name], [for], [aria-describedby]").forEach(function (element) {
        ["id", "name", "for", "aria-describedby"].forEach(function (attribute) {
          renumberAttribute(element, attribute, pattern, replacement);
        });
      });
      var number = row.querySelector("[data-row-number]");
      if (number) { number.textContent = String(index + 1); }
      var legend = row.querySelector("legend");
      row.querySelectorAll("[data-row-name]").forEach(function (span) {
        span.textContent = " " + (legend ? legend.textContent.trim() : "");
      });
    });
  }

  // A blank copy of a row: values emptied, error marks and messages removed.
  function blankCopy(row) {
    var copy = row.cloneNode(true);
    copy.querySelectorAll("input, textarea, select").forEach(function (control) {
      if (control.type === "checkbox" || control.type === "radio") {
        control.checked = false;
      } else if (control.tagName === "SELECT") {
        control.selectedIndex = 0;
      } else {
        control.value = "";
      }
      control.removeAttribute("aria-invalid");
      var described = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
        return id && !/-error$/.test(id);
      });
      if (described.length) {
        control.setAttribute("aria-describedby", described.join(" "));
      } else {
        control.removeAttribute("aria-describedby");
      }
    });
    copy.querySelectorAll(".field-error").forEach(function (message) { message.remove(); });
    copy.querySelectorAll(".has-error").forEach(function (field) { field.classList.remove("has-error"); });
    copy.querySelectorAll(".row-actions").forEach(function (actions) { actions.remove(); });
    return copy;
  }

  function button(label, action) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = "btn btn-secondary btn-small";
    element.setAttribute("data-row-action", action);
    element.appendChild(document.createTextNode(label));
    var name = document.createElement("span");
    name.className = "visually-hidden";
    name.setAttribute("data-row-name", "");
    element.appendChild(name);
    return element;
  }

  function addActions(container, row) {
    var actions = document.createElement("div");
    actions.className = "row-actions";
    actions.appendChild(button(container.getAttribute("data-label-up"), "up"));
    actions.appendChild(button(container.getAttribute("data-label-down"), "down"));
    actions.appendChild(button(container.getAttribute("data-label-remove"), "remove"));
    row.appendChild(actions);
  }

  function firstControl(row) {
    return row.querySelector("input:not([type=hidden]), textarea, select");
  }

  function enhance(container) {
    var list = container.querySelector(".rows-list");
    var rows = rowsOf(list);
    if (!rows.length) { return; }
    var template = blankCopy(rows[rows.length - 1]);
    rows.forEach(function (row) { addActions(container, row); });

    var add = document.createElement("button");
    add.type = "button";
    add.className = "btn btn-secondary btn-small rows-add";
    add.textContent = container.getAttribute("data-label-add");
    container.appendChild(add);
    add.addEventListener("click", function () {
      var row = template.cloneNode(true);
      addActions(container, row);
      list.appendChild(row);
      renumber(container, list);
      var control = firstControl(row);
      if (control) { control.focus(); }
    });

    list.addEventListener("click", function (event) {
      var target = event.target.closest("[data-row-action]");
      if (!target) { return; }
      var row = target.closest("[data-row]");
      var action = target.getAttribute("data-row-action");
      if (action === "remove") {
        var next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumber(container, list);
        var focus = next ? next.querySelector("[data-row-action=remove]") : add;
        (focus || add).focus();
        return;
      }
      if (action === "up" && row.previousElementSibling) {
        list.insertBefore(row, row.previousElementSibling);
      } else if (action === "down" && row.nextElementSibling) {
        list.insertBefore(row.nextElementSibling, row);
      }
      renumber(container, list);
      target.focus();
    });
    renumber(container, list);
  }

  document.querySelectorAll("fieldset[data-rows]").forEach(enhance);
})();
