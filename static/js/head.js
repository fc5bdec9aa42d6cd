// Runs in <head>, before the first paint: marks the page as scripted (the narrow header folds its menu
// behind a button only then; without JavaScript the menu stays open below the header), and applies the
// colour scheme chosen with the header's switch (static/js/app.js), so a dark page never flashes light.
document.documentElement.classList.add("js");
{
  const chosen = document.cookie.match(/(?:^|;\s*)theme=(light|dark)(?:;|$)/);
  if (chosen) document.documentElement.dataset.theme = chosen[1];
}
// The browser's time zone, for the server to show times in (accounts/preferences.py): a cookie, written
// only when it changes. A signed-in user's saved zone (Language and time zone page) wins over it.
{
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    zone = "";
  }
  const sent = document.cookie.match(/(?:^|;\s*)tz=([^;]*)/);
  if (zone && (!sent || decodeURIComponent(sent[1]) !== zone)) {
    document.cookie = `tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; SameSite=Lax`;
  }
}
