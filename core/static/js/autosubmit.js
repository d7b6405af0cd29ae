// Filter forms marked data-autosubmit apply as soon as a choice changes (progressive
// enhancement: without JavaScript the form keeps its "Filtrar" button). The button is
// hidden only when every field applies by itself; a form with dates or free text (the
// audit log) keeps it, as the way to apply those.
(function () {
  "use strict";
  var APPLIES = "select, input[type=checkbox], input[type=radio], input[type=search]";
  var forms = document.querySelectorAll("form[data-autosubmit]");
  Array.prototype.forEach.call(forms, function (form) {
    var button = form.querySelector("[data-autosubmit-button]");
    var fields = form.querySelectorAll("input:not([type=hidden]), select, textarea");
    var allApply = Array.prototype.every.call(fields, function (field) { return field.matches(APPLIES); });
    if (button && allApply) { button.hidden = true; }
    form.addEventListener("change", function (event) {
      if (event.target.matches(APPLIES)) {
        if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
      }
    });
  });
})();
