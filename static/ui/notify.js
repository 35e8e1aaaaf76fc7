// Notifications on every dashboard page: a toast, and a browser notification once the user
// allowed them (the "Enable notifications" button), when a run finishes or fails, from
// /ws/events/?type=run.changed (from the newest event on; after a dropped connection, from
// the last one seen), and when an agent asks a question (a QUESTION message on the bus of the
// page's project, <meta name="conductor-project">, from the newest message on). The tab's
// title counts the toasts not yet dismissed: "(2) Board · Conductor". A question's toast goes
// by itself once a message answers it (names it in its `parents`), from any tab or agent.
(function () {
  "use strict";
  const title = document.title;
  const FINAL = new Set([4400, 4401, 4403, 4404]);
  const ENDED = { success: "finished", failed: "failed", crashed: "crashed" };
  const box = document.createElement("div");
  box.id = "toasts";
  box.className = "toasts";
  box.setAttribute("aria-live", "polite"); // the toasts' one live region: the page's own
  box.setAttribute("aria-label", "Notifications"); // status notices stay the only role=status
  document.body.appendChild(box);

  function recount() {
    const count = box.querySelectorAll(".toast").length;
    document.title = count ? "(" + count + ") " + title : title;
  }

  function notify(kind, text, href, key) {
    const toast = document.createElement("div");
    toast.className = "toast " + kind;
    if (key) toast.dataset.key = key;
    const link = document.createElement("a");
    link.href = href;
    link.textContent = text;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "link";
    dismiss.textContent = "Dismiss";
    dismiss.addEventListener("click", function () {
      toast.remove();
      recount();
    });
    toast.append(link, " ", dismiss);
    box.appendChild(toast);
    recount();
    if (window.Notification && Notification.permission === "granted") {
      new Notification("Conductor", { body: text, tag: href });
    }
  }

  function offerPermission() {
    if (!window.Notification || Notification.permission !== "default") return;
    const ask = document.createElement("button");
    ask.type = "button";
    ask.className = "link notify-permission";
    ask.textContent = "Enable notifications";
    ask.addEventListener("click", function () {
      Notification.requestPermission().then(function () {
        ask.remove();
      });
    });
    const place = document.querySelector(".topbar .who") || box;
    place.prepend(ask);
  }

  function follow(path, cursor, onFrame) {
    window.conductorLive.follow(path, {
      cursor: cursor,
      frame: onFrame,
      closed: function (event) {
        if (FINAL.has(event.code)) return "stop";
        if (event.code === 4410) return "restart";
      },
    });
  }

  function runChanged(frame) {
    if (frame.type === "ready") box.dataset.following = "events";  // for the browser tests
    const run = frame.payload;
    if (!run || frame.type !== "run.changed" || !ENDED[run.status]) return;
    if (run.kind !== "agent" && run.status === "success") return;
    const kind = run.status === "success" ? "finished" : "failed";
    const text = "Run " + run.run_id + " of " + run.project_id + "/" + run.task_id + " " + ENDED[run.status];
    notify(kind, text, "/ui/attempts/" + encodeURIComponent(run.attempt_id) + "/?run=" + encodeURIComponent(run.run_id));
  }

  function answered(parents) {
    let gone = false;
    box.querySelectorAll(".toast.question").forEach(function (toast) {
      if (parents.indexOf(toast.dataset.key) >= 0) {
        toast.remove();
        gone = true;
      }
    });
    if (gone) recount();
  }

  function questions(project) {
    const base = "/ui/projects/" + encodeURIComponent(project);
    fetch(base + "/messages/newest/", { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (newest) {
        if (!newest) return;
        follow("/ws/projects/" + encodeURIComponent(project) + "/messages/", newest.msg_id, function (frame) {
          const message = frame.message;
          if (frame.type !== "message" || !message) return;
          answered(message.parents || []);
          if (message.type !== "QUESTION") return;
          // Where it is answered: its task's page, or the project's messages (its own bus).
          const where = base + (message.task_id ? "/tasks/" + encodeURIComponent(message.task_id) + "/" : "/messages/");
          notify("question", "Question from an agent: " + message.body, where, message.msg_id);
        });
      });
  }

  offerPermission();
  follow("/ws/events/?type=run.changed", "", runChanged);
  const project = document.querySelector('meta[name="conductor-project"]');
  if (project) questions(project.content);
})();
