// The copy buttons of Rota's pages: a button with data-copy="ID" copies the text of element
// ID. Without this script the text is still there to select; the button stays hidden.
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var target = document.getElementById(button.getAttribute("data-copy"));
  if (!target || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      button.setAttribute("aria-live", "polite");
      button.textContent = button.getAttribute("data-copied") || button.textContent;
    });
  });
});
