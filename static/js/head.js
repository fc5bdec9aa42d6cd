// Runs in <head>, before the first paint: marks the page as scripted (the narrow header folds its menu
// behind a button only then; without JavaScript the menu stays open below the header), and applies the
// colour scheme chosen with the header's switch (static/js/app.js), so a dark page never flashes light.
document.documentElement.classList.add("js");
{
  const chosen = document.cookie.match(/(?:^|;\s*)theme=(light|dark)(?:;|$)/);
  if (chosen) document.documentElement.dataset.theme = chosen[1];
}
