// Asks before a form that cannot be undone is sent (opt-out, cancelling a campaign).
// The question is the form's data-confirm attribute: a file, not an inline handler, so
// the console's Content-Security-Policy can forbid inline script altogether.
document.addEventListener(
  "submit",
  function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  },
  true
);
