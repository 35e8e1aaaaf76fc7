// An attempt's review page (runs/templates/runs/attempt_review.html): its branch status, its
// diff (a file tree, then each file drawn by diff2html with highlight.js, unified or side by
// side), and the landing actions, each asked for in a dialog and posted to the attempts API
// (mounted for the signed-in session under /ui/api/v1/, so it works with an API key set).
// A refused action shows the API's `error` and git's own message (`details.git`). The diff
// is live from the attempt's diff stream (/ws/attempts/<a>/diff/), with no polling.
(function () {
  "use strict";
  const STATUS_MS = 1000;
  const root = document.getElementById("review");
  const api = root.dataset.api;
  const $ = function (id) { return document.getElementById(id); };
  const KINDS = { added: "A", modified: "M", deleted: "D", renamed: "R", copied: "C" };
  const STRATEGIES = { squash: "squash", merge: "a merge commit", rebase: "rebase and fast-forward" };
  let status = null; // the last branch status read
  let view = localStorage.getItem("conductor.diffView") || "line-by-line";
  const drawn = new Map(); // path -> {json, element}
  const fileOf = new WeakMap(); // a file's block -> the file, as the API gave it

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (key === "text") node.textContent = value; else node.setAttribute(key, value);
    });
    (children || []).forEach(function (child) { if (child) node.append(child); });
    return node;
  }

  function short(sha) { return sha ? sha.slice(0, 10) : "—"; }

  // Talking to the API, through the dashboard's one API client (api.js): JSON both ways; a
  // refusal, a lost connection included, is thrown as the house error body.
  function call(method, path, body) { return window.conductorApi.call(method, api + path, body); }

  function showFailure(error) {
    const box = $("failure");
    const details = error.details || {};
    box.replaceChildren(el("p", { text: error.error || String(error) }));
    if (Array.isArray(details.conflicted_files) && details.conflicted_files.length) {
      box.append(el("p", { text: "Conflicted files:" }),
        el("ul", {}, details.conflicted_files.map(function (f) { return el("li", { text: f }); })));
    }
    const git = Array.isArray(details.git) ? details.git.join("\n") : details.git;
    if (git) box.append(el("pre", { class: "git-message", text: git }));
    box.hidden = false;
    $("outcome").hidden = true;
  }

  function showOutcome(text) {
    $("failure").hidden = true;
    $("outcome").textContent = text;
    $("outcome").hidden = false;
  }

  // The attempt's header: status, target, merge and pull request.

  function showAttempt(attempt) {
    $("attempt-status").textContent = attempt.status;
    $("attempt-status").className = "badge " + attempt.status;
    $("target-branch").textContent = attempt.target_branch || "—";
    $("branch").textContent = attempt.branch || "—";
    $("operation").textContent = attempt.operation ? attempt.operation + " in progress" : "";
    const merged = $("merged");
    merged.hidden = !attempt.merge_commit;
    if (attempt.merge_commit) {
      merged.replaceChildren("Merged into " + attempt.target_branch + " as ",
        el("code", { text: short(attempt.merge_commit) }), " (" + attempt.merge_strategy + ").");
    }
    const pr = $("pull-request");
    pr.hidden = !attempt.pr_url;
    if (attempt.pr_url) {
      const web = /^https?:\/\//.test(attempt.pr_url); // never a javascript: link
      pr.replaceChildren("Pull request ", web ? el("a", { href: attempt.pr_url, text: attempt.pr_url }) : attempt.pr_url,
        " (" + (attempt.pr_state || "open") + ").");
    }
  }

  // Branch status.

  function fact(list, term, value, tone) {
    list.append(el("dt", { text: term }), el("dd", tone ? { class: tone } : {}, [value]));
  }

  function count(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function showStatus(s) {
    status = s;
    const list = $("branch-status");
    list.replaceChildren();
    list.removeAttribute("aria-busy");
    const target = s.target_branch;
    fact(list, "Ahead of " + target, count(s.commits_ahead, "commit"));
    fact(list, "Behind " + target, count(s.commits_behind, "commit"), s.commits_behind ? "warn" : "");
    fact(list, "Target moved", s.target_moved ? target + " moved since the attempt began" : "no",
      s.target_moved ? "warn" : "");
    fact(list, "Uncommitted", count(s.uncommitted_count, "file"), s.uncommitted_count ? "warn" : "");
    fact(list, "Untracked", count(s.untracked_count, "file"));
    fact(list, "Head", el("code", { text: short(s.head_commit) }));
    fact(list, "Target", el("code", { text: short(s.target_commit) }));
    if (!s.worktree_present) fact(list, "Worktree", "removed: read from the branch", "warn");
    const stopped = s.operation_in_progress;
    fact(list, "In progress", stopped ? stopped.replace("_", "-") + " stopped on conflicts" : "nothing",
      stopped ? "bad" : "");
    $("conflicts").hidden = !stopped;
    $("conflicts-title").textContent = stopped ? "A " + stopped.replace("_", "-") + " is stopped on conflicts" : "";
    $("conflicted-files").replaceChildren.apply($("conflicted-files"),
      (s.conflicted_files || []).map(function (f) { return el("li", {}, [el("code", { text: f })]); }));
  }

  function statusFailed(error) {
    const list = $("branch-status");
    list.removeAttribute("aria-busy");
    list.replaceChildren(el("dt", { text: "Unavailable" }), el("dd", { class: "bad", text: error.error || String(error) }));
  }

  // The diff: a tree of the changed files, then each file drawn when it scrolls into view.

  function pathOf(file) { return file.new_path !== null ? file.new_path : file.old_path; }

  function shown(path) { return path.replace(/\n/g, "\\n"); } // one line in a patch header

  function patchOf(file) {
    const oldPath = shown(file.old_path !== null ? file.old_path : file.new_path);
    const newPath = shown(pathOf(file));
    const lines = ["diff --git a/" + oldPath + " b/" + newPath];
    if (file.change === "added") lines.push("new file mode " + file.new_mode);
    if (file.change === "deleted") lines.push("deleted file mode " + file.old_mode);
    if (file.change === "renamed" || file.change === "copied") {
      const verb = file.change === "renamed" ? "rename" : "copy";
      lines.push("similarity index " + file.similarity + "%", verb + " from " + oldPath, verb + " to " + newPath);
    }
    lines.push(file.change === "added" ? "--- /dev/null" : "--- a/" + oldPath);
    lines.push(file.change === "deleted" ? "+++ /dev/null" : "+++ b/" + newPath);
    const patch = Diff.structuredPatch(oldPath, newPath, file.old_content || "", file.new_content || "",
      undefined, undefined, { context: 3 });
    patch.hunks.forEach(function (h) {
      lines.push("@@ -" + h.oldStart + "," + h.oldLines + " +" + h.newStart + "," + h.newLines + " @@");
      lines.push.apply(lines, h.lines);
    });
    return { text: lines.join("\n") + "\n", hunks: patch.hunks.length };
  }

  function note(file) {
    if (file.content_omitted === "binary") return "Binary file: not shown.";
    if (file.content_omitted === "too_large") return "Too large to show here (" + file.additions + " additions, " + file.deletions + " deletions).";
    if (file.old_content === null && file.new_content === null) return "No content to show.";
    return "";
  }

  function draw(file, body) {
    const why = note(file);
    if (why) { body.replaceChildren(el("p", { class: "muted", text: why })); return; }
    const patch = patchOf(file);
    if (!patch.hunks) { body.replaceChildren(el("p", { class: "muted", text: "Content unchanged." })); return; }
    const ui = new Diff2HtmlUI(body, patch.text, {
      outputFormat: view, drawFileList: false, matching: "lines", highlight: true,
      fileContentToggle: false, synchronisedScroll: true, colorScheme: "auto",
    }, window.hljs);
    ui.draw();
  }

  const observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      observer.unobserve(entry.target);
      const body = entry.target.querySelector(".file-body");
      draw(fileOf.get(entry.target), body);
      entry.target.classList.add("drawn");
    });
  }, { rootMargin: "800px 0px" });

  function kindLabel(file) {
    return el("span", { class: "kind kind-" + file.change, title: file.change, "aria-label": file.change,
      text: KINDS[file.change] || "?" });
  }

  function stats(file) {
    return el("span", { class: "stats-pair" }, [
      el("span", { class: "add", text: "+" + file.additions }), " ",
      el("span", { class: "del", text: "−" + file.deletions }),
    ]);
  }

  function fileName(file) {
    if (file.change === "renamed" || file.change === "copied") return file.old_path + " → " + file.new_path;
    return pathOf(file);
  }

  function fileBlock(file, index) {
    const block = el("section", { class: "diff-file", id: "file-" + index, "data-path": pathOf(file),
      "aria-label": fileName(file) }, [
      el("header", { class: "file-head row" }, [kindLabel(file), el("code", { text: fileName(file) }),
        file.content_omitted ? el("span", { class: "badge", text: file.content_omitted.replace("_", " ") }) : null,
        el("span", { class: "spacer" }), stats(file)]),
      el("div", { class: "file-body" }, [el("p", { class: "muted", text: "…" })]),
    ]);
    fileOf.set(block, file);
    observer.observe(block);
    return block;
  }

  function tree(files) {
    // Folders first, then files, each level sorted; a folder with one child folder is merged.
    const top = { dirs: new Map(), files: [] };
    files.forEach(function (file, index) {
      const parts = pathOf(file).split("/");
      let node = top;
      parts.slice(0, -1).forEach(function (part) {
        if (!node.dirs.has(part)) node.dirs.set(part, { dirs: new Map(), files: [] });
        node = node.dirs.get(part);
      });
      node.files.push({ name: parts[parts.length - 1], file: file, index: index });
    });
    return top;
  }

  function treeList(node) {
    const list = el("ul");
    Array.from(node.dirs.keys()).sort().forEach(function (name) {
      list.append(el("li", { class: "dir" }, [el("span", { class: "dir-name", text: name + "/" }), treeList(node.dirs.get(name))]));
    });
    node.files.sort(function (a, b) { return a.name < b.name ? -1 : 1; }).forEach(function (entry) {
      const file = entry.file;
      const link = el("a", { href: "#file-" + entry.index, title: fileName(file) }, [kindLabel(file), " ",
        el("span", { class: "name", text: entry.name }), " ", stats(file)]);
      const extra = [];
      if (file.old_path !== null && file.new_path !== null && file.old_path !== file.new_path) {
        extra.push(el("span", { class: "from muted", text: "from " + file.old_path }));
      }
      if (file.content_omitted) extra.push(el("span", { class: "badge", text: file.content_omitted.replace("_", " ") }));
      list.append(el("li", { class: "file", "data-path": pathOf(file) }, [link].concat(extra)));
    });
    return list;
  }

  function showDiff(diff) {
    const t = diff.totals;
    $("diff-totals").textContent = count(t.files, "file") + " changed, +" + t.additions + " −" + t.deletions;
    const source = $("diff-source");
    source.hidden = diff.source !== "snapshot";
    source.textContent = diff.source === "snapshot" ? "From the snapshot stored when the last run ended: " + (diff.stale_reason || "") : "";
    const nav = $("file-tree");
    nav.replaceChildren(diff.files.length ? treeList(tree(diff.files)) : el("p", { class: "muted", text: "No changes." }));
    const container = $("diff-files");
    const keep = new Map();
    const blocks = diff.files.map(function (file, index) {
      const json = JSON.stringify(file);
      const before = drawn.get(pathOf(file));
      const block = before && before.json === json && before.element.id === "file-" + index ? before.element : fileBlock(file, index);
      keep.set(pathOf(file), { json: json, element: block });
      return block;
    });
    drawn.forEach(function (entry, path) { if (!keep.has(path)) observer.unobserve(entry.element); });
    drawn.clear();
    keep.forEach(function (entry, path) { drawn.set(path, entry); });
    container.replaceChildren.apply(container, blocks);
  }

  function redrawAll() {
    drawn.forEach(function (entry) {
      entry.element.classList.remove("drawn");
      observer.unobserve(entry.element);
      observer.observe(entry.element);
    });
  }

  function diffFailed(error) {
    $("file-tree").replaceChildren(el("p", { class: "bad", text: "The diff is unavailable: " + (error.error || String(error)) }));
  }

  // Reading it. The diff is live from the attempt's diff stream (/ws/attempts/<a>/diff/):
  // the whole diff first (`snapshot`), then only the files that changed (`files`), and `done`
  // once nothing runs; the branch status and the attempt are read again as changes come (at
  // most every STATUS_MS) and at `done`. A connection lost is opened again after a read of
  // the diff over HTTP, so the page is never older than that read while the stream is away.

  function readState() {
    return Promise.all([
      call("GET", "").then(showAttempt, function () {}),
      call("GET", "/branch-status").then(showStatus, statusFailed),
    ]);
  }

  // A read is dropped when a live frame came while it was on its way: the frame is newer.
  function readDiff() {
    const at = frames;
    return call("GET", "/diff").then(function (read) {
      if (frames === at) { diff = read; showDiff(read); }
    }, diffFailed);
  }

  function refresh() { return Promise.all([readState(), readDiff()]); }

  let statusTimer = null;
  function stateSoon() {
    if (statusTimer === null) statusTimer = setTimeout(function () { statusTimer = null; readState(); }, STATUS_MS);
  }

  function totals(files) {
    return files.reduce(function (sum, file) {
      return { files: sum.files + 1, additions: sum.additions + file.additions, deletions: sum.deletions + file.deletions };
    }, { files: 0, additions: 0, deletions: 0 });
  }

  // A `files` frame: every entry at or under one of its `paths` goes, then its `files` come.
  function applied(held, frame) {
    const gone = function (path) {
      return path !== null && frame.paths.some(function (changed) { return path === changed || path.startsWith(changed + "/"); });
    };
    const files = held.files.filter(function (file) { return !gone(file.old_path) && !gone(file.new_path); })
      .concat(frame.files)
      .sort(function (a, b) { return pathOf(a) < pathOf(b) ? -1 : pathOf(a) > pathOf(b) ? 1 : 0; });
    return Object.assign({}, held, { files: files, totals: totals(files), source: "worktree",
      head_commit: frame.head_commit, base_commit: frame.base_commit });
  }

  let diff = null; // the diff as last shown
  let frames = 0; // live frames applied
  // A frame of the stream: the worktree as it is now is shown; a stored snapshot (sent first,
  // and when a run ends) is where an HTTP read takes over: the worktree may have moved on
  // since (a rebase, a merge), and GET …/diff falls back on that snapshot by itself.
  function liveFrame(frame) {
    if (frame.type === "snapshot") {
      if (frame.diff && frame.diff.source === "worktree") { frames++; diff = frame.diff; showDiff(diff); } else readDiff();
    } else if (frame.type === "files") {
      if (diff) { frames++; diff = applied(diff, frame); showDiff(diff); } else readDiff();
      stateSoon();
    } else if (frame.type === "done") {
      readState();
    }
  }

  // The stream, through the dashboard's one WebSocket client (live.js). The diff is a state,
  // not a log: each connection starts from its snapshot (`resume: false`), so a lost one is
  // opened again and its first frame, the stored snapshot, brings the read. It stops at `done`
  // (the server then closes with 1000) and when refused (4400-4499: read once instead); once
  // stopped, `live()` follows it anew (after an action, or Refresh).
  let following = false;
  function live() {
    if (following) return;
    following = true;
    let finished = false;
    const stopped = function () { following = false; return "stop"; };
    window.conductorLive.follow("/ws/attempts/" + root.dataset.attempt + "/diff/", {
      resume: false,
      frame: function (frame) {
        if (frame.type === "done") finished = true;
        liveFrame(frame);
      },
      closed: function (event) {
        if (finished || event.code === 1000) return stopped();
        if (event.code >= 4400 && event.code < 4500) { readDiff(); return stopped(); }
      },
    });
  }

  // The actions: a dialog asks first; then the post, and what it did or why it was refused.

  function confirmed(text) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal(); // the focus starts on Cancel: Enter alone changes nothing
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () { resolve(dialog.returnValue === "ok"); }, { once: true });
    });
  }

  function bodyOf(action, form) {
    const data = form ? new FormData(form) : new FormData();
    const text = function (name) { return (data.get(name) || "").trim(); };
    const body = {};
    if (action === "merge") {
      body.strategy = data.get("strategy");
      if (data.get("message").trim()) body.message = data.get("message");
      if (status && status.target_commit) body.expected_target_commit = status.target_commit;
    } else if (action === "push") {
      body.force = data.get("force") === "on";
    } else if (action === "pr") {
      ["title", "body", "base"].forEach(function (name) { if (text(name)) body[name] = text(name); });
    } else if (action === "pr/attach") {
      const pr = text("pr");
      if (/^\d+$/.test(pr)) body.number = Number(pr); else if (pr) body.url = pr;
    } else if (action === "change-target-branch") {
      body.target_branch = text("target_branch");
    }
    return body;
  }

  function question(action, body) {
    const branch = $("branch").textContent, target = $("target-branch").textContent;
    switch (action) {
      case "merge": return "Merge " + branch + " into " + target + " with " + STRATEGIES[body.strategy] + "?";
      case "rebase": return "Rebase " + branch + " onto " + target + " in the attempt's worktree?";
      case "rebase/continue": return "Continue the rebase? Everything in the worktree is staged.";
      case "conflicts/abort": return "Abort the stopped operation? The worktree goes back to where it was before.";
      case "push": return "Push " + branch + " to the remote" + (body.force ? ", replacing the remote branch (force with lease)?" : "?");
      case "pr": return "Push " + branch + " and open a pull request into " + (body.base || target) + "?";
      case "pr/attach": return "Attach " + (body.number || body.url || "the branch's own pull request") + " to this attempt?";
      case "change-target-branch": return "Compare with and merge into " + body.target_branch + " from now on?";
    }
    return action + "?";
  }

  function told(action, answer) {
    switch (action) {
      case "merge": return "Merged into " + answer.merged.target + " as " + short(answer.merged.commit) + " (" + answer.merged.strategy + ").";
      case "rebase": case "rebase/continue": return "Rebased: " + answer.branch + " is now on " + short(answer.rebased.onto) + ".";
      case "conflicts/abort": return "Aborted the " + answer.aborted + ": the worktree is back where it was.";
      case "push": return "Pushed " + answer.pushed.branch + " (" + short(answer.pushed.commit) + ") to " + answer.pushed.remote + ".";
      case "pr": case "pr/attach": return "Pull request: " + answer.pr_url;
      case "change-target-branch": return "The target is now " + answer.target_branch + ".";
    }
    return "Done.";
  }

  function act(action, form, button) {
    const body = bodyOf(action, form);
    confirmed(question(action, body)).then(function (yes) {
      if (!yes) { button.focus(); return; }
      button.disabled = true;
      call("POST", "/" + action, body).then(function (answer) {
        showAttempt(answer);
        showOutcome(told(action, answer));
      }, showFailure).then(refresh).then(function () {
        button.disabled = false;
        button.focus();
        live();
      });
    });
  }

  root.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-action]");
    if (!form) return;
    event.preventDefault();
    act(form.dataset.action, form, form.querySelector('[type="submit"]'));
  });
  root.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    if (button) act(button.dataset.action, null, button);
  });
  $("refresh").addEventListener("click", function () { refresh().then(live); });
  document.querySelectorAll('input[name="diff-view"]').forEach(function (input) {
    input.checked = input.value === view;
    input.addEventListener("change", function () {
      view = input.value;
      localStorage.setItem("conductor.diffView", view);
      redrawAll();
    });
  });

  readState();
  live();
})();
