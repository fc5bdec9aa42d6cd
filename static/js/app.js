// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Escape closes an open menu (<details class="user-menu">) and puts focus back on its button when focus
// was inside it; a click outside closes it too.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.user-menu[open]")) {
    const hadFocus = menu.contains(document.activeElement);
    menu.open = false;
    if (hadFocus) menu.querySelector("summary").focus();
  }
});
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.user-menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});

// The elapsed time of a running generation counts every second between the status page's polls (each
// poll brings the server's figure, so the count never drifts far).
setInterval(() => {
  for (const counter of document.querySelectorAll("[data-elapsed]")) {
    const seconds = Number(counter.dataset.elapsed) + 1;
    counter.dataset.elapsed = String(seconds);
    counter.textContent = `${seconds} s`;
  }
}, 1000);
