// A message bus as threads (the task page: the task's bus; the project's messages page: the
// project's buses merged), from messagebus/templates/messagebus/bus.html.
//
// It reads the newest page of the bus (`data-page`, newest 50; "Show earlier" reads the page
// before the oldest shown), then follows the bus's WebSocket (`data-socket`) from the newest
// message it read; after a dropped connection it reconnects from the last one seen, so no
// message is lost or shown twice (each is shown once, by msg_id). A thread is a message and
// the replies that name it, or a reply in it, in their `parents`; threads and replies are in
// append order (msg_id order), the newest at the bottom. A QUESTION that no message answers
// yet, on a task's bus or the project's own, is highlighted with an answer box under it: the
// answer is a reply on the question's bus (`parents`: the question), which is what closes the
// question (messagebus.services), and the highlight goes when any reply arrives, from this
// tab or any other. Posts go through
// `data-api` (`POST /api/v1/messages`, mounted for the session, CSRF checked) through api.js;
// a refusal is shown next to the box. Bodies are text, never HTML.
(function () {
  "use strict";
  const bus = document.getElementById("bus");
  if (!bus) return;
  const FINAL = new Set([4400, 4401, 4403, 4404]);
  const threads = bus.querySelector(".bus-threads");
  const earlier = bus.querySelector(".bus-earlier");
  const empty = bus.querySelector(".bus-empty");
  const shown = new Map(); // msg_id -> its <article>
  const answered = new Set(); // every msg_id some shown message names in its parents
  let oldest = "";
  let cursor = "";

  function text(tag, className, value) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    element.textContent = value;
    return element;
  }

  function article(message) {
    const item = document.createElement("article");
    item.className = "message";
    item.dataset.msg = message.msg_id;
    item.dataset.type = message.type;
    const head = document.createElement("header");
    head.className = "row";
    head.append(text("span", "badge message-type", message.type));
    if (message.task_id && !bus.dataset.task) head.append(text("span", "mono", message.task_id));
    if (message.run_id) head.append(text("span", "mono muted", message.run_id));
    const time = text("time", "muted", message.timestamp.replace("T", " ").replace(/(\.\d+)?Z$/, ""));
    time.dateTime = message.timestamp;
    head.append(text("span", "spacer", ""), time);
    const reply = text("button", "link", "Reply");
    reply.type = "button";
    reply.addEventListener("click", function () {
      if (!item.querySelector(".bus-reply")) item.append(replyBox(message, "Reply", "Send reply"));
      item.querySelector(".bus-reply textarea").focus();
    });
    head.append(reply);
    item.append(head, text("div", "message-body", message.body));
    return item;
  }

  // The thread element a message starts; `data-parents` holds parents not shown (yet).
  function thread(item, message) {
    const element = document.createElement("li");
    element.className = "thread";
    element.dataset.root = message.msg_id;
    const missing = message.parents.filter(function (id) { return !shown.has(id); });
    if (missing.length) element.dataset.parents = missing.join(" ");
    const replies = document.createElement("ol");
    replies.className = "replies";
    element.append(item, replies);
    return element;
  }

  // Into `list` by key (msg_id order), searched from the end: live messages are the newest.
  function insert(list, element, key, keyOf) {
    let next = null;
    for (let child = list.lastElementChild; child && keyOf(child) > key; child = child.previousElementSibling) next = child;
    list.insertBefore(element, next);
  }

  function intoReplies(parentItem, item) {
    const replies = parentItem.closest(".thread").querySelector(".replies");
    const wrapped = document.createElement("li");
    wrapped.append(item);
    insert(replies, wrapped, item.dataset.msg, function (li) { return li.firstElementChild.dataset.msg; });
  }

  function place(message, open) {
    if (shown.has(message.msg_id)) return;
    message.parents = message.parents || [];
    const item = article(message);
    const parent = message.parents.map(function (id) { return shown.get(id); }).find(Boolean);
    shown.set(message.msg_id, item);
    if (parent) intoReplies(parent, item);
    else insert(threads, thread(item, message), message.msg_id, function (li) { return li.dataset.root; });
    adopt(message.msg_id, item);
    message.parents.forEach(answer);
    if (message.type === "QUESTION" && open && !answered.has(message.msg_id)) ask(item, message);
    empty.hidden = shown.size > 0;
  }

  // Threads shown before the message they reply to (it was on an earlier page) join its thread.
  function adopt(msgId, item) {
    threads.querySelectorAll('.thread[data-parents~="' + CSS.escape(msgId) + '"]').forEach(function (orphan) {
      orphan.querySelectorAll("article.message").forEach(function (moved) { intoReplies(item, moved); });
      orphan.remove();
    });
  }

  function ask(item, message) {
    item.classList.add("question-open");
    item.setAttribute("aria-label", "Question waiting for an answer");
    item.append(replyBox(message, "Answer", "Send answer"));
  }

  function answer(msgId) {
    answered.add(msgId);
    const question = shown.get(msgId);
    if (!question || !question.classList.contains("question-open")) return;
    question.classList.remove("question-open");
    question.removeAttribute("aria-label");
    const box = question.querySelector(".bus-reply");
    if (box) box.remove();
  }

  function replyBox(message, label, action) {
    const form = document.createElement("form");
    form.className = "bus-reply stacked";
    form.noValidate = true;
    const field = text("label", "", label + " ");
    const body = document.createElement("textarea");
    body.name = "body";
    body.rows = 2;
    field.append(body);
    const error = text("p", "notice error bus-error", "");
    error.setAttribute("role", "alert");
    error.hidden = true;
    const send = text("button", "primary", action);
    send.type = "submit";
    form.append(field, error, send);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const fields = { task_id: message.task_id, type: "USER", body: body.value, parents: [message.msg_id] };
      post(fields, form, error, function () { form.remove(); });
    });
    return form;
  }

  function readable(refusal) {
    const details = refusal.details || {};
    const fields = Object.keys(details).map(function (name) {
      const value = details[name];
      return name + ": " + (Array.isArray(value) ? value.join(" ") : String(value));
    });
    return [refusal.error].concat(fields).join(" — ");
  }

  function post(fields, form, error, done) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    error.hidden = true;
    window.conductorApi.call("POST", bus.dataset.api, Object.assign({ project_id: bus.dataset.project }, fields))
      .then(function () { done(); }, function (refusal) {
        error.textContent = readable(refusal);
        error.hidden = false;
      })
      .finally(function () { button.disabled = false; });
  }

  function read(before) {
    const query = before ? "?before=" + encodeURIComponent(before) : "";
    return window.conductorApi.call("GET", bus.dataset.page + query).then(function (page) {
      const open = new Set(page.open_questions);
      page.messages.forEach(function (message) { place(message, open.has(message.msg_id)); });
      if (page.messages.length) oldest = page.messages[0].msg_id;
      earlier.hidden = !page.earlier;
      empty.hidden = shown.size > 0;
      return page;
    });
  }

  function follow() {
    window.conductorLive.follow(bus.dataset.socket, {
      cursor: cursor,
      cursorOf: function (frame) {
        return frame.type === "message" && frame.message ? frame.cursor || frame.message.msg_id : "";
      },
      open: function () {
        bus.dataset.following = "live"; // for the browser tests
      },
      frame: function (frame) {
        if (frame.type !== "message" || !frame.message) return;
        place(frame.message, true); // a question just asked is open, unless a reply shown names it
      },
      closed: function (event) {
        delete bus.dataset.following;
        if (FINAL.has(event.code)) return "stop";
        if (event.code === 4410) return "restart"; // history pruned: start over
      },
    });
  }

  earlier.addEventListener("click", function () {
    earlier.disabled = true;
    read(oldest).finally(function () { earlier.disabled = false; });
  });

  const box = bus.querySelector(".bus-post");
  box.addEventListener("submit", function (event) {
    event.preventDefault();
    const fields = { task_id: bus.dataset.task || null, type: box.elements.type.value.trim() || "USER", body: box.elements.body.value };
    post(fields, box, box.querySelector(".bus-error"), function () { box.elements.body.value = ""; });
  });

  read("").then(function (page) {
    const messages = page.messages;
    cursor = messages.length ? messages[messages.length - 1].msg_id : "";
    follow();
  }, function (refusal) {
    empty.textContent = readable(refusal);
    empty.hidden = false;
  });
})();
