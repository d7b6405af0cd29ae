// Filter forms marked data-autosubmit apply as soon as a choice changes (progressive
// enhancement: without JavaScript the form keeps its "Filtrar" button).
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-autosubmit]");
  Array.prototype.forEach.call(forms, function (form) {
    var button = form.querySelector("[data-autosubmit-button]");
    if (button) { button.hidden = true; }
    form.addEventListener("change", function (event) {
      if (event.target.matches("select, input[type=checkbox], input[type=radio], input[type=search]")) {
        if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
      }
    });
  });
})();
