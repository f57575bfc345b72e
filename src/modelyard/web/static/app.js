// Modelyard web UI: progressive enhancement only; every form works without this script.
"use strict";

function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const status = button.parentElement.querySelector(".copied");
      const text = source ? source.textContent : "";
      let ok = false;
      try {
        await navigator.clipboard.writeText(text);
        ok = true;
      } catch (error) {
        // Clipboard API refused (e.g. not a secure context): select the text for Ctrl+C.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        ok = document.execCommand && document.execCommand("copy");
      }
      if (status) status.textContent = ok ? "Copied" : "Selected: press Ctrl+C to copy";
    });
  }
}

// Moving an alias first asks the server whether the version can carry it (it exists and,
// in Unity Catalog, is READY), then asks the user, naming the version it leaves and the one it
// moves to. Without this script the form posts at once and the server still refuses a bad one.
function setUpAliasConfirmation() {
  const form = document.querySelector("form[data-confirm-alias]");
  const dialog = document.getElementById("alias-dialog");
  if (!form || !dialog || typeof dialog.showModal !== "function") return;
  const current = JSON.parse(form.dataset.current || "{}");
  const error = document.getElementById("alias-error");
  let confirmed = false;

  function refuse(message) {
    error.textContent = message;
    error.hidden = false;
    form.elements.version.setAttribute("aria-invalid", "true");
    form.elements.version.focus();
  }

  async function check(alias, version) {
    const query = new URLSearchParams({alias, version});
    try {
      const answer = await fetch(`${form.dataset.check}?${query}`,
                                 {headers: {Accept: "application/json"},
                                  credentials: "same-origin"});
      return await answer.json();
    } catch (failure) {
      return {ok: true};  // the server will still refuse on submit; do not block the form
    }
  }

  form.addEventListener("submit", async (event) => {
    if (confirmed) return;
    event.preventDefault();
    error.hidden = true;
    form.elements.version.removeAttribute("aria-invalid");
    const alias = form.elements.alias.value.trim();
    const version = form.elements.version.value.trim();
    const verdict = await check(alias, version);
    if (!verdict.ok) {
      refuse(verdict.message);
      return;
    }
    const old = current[alias];
    const text = document.getElementById("alias-dialog-text");
    if (old === undefined) {
      text.textContent = `Create @${alias} pointing to version ${version}?`;
    } else if (String(old) === version) {
      text.textContent = `@${alias} already points to version ${version}. Set it again?`;
    } else {
      text.textContent = `Move @${alias}: version ${old} → version ${version}. ` +
        "Everything that loads this alias will get the new version.";
    }
    dialog.showModal();
    document.getElementById("alias-confirm").focus();
  });
  document.getElementById("alias-confirm").addEventListener("click", () => {
    confirmed = true;
    dialog.close();
    form.requestSubmit();
  });
  document.getElementById("alias-cancel").addEventListener("click", () => dialog.close());
}

// Deleting asks first, saying what goes. Without this script the form's own "Delete …"
// button, inside a closed "Delete this …" section, is the only safeguard.
function setUpDeleteConfirmation() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpAliasConfirmation();
  setUpDeleteConfirmation();
});
