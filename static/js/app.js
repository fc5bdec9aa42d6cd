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
    event.stopImmediatePropagation(); // one Escape closes one menu: the header's stays open
  }
});
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.user-menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});

// The narrow header's menu button: opens and closes the menu; Escape closes it and returns focus to it.
const menuToggle = document.querySelector(".menu-toggle");
if (menuToggle) {
  const siteMenu = document.getElementById(menuToggle.getAttribute("aria-controls"));
  menuToggle.addEventListener("click", () => {
    menuToggle.setAttribute("aria-expanded", String(menuToggle.getAttribute("aria-expanded") !== "true"));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || menuToggle.getAttribute("aria-expanded") !== "true") return;
    const hadFocus = siteMenu.contains(document.activeElement);
    menuToggle.setAttribute("aria-expanded", "false");
    if (hadFocus) menuToggle.focus();
  });
}

// The colour scheme switch: light, dark or the system's. The choice is a cookie for a year; head.js reads it.
const themeSwitch = document.getElementById("theme-switch");
if (themeSwitch) {
  themeSwitch.value = document.documentElement.dataset.theme || "system";
  themeSwitch.addEventListener("change", () => {
    const theme = themeSwitch.value;
    if (theme === "light" || theme === "dark") {
      document.documentElement.dataset.theme = theme;
      document.cookie = `theme=${theme}; path=/; max-age=31536000; SameSite=Lax`;
    } else {
      delete document.documentElement.dataset.theme;
      document.cookie = "theme=; path=/; max-age=0; SameSite=Lax";
    }
  });
}

// The elapsed time of a running generation counts every second between the status page's polls (each
// poll brings the server's figure, so the count never drifts far).
setInterval(() => {
  for (const counter of document.querySelectorAll("[data-elapsed]")) {
    const seconds = Number(counter.dataset.elapsed) + 1;
    counter.dataset.elapsed = String(seconds);
    counter.textContent = `${seconds} s`;
  }
}, 1000);
