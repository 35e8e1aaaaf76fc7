// Now, live: it follows /ws/events/ from the event id the page was read at (#now's
// data-cursor) and, when a run or an attempt changes anywhere (a task started, queued,
// admitted, ended, stopped), reads the page's body again (its partial, /ui/now/live/): a run
// started elsewhere appears, one that ended goes, without a reload. Changes within 0.1 s are
// read once. A row the same as one shown stays that very element, so a click on its Stop is
// never cut by a change elsewhere. After a dropped connection it reconnects with the last
// cursor it saw; a cursor older than the pruned event log (close 4410) reloads the page.
(function () {
  "use strict";
  const now = document.getElementById("now");
  if (!now) return;
  const FINAL = new Set([4400, 4401, 4403, 4404]);
  const CHANGES = new Set(["run.changed", "attempt.changed"]);
  const cursor = now.dataset.cursor;
  let timer = null;
  let reading = false;
  let again = false;

  // A row as compared: without its CSRF token, which differs in every rendering.
  function bare(row) {
    const copy = row.cloneNode(true);
    copy.querySelectorAll('input[name="csrfmiddlewaretoken"]').forEach((input) => input.remove());
    return copy;
  }

  // The body becomes `html`, keeping each row that did not change as the element shown.
  function apply(html) {
    const fresh = document.createElement("template");
    fresh.innerHTML = html;
    const shown = new Map();
    now.querySelectorAll("tr[data-run]").forEach((row) => shown.set(row.dataset.run, row));
    fresh.content.querySelectorAll("tr[data-run]").forEach((row) => {
      const old = shown.get(row.dataset.run);
      if (old && bare(old).isEqualNode(bare(row))) row.replaceWith(old);
    });
    now.replaceChildren(fresh.content);
  }

  function read() {
    timer = null;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    fetch(now.dataset.live, { credentials: "same-origin" })
      .then((response) => {
        if (response.redirected) return window.location.reload(); // signed out: the page says so
        return response.ok ? response.text().then(apply) : null;
      })
      .catch(() => null)
      .then(() => {
        reading = false;
        if (again) {
          again = false;
          read();
        }
      });
  }

  function changed() {
    if (timer === null) timer = window.setTimeout(read, 100);
  }

  function connect() {
    window.conductorLive.follow(now.dataset.stream, {
      cursor: cursor,
      frame: (frame) => {
        if (CHANGES.has(frame.type)) changed();
      },
      closed: (event) => {
        if (event.code === 4410) return "reload";
        if (FINAL.has(event.code)) return "stop";
      },
    });
  }

  connect();
})();
