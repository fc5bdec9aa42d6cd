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
    // The page's language gives the unit ("SECONDS s" in English), so the count reads right in Arabic too.
    counter.textContent = (counter.dataset.elapsedFormat || "SECONDS s").replace("SECONDS", String(seconds));
  }
}, 1000);

// Filters that apply as they are chosen: a select or checkbox in a form[data-autosubmit] submits it (the
// form's Apply button stays, for the search field and for pages without JavaScript).
for (const form of document.querySelectorAll("form[data-autosubmit]")) {
  form.addEventListener("change", (event) => {
    if (event.target.matches("select, input[type=checkbox]")) form.requestSubmit();
  });
}

// The gallery's viewer: a thumbnail opens its image large in a <dialog> instead of the image's page.
// The arrow keys (mirrored on a right-to-left page) or the buttons move through this page's avatars; Escape, the close button or a
// click on the backdrop closes it, and focus goes to the thumbnail of the avatar last shown.
const viewer = document.getElementById("viewer");
if (viewer && typeof viewer.showModal === "function") {
  const links = [...document.querySelectorAll("[data-viewer-list] a[data-full]")];
  const part = (name) => viewer.querySelector(`[data-viewer-${name}]`);
  const [previous, next] = [part("previous"), part("next")];
  let current = 0;

  const show = (index) => {
    if (index < 0 || index >= links.length) return;
    current = index;
    const link = links[index];
    const image = part("image");
    image.src = link.dataset.full;
    image.alt = link.querySelector("img").alt;
    part("title").textContent = image.alt;
    part("meta").textContent = link.dataset.meta;
    part("position").textContent = viewer.dataset.position
      .replace("{n}", String(index + 1))
      .replace("{total}", String(links.length));
    part("page").href = link.getAttribute("href");
    part("download").href = `${link.dataset.full}?download=1`;
    // aria-disabled, not disabled: a focused button that became disabled would drop focus out of the dialog.
    previous.setAttribute("aria-disabled", String(index === 0));
    next.setAttribute("aria-disabled", String(index === links.length - 1));
  };

  links.forEach((link, index) => {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      show(index);
      viewer.showModal();
    });
  });
  previous.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  part("close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("click", (event) => {
    if (event.target !== viewer) return;
    const box = viewer.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) viewer.close(); // a click on the backdrop
  });
  viewer.addEventListener("keydown", (event) => {
    // The arrow that points towards the Next button moves on: Right on a left-to-right page, Left on a
    // right-to-left one (Arabic), where the Next button sits on the left.
    const forward = viewer.matches(":dir(rtl)") ? "ArrowLeft" : "ArrowRight";
    const back = forward === "ArrowLeft" ? "ArrowRight" : "ArrowLeft";
    if (event.key === back) show(current - 1);
    else if (event.key === forward) show(current + 1);
    else return;
    event.preventDefault();
  });
  viewer.addEventListener("close", () => links[current].focus());
}
