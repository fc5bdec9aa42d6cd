// Runs in <head>, before the first paint: marks the page as scripted (the narrow header folds its menu
// behind a button only then; without JavaScript the menu stays open below the header).
document.documentElement.classList.add("js");
