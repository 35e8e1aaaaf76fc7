// The board, live: it follows /ws/projects/<p>/board/ from the event id the page was read at
// (#board's data-cursor) and, when a task, attempt or run changes, reads the columns that
// hold it again from the server (the cards partial, with the board's filters), so a card
// made, moved, edited or deleted elsewhere, and its badges, show without a reload. After a
// dropped connection it reconnects with the last cursor it saw; a cursor older than the
// pruned event log (close 4410) reloads the page. Queue frames renumber the queued badges.
// A question asked or answered is its task's task.changed, so its card comes into a board
// filtered to "needs input", and goes, as its column is read again.
// The stats bar (#board-stats) is read again with the columns after any change. Nothing is
// read or replaced while a card is held (from the press to the drop): a column replaced then
// would drop the card being dragged, so a read that lands meanwhile is made again after it.
// A column (and the stats bar) has one read in flight at most: a change while it is out is
// read again once it lands, so an older answer never lands after a newer one (a run's
// "running" card over its "failed" one). A run's change for a task whose card is not shown
// yet reads the column its task.changed named.
(function () {
  "use strict";
  const board = document.getElementById("board");
  if (!board) return;
  const stats = document.getElementById("board-stats");
  const FINAL = new Set([4401, 4403, 4404]);
  const cursor = board.dataset.cursor;
  const dirty = new Set();
  let statsDirty = false;
  let shownStats = null;
  let timer = null;
  let dragging = false;
  const reading = new Set(); // the columns, and "stats", with a read in flight
  // Each task's column as its last task.changed said: a task made meanwhile has no card
  // until its column's read lands, and its run's changes before then must read it again.
  const told = new Map();

  function listOf(column) {
    return board.querySelector('.cards[data-column="' + column + '"]');
  }

  function columnOfTask(taskId) {
    const card = board.querySelector('.card[data-task="' + CSS.escape(taskId) + '"]');
    return card ? card.parentElement.dataset.column : told.get(taskId) || null;
  }

  // The column's cards become those of `html`; a card the same as one shown stays that very
  // element, so a click, hover or focus on it is never cut by a change elsewhere in the column.
  // False when nothing changed (the column is left alone).
  function reconcile(list, html) {
    const fresh = document.createElement("template");
    fresh.innerHTML = html;
    const shown = new Map();
    Array.from(list.children).forEach(function (node) {
      shown.set(node.dataset.task || node.className, node);
    });
    const nodes = Array.from(fresh.content.children).map(function (node) {
      const old = shown.get(node.dataset.task || node.className);
      return old && old.isEqualNode(node) ? old : node;
    });
    const current = Array.from(list.children);
    if (nodes.length === current.length && nodes.every((node, i) => node === current[i])) return false;
    list.replaceChildren.apply(list, nodes);
    return true;
  }

  function refresh(column) {
    const list = listOf(column);
    if (!list) return;
    const shown = list.querySelectorAll(".card").length;
    const query = new URLSearchParams(board.dataset.filters);
    query.set("offset", "0");
    query.set("limit", String(Math.min(Math.max(shown, 50), 500)));
    reading.add(column);
    fetch(board.dataset.columns + column + "/?" + query, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) return;
        return response.text().then(function (html) {
          if (dragging) {
            mark([column]);
            return;
          }
          const focused = list.contains(document.activeElement) && document.activeElement.closest(".card");
          if (reconcile(list, html)) {
            // A card moved with the keyboard keeps the focus, for its next move.
            const again = focused && list.querySelector('.card[data-task="' + CSS.escape(focused.dataset.task) + '"]');
            if (again && again !== document.activeElement) again.focus();
            if (window.htmx) window.htmx.process(list);
          }
          const count = list.closest(".column").querySelector(".count");
          count.textContent = response.headers.get("X-Column-Count") || count.textContent;
        });
      })
      .catch(function () {}) // the server gone: the next change reads it again
      .finally(function () {
        landed(column);
      });
  }

  function refreshStats() {
    reading.add("stats");
    fetch(stats.dataset.url, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (dragging) {
          statsDirty = true;
          mark([]);
          return;
        }
        if (html === null || html === shownStats) return;
        shownStats = html;
        stats.innerHTML = html;
      })
      .catch(function () {})
      .finally(function () {
        landed("stats");
      });
  }

  function landed(key) {
    reading.delete(key);
    if (dirty.size || statsDirty) mark([]);
  }

  function flush() {
    timer = null;
    if (dragging) {
      timer = window.setTimeout(flush, 200);
      return;
    }
    dirty.forEach(function (column) {
      if (reading.has(column)) return; // read again when the one out lands
      dirty.delete(column);
      refresh(column);
    });
    if (statsDirty && !reading.has("stats")) {
      statsDirty = false;
      refreshStats();
    }
  }

  function mark(columns) {
    columns.forEach(function (column) {
      if (column) dirty.add(column);
    });
    if (timer === null) timer = window.setTimeout(flush, 100);
  }

  function everyColumn() {
    return Array.from(board.querySelectorAll(".cards")).map(function (list) {
      return list.dataset.column;
    });
  }

  function queued(positions) {
    board.querySelectorAll(".card").forEach(function (card) {
      const badge = card.querySelector(".badge.queued");
      const position = positions[card.dataset.task];
      if (badge && position) badge.textContent = "queued #" + position;
      else if (badge || position) mark([card.parentElement.dataset.column]);
    });
  }

  function apply(frame) {
    const payload = frame.payload || {};
    if (frame.type !== "ready" && stats) {
      statsDirty = true;
      mark([]);
    }
    if (frame.type === "queue") {
      queued(frame.positions);
    } else if (frame.type === "task.changed") {
      mark([payload.column, columnOfTask(payload.task_id)]);
      if (payload.column) told.set(payload.task_id, payload.column);
    } else if (frame.type === "attempt.changed" || frame.type === "run.changed") {
      // With a run status filter (data-computed) a card may come into the board: every column
      // is read again. "needs input" follows questions, which are task.changed.
      mark("computed" in board.dataset ? everyColumn() : [columnOfTask(payload.task_id)]);
    }
  }

  function connect() {
    window.conductorLive.follow(board.dataset.stream, {
      cursor: cursor,
      frame: apply,
      closed: function (event) {
        if (event.code === 4410) return "reload";
        if (FINAL.has(event.code)) return "stop";
      },
    });
  }

  // SortableJS's own events, bubbling from the lists: `choose` on the press, before the drag
  // starts (a card replaced then never starts it), `unchoose` on the drop or release.
  board.addEventListener("choose", function () {
    dragging = true;
  });
  board.addEventListener("unchoose", function () {
    dragging = false;
  });
  connect();
})();
