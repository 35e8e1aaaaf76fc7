// The task form's `@tag` completion: typing `@` and the start of a tag's name in the prompt
// lists the matching tags (GET /ui/api/v1/tags?search=, the tags API for the session) under
// the textarea. ↑/↓ choose, Enter or Tab takes the chosen one, Escape closes the list; a
// click takes one too. The `@` is recognised as tasks/tags.py does (not after a letter,
// digit or one of ._%+-/@), and the server expands the tag when the task is submitted.
// Bound on the document, so a form htmx swapped in after an error completes as well.
(function () {
  "use strict";
  const TOKEN = /(?:^|[^A-Za-z0-9._%+\-/@])@([A-Za-z0-9_-]*)$/;
  const LIMIT = 8;
  let asked = 0;

  function listOf(textarea) {
    return document.getElementById(textarea.getAttribute("aria-controls"));
  }

  function tokenAtCaret(textarea) {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = TOKEN.exec(before);
    if (!match || textarea.selectionStart !== textarea.selectionEnd) return null;
    return { start: textarea.selectionStart - match[1].length - 1, query: match[1] };
  }

  function close(textarea) {
    asked++; // an answer still on its way must not open the list again
    const list = listOf(textarea);
    list.hidden = true;
    list.replaceChildren();
    textarea.setAttribute("aria-expanded", "false");
    textarea.removeAttribute("aria-activedescendant");
  }

  function choose(textarea, index) {
    const options = Array.from(listOf(textarea).children);
    options.forEach(function (option, i) {
      option.setAttribute("aria-selected", String(i === index));
    });
    if (options[index]) textarea.setAttribute("aria-activedescendant", options[index].id);
  }

  function chosen(textarea) {
    return listOf(textarea).querySelector('[aria-selected="true"]');
  }

  function take(textarea, option) {
    const token = tokenAtCaret(textarea);
    if (token) {
      textarea.setRangeText("@" + option.dataset.name + " ", token.start, textarea.selectionStart, "end");
    }
    close(textarea);
    textarea.focus();
  }

  function option(textarea, tag, index) {
    const item = document.createElement("li");
    item.id = "prompt-tag-" + index;
    item.setAttribute("role", "option");
    item.dataset.name = tag.name;
    const name = document.createElement("span");
    name.className = "mono";
    name.textContent = "@" + tag.name;
    const content = document.createElement("span");
    content.className = "muted";
    content.textContent = tag.content.slice(0, 80);
    item.append(name, " ", content);
    item.addEventListener("mousedown", function (event) {
      event.preventDefault(); // keep the caret in the textarea
      take(textarea, item);
    });
    return item;
  }

  function show(textarea, tags) {
    const list = listOf(textarea);
    if (!tags.length) return close(textarea);
    list.replaceChildren.apply(list, tags.map(function (tag, i) {
      return option(textarea, tag, i);
    }));
    list.hidden = false;
    textarea.setAttribute("aria-expanded", "true");
    choose(textarea, 0);
  }

  function complete(textarea) {
    const token = tokenAtCaret(textarea);
    if (!token) return close(textarea);
    const mine = ++asked;
    const query = new URLSearchParams({ search: token.query, limit: String(LIMIT) });
    fetch(listOf(textarea).dataset.tagsUrl + "?" + query, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { items: [] }; })
      .then(function (page) { if (mine === asked) show(textarea, page.items); })
      .catch(function () { if (mine === asked) close(textarea); });
  }

  function keyed(event) {
    const textarea = event.target;
    const list = listOf(textarea);
    if (list.hidden) return;
    const options = Array.from(list.children);
    const index = options.indexOf(chosen(textarea));
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      choose(textarea, (index + step + options.length) % options.length);
    } else if ((event.key === "Enter" || event.key === "Tab") && index >= 0) {
      take(textarea, options[index]);
    } else if (event.key === "Escape") {
      close(textarea);
    } else {
      return;
    }
    event.preventDefault();
  }

  function isPrompt(target) {
    return target instanceof HTMLTextAreaElement && target.getAttribute("aria-controls") === "prompt-tags";
  }

  document.addEventListener("input", function (event) {
    if (isPrompt(event.target)) complete(event.target);
  });
  document.addEventListener("keydown", function (event) {
    if (isPrompt(event.target)) keyed(event);
  });
  document.addEventListener("focusout", function (event) {
    if (isPrompt(event.target)) close(event.target);
  });
})();
