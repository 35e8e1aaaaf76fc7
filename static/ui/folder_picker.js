// The project form's folder picker (#folder-picker): browse the folders Conductor may read
// (the user's home and CONDUCTOR_BROWSE_ROOTS) and the git repositories found in and below
// the folder shown, and pick one to fill the "Repository folder" field. It calls the
// filesystem API with the page's session (/ui/api/v1/filesystem/roots, browse,
// repositories) through api.js; a refusal (a folder outside the roots, one that does not
// exist) is shown with the API's message, and the last listing stays. The typed path keeps
// working: the picker only fills the field. Without JavaScript the picker stays hidden.
(function () {
  "use strict";
  const picker = document.getElementById("folder-picker");
  if (!picker) return;
  const api = picker.dataset.api;
  const target = document.getElementById(picker.dataset.target);
  const idField = picker.dataset.fillId ? document.getElementById(picker.dataset.fillId) : null;
  const roots = picker.querySelector(".picker-roots");
  const up = picker.querySelector(".picker-up");
  const where = picker.querySelector(".picker-path");
  const error = picker.querySelector(".picker-error");
  const folders = picker.querySelector(".picker-folders");
  const repos = picker.querySelector(".picker-repos");
  let parent = null;
  let asked = 0; // a listing that comes back after a later one was asked for is dropped

  function read(path, query) {
    return window.conductorApi.call("GET", api + path + "?" + new URLSearchParams(query));
  }

  function item(label, className, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.textContent = label;
    button.addEventListener("click", onClick);
    return button;
  }

  function useButton(entry) {
    const button = item("Use", "picker-use", function () {
      pick(entry);
    });
    button.setAttribute("aria-label", "Use " + entry.path);
    return button;
  }

  function pick(entry) {
    target.value = entry.path;
    target.dispatchEvent(new Event("input", { bubbles: true }));
    if (idField && !idField.value) idField.value = entry.name.replace(/[^A-Za-z0-9_-]+/g, "-");
    target.focus();
  }

  function showError(body) {
    const allowed = body.details && body.details.roots ? " Folders you may browse: " + body.details.roots.join(", ") + "." : "";
    error.textContent = (body.error || "the folder cannot be listed") + "." + allowed;
    error.hidden = false;
  }

  function showFolder(answer) {
    where.textContent = answer.path;
    parent = answer.parent_path;
    up.disabled = !parent;
    const rows = answer.items.filter(function (entry) {
      return entry.is_directory;
    }).map(function (entry) {
      const row = document.createElement("li");
      row.append(item(entry.name + "/", "link picker-folder", function () {
        browse(entry.path, true);
      }));
      if (entry.is_git_repo) row.append(" ", badge("git"), " ", useButton(entry));
      return row;
    });
    if (!rows.length) rows.push(note("No folders here."));
    if (answer.has_more) rows.push(note("Only the first " + answer.items.length + " entries are listed."));
    folders.replaceChildren.apply(folders, rows);
  }

  function showRepositories(answer) {
    const rows = answer.repositories.map(function (entry) {
      const row = document.createElement("li");
      const path = document.createElement("span");
      path.className = "mono";
      path.textContent = entry.path;
      row.append(useButton(entry), " ", path);
      return row;
    });
    if (!rows.length) rows.push(note("No git repository in this folder or the three below it."));
    if (answer.truncated) rows.push(note("The search stopped early: go into a folder to see more."));
    repos.replaceChildren.apply(repos, rows);
  }

  function badge(text) {
    const span = document.createElement("span");
    span.className = "badge";
    span.textContent = text;
    return span;
  }

  function note(text) {
    const row = document.createElement("li");
    row.className = "muted";
    row.textContent = text;
    return row;
  }

  function browse(path, focusFirst) {
    const mine = ++asked;
    const query = path ? { path: path } : {};
    read("browse", Object.assign({ limit: "500" }, query))
      .then(function (answer) {
        if (mine !== asked) return;
        error.hidden = true;
        showFolder(answer);
        if (focusFirst) {
          const first = folders.querySelector("button") || up;
          first.focus();
        }
        repos.replaceChildren(note("Looking for repositories…"));
        return read("repositories", { path: answer.path }).then(function (found) {
          if (mine === asked) showRepositories(found);
        });
      })
      .catch(function (body) {
        if (mine === asked) showError(body);
      });
  }

  function step(current, by) {
    const buttons = Array.from(folders.querySelectorAll("button.picker-folder"));
    const at = buttons.indexOf(current);
    const next = buttons[at + by];
    if (next) next.focus();
  }

  folders.addEventListener("keydown", function (event) {
    const button = event.target.closest("button.picker-folder");
    if (event.key === "ArrowDown" && button) step(button, 1);
    else if (event.key === "ArrowUp" && button) step(button, -1);
    else if (event.key === "Backspace" && parent) browse(parent, true);
    else return;
    event.preventDefault();
  });
  up.addEventListener("click", function () {
    if (parent) browse(parent, true);
  });
  picker.querySelector(".picker-typed").addEventListener("click", function () {
    browse(target.value.trim(), true);
  });
  roots.addEventListener("change", function () {
    browse(roots.value, false);
  });

  picker.hidden = false;
  read("roots", {})
    .then(function (answer) {
      answer.roots.forEach(function (root) {
        const option = document.createElement("option");
        option.value = option.textContent = root;
        roots.append(option);
      });
      const typed = target.value.trim();
      browse(typed.startsWith("/") ? typed : answer.roots[0], false);
    })
    .catch(showError);
})();
