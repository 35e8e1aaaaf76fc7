// The attempt page: the selected run's raw log (live from /ws/runs/<r>/logs/, a virtual list
// that renders only the lines in view, so 100,000 lines scroll as smoothly as ten), its
// conversation (live from /ws/runs/<r>/entries/, drawn by conversation.js), the tabs between
// them, the Stop confirmation, the follow-up box whose text is kept as the attempt's draft
// while it is written, retry from a run, the dev server and archiving the worktree: the last
// four through the attempts API mounted for the session (/ui/api/v1/attempts/<a>/...).
// Both sockets are let in by the page's session (the dashboard's own origin).
import { AnsiUp } from "../vendor/ansi_up-6.0.6/ansi_up.js";
import { Conversation } from "./conversation.js";

const OVERSCAN = 20; // lines rendered above and below the view
const ANSI_CODE = /\x1b\[[0-9;?]*[ -\/]*[@-~]/g;

function debounce(wait, action) {
  let timer = null;
  const later = function () {
    clearTimeout(timer);
    timer = setTimeout(action, wait);
  };
  later.cancel = () => clearTimeout(timer);
  return later;
}

// The raw log: every line is kept as text; only those in view (and OVERSCAN around) are in
// the DOM, placed under a spacer as tall as all of them. It follows the tail while the view
// is at the bottom, and stays where the user scrolled to otherwise.
class LogView {
  constructor(view) {
    this.view = view;
    this.spacer = view.querySelector(".log-spacer");
    this.window = view.querySelector(".log-lines");
    this.lines = [];
    this.plain = []; // lower-cased lines without ANSI codes, made when a search needs them
    this.pending = [];
    this.matches = [];
    this.current = -1;
    this.query = "";
    this.following = true;
    this.range = [0, -1];
    this.ansi = new AnsiUp();
    this.ansi.use_classes = true; // the 16 colours from conductor.css, readable on the log's dark
    this.lineHeight = this.measure();
    view.addEventListener("scroll", () => this.scrolled());
    this.onchange = () => {};
  }

  measure() {
    this.window.innerHTML = '<div class="ln">x</div>';
    const height = this.window.firstChild.getBoundingClientRect().height;
    this.window.innerHTML = "";
    return height || 18;
  }

  addAll(lines) {
    if (!lines.length) return;
    const first = !this.pending.length;
    for (const line of lines) this.pending.push(line);
    if (first) requestAnimationFrame(() => this.flush());
  }

  flush() {
    const start = this.lines.length;
    for (const line of this.pending) this.lines.push(line);
    this.pending = [];
    if (this.query) this.search(this.query, start);
    this.spacer.style.height = this.lines.length * this.lineHeight + "px";
    if (this.following) this.view.scrollTop = this.view.scrollHeight;
    this.render(true);
    this.onchange();
  }

  scrolled() {
    const view = this.view;
    this.following = view.scrollTop + view.clientHeight >= view.scrollHeight - this.lineHeight;
    this.render(false);
    this.onchange();
  }

  render(force) {
    const top = this.view.scrollTop;
    const first = Math.max(0, Math.floor(top / this.lineHeight) - OVERSCAN);
    const shown = Math.ceil(this.view.clientHeight / this.lineHeight) + 2 * OVERSCAN;
    const last = Math.min(this.lines.length - 1, first + shown);
    if (!force && first === this.range[0] && last === this.range[1]) return;
    this.range = [first, last];
    const hit = new Set(this.matches.length ? this.visibleMatches(first, last) : []);
    const parts = [];
    for (let i = first; i <= last; i++) {
      const cls = i === this.matches[this.current] ? "ln hit current" : hit.has(i) ? "ln hit" : "ln";
      // Each line starts with no colour: a colour left open on one line does not leak into
      // the lines rendered after it, whichever are in view.
      const html = this.ansi.ansi_to_html("\x1b[0m" + this.lines[i]);
      parts.push(`<div class="${cls}" data-line="${i + 1}">${html}</div>`);
    }
    this.window.style.transform = `translateY(${first * this.lineHeight}px)`;
    this.window.innerHTML = parts.join("");
  }

  visibleMatches(first, last) {
    const found = [];
    for (const index of this.matches) if (index >= first && index <= last) found.push(index);
    return found;
  }

  jumpToEnd() {
    this.following = true;
    this.view.scrollTop = this.view.scrollHeight;
    this.render(true);
  }

  // Matches of `query` (case-insensitive, colours ignored) from line `from` on.
  search(query, from) {
    const wanted = query.toLowerCase();
    if (from === 0) {
      this.matches = [];
      this.current = -1;
    }
    this.query = query;
    if (!query) return this.render(true);
    for (let i = from; i < this.lines.length; i++) {
      if (this.plain[i] === undefined) this.plain[i] = this.lines[i].replace(ANSI_CODE, "").toLowerCase();
      if (this.plain[i].includes(wanted)) this.matches.push(i);
    }
  }

  step(direction) {
    if (!this.matches.length) return;
    const count = this.matches.length;
    this.current = this.current < 0 ? (direction > 0 ? 0 : count - 1) : (this.current + direction + count) % count;
    const line = this.matches[this.current];
    this.following = false;
    const top = line * this.lineHeight - this.view.clientHeight / 2;
    this.view.scrollTop = Math.max(0, top);
    this.render(true);
  }
}

// A run's socket (/ws/runs/<r>/logs/ or /entries/): each frame goes to the handler named by
// its type (`log`, `entry`, `status`, `done`; `lagged` needs nothing: the rest comes from the
// database). After a dropped connection it reconnects with the last cursor seen, so nothing
// is lost or shown twice; it stops at `done`, or when refused (4400-4499: the reason is the
// `error` frame's, as Daphne does not pass a close reason on).
function followRun(path, cursor, handlers) {
  let finished = false;
  let refusal = "";
  window.conductorLive.follow(path, {
    cursor: cursor,
    open: () => handlers.connected(),
    frame: (frame) => {
      if (frame.type === "done") finished = true;
      if (frame.type === "error") refusal = frame.error;
      else if (handlers[frame.type]) handlers[frame.type](frame);
    },
    closed: (event) => {
      if (finished || event.code === 1000) return "stop";
      if (event.code >= 4400 && event.code < 4500) {
        handlers.refused(refusal || event.reason || String(event.code));
        return "stop";
      }
      handlers.reconnecting();
    },
  });
}

function setBadge(element, status) {
  element.className = "badge " + status;
  element.textContent = status;
}

const RECONNECTING = "Connection lost; reconnecting…";

// What a socket's troubles say, in `state` (cleared once it is back).
function socketState(state, what) {
  return {
    connected() {
      if (state.textContent === RECONNECTING) state.textContent = "";
    },
    refused(reason) {
      state.textContent = `The ${what} cannot be followed: ${reason}.`;
    },
    reconnecting() {
      state.textContent = RECONNECTING;
    },
  };
}

async function startRun(section) {
  const log = new LogView(document.getElementById("log-view"));
  const panel = document.getElementById("panel-conversation");
  const conversation = new Conversation(panel);
  const count = document.getElementById("log-count");
  const state = document.getElementById("log-state");
  const endButton = document.getElementById("log-end");
  log.onchange = () => {
    count.textContent = `${log.lines.length.toLocaleString("en")} lines`;
    endButton.classList.toggle("primary", !log.following);
    state.textContent = log.following ? "" : "Paused: scrolled up. Jump to end to follow the log again.";
  };
  endButton.addEventListener("click", () => log.jumpToEnd());
  wireSearch(log);
  // The conversation's socket opens with its tab, the first time it is shown.
  let talking = false;
  const followConversation = () => {
    if (talking) return;
    talking = true;
    followRun(section.dataset.entriesSocket, "", {
      ...socketState(document.getElementById("conversation-state"), "conversation"),
      entry: (frame) => conversation.upsert(frame.index, frame.entry),
    });
  };
  wireTabs(log, conversation, followConversation);
  if (!panel.hidden) followConversation();
  const answer = await fetch(section.dataset.linesUrl, { credentials: "same-origin" });
  const stored = answer.ok ? await answer.json() : { lines: [], cursor: "" };
  log.addAll(stored.lines);
  followRun(section.dataset.logSocket, stored.cursor, {
    ...socketState(state, "log"),
    // A `log` frame holds whole lines, each ending in "\n" (one or more stored chunks).
    log: (frame) => log.addAll(frame.text.split("\n").slice(0, -1)),
    status(frame) {
      setBadge(document.getElementById("run-status"), frame.status);
      section.dataset.status = frame.status;
      if (frame.exit_code !== undefined) document.getElementById("run-exit").textContent = `exit ${frame.exit_code}`;
    },
    done() {
      state.textContent = log.following ? "The run ended." : state.textContent;
      refreshHeader();
    },
  });
}

function wireSearch(log) {
  const input = document.getElementById("log-search");
  const matches = document.getElementById("log-matches");
  const show = () => {
    const total = log.matches.length;
    matches.textContent = !log.query ? "" : total ? `${log.current + 1 || "–"} / ${total}` : "no match";
  };
  // The query as typed, searched once typing pauses or a step asks for it, and only once.
  const searched = () => {
    later.cancel();
    if (input.value === log.query) return;
    log.search(input.value, 0);
    log.render(true);
    show();
  };
  const later = debounce(200, searched);
  const step = (direction) => {
    searched();
    log.step(direction);
    show();
  };
  input.addEventListener("input", later);
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    step(event.shiftKey ? -1 : 1);
  });
  document.getElementById("log-next").addEventListener("click", () => step(1));
  document.getElementById("log-previous").addEventListener("click", () => step(-1));
  const onchange = log.onchange;
  log.onchange = () => (onchange(), show());
}

function wireTabs(log, conversation, followConversation) {
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  tabs.forEach((tab) =>
    tab.addEventListener("click", () => {
      for (const other of tabs) {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
      }
      if (tab.id === "tab-log") log.jumpToEnd();
      else {
        followConversation();
        conversation.revealed();
      }
    }),
  );
}

// The attempts API, mounted for this page's session under /ui/api/v1/ (CSRF checked), through
// the dashboard's one API client (api.js): a refusal is thrown as the house error body, with
// `status` (0: the server did not answer).
const page = document.getElementById("attempt-page");
const call = (method, path, body) => window.conductorApi.call(method, page.dataset.api + path, body);

function notice(text) {
  document.getElementById("attempt-failure").hidden = true;
  const box = document.getElementById("attempt-notice");
  box.textContent = text;
  box.hidden = false;
}

function failure(error) {
  const box = document.getElementById("attempt-failure");
  const git = Array.isArray(error.details.git) ? error.details.git.join("\n") : error.details.git;
  const pre = document.createElement("pre");
  pre.className = "git-message";
  pre.textContent = git || "";
  box.replaceChildren(error.error || String(error), ...(git ? [pre] : []));
  box.hidden = false;
  document.getElementById("attempt-notice").hidden = true;
}

// What to say once the page opened the run an action started (it is said after the load).
function openRun(runId, text) {
  sessionStorage.setItem("conductor.notice", text);
  location.assign(`${location.pathname}?run=${encodeURIComponent(runId)}`);
}

// The follow-up box: its text is saved as the attempt's draft a moment after each change,
// with the version it was read at (a 409 means another tab saved since: take its version and
// save this text, which is what this user sees). Sent, the API removes the draft holding the
// text sent, and the page opens the new run.
async function startDraft(form) {
  const box = form.querySelector("textarea");
  const said = document.getElementById("draft-state");
  let version = 0;
  let queued = false; // whether it is queued is the API's to say: the box keeps it as read
  try {
    const draft = await call("GET", "/draft");
    ({ version, queued } = draft);
    if (!box.value) box.value = draft.prompt;
  } catch (error) {
    if (error.status !== 404) said.textContent = ` Draft not read: ${error.error}`;
  }
  async function save(retry) {
    try {
      version = (await call("PUT", "/draft", { prompt: box.value, version, queued })).version;
      said.textContent = " Draft saved.";
    } catch (error) {
      if (error.status === 409 && retry && error.details.version !== undefined) {
        version = error.details.version;
        return save(false);
      }
      said.textContent = ` Draft not saved: ${error.error}`;
    }
  }
  const later = debounce(400, () => save(true));
  box.addEventListener("input", later);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    later.cancel(); // once sent, a save still waiting must not bring the draft back
    const button = form.querySelector('[type="submit"]');
    button.disabled = true;
    try {
      const sent = await call("POST", "/follow-up", { prompt: box.value });
      openRun(sent.run_id, `Follow-up ${sent.run_id} ${sent.waiting ? "waits for the active run to end" : "started"}.`);
    } catch (error) {
      failure({ ...error, error: `Follow-up not sent: ${error.error}` });
      button.disabled = false;
    }
  });
}

// Retry from an agent run: asked first; uncommitted changes are a 409 `dirty`, and the page
// then offers to force it (they are kept under a saved ref, which it names).
async function retry(runId, force = false) {
  try {
    const answer = await call("POST", "/retry", { run_id: runId, force });
    const done = answer.retried;
    const kept = done.previous_ref ? ` The commits it dropped are kept under ${done.previous_ref}.` : "";
    const saved = kept + (done.saved_ref ? ` Uncommitted changes kept under ${done.saved_ref}.` : "");
    openRun(done.run_id, `Retried from ${runId}: the worktree is back at ${done.reset_to.slice(0, 10)}, run ${done.run_id} started.${saved}`);
  } catch (error) {
    if (error.status === 409 && error.details.reason === "dirty" && !force) {
      const files = (error.details.files || []).slice(0, 10).join(", ");
      const ask = `The worktree has uncommitted changes (${files}). Retry anyway? They are kept first under a saved ref.`;
      if (window.confirm(ask)) return retry(runId, true);
    }
    failure(error);
  }
}

// The dev server: started, then read until its run printed a URL (or ended); stopped.
const devServer = {
  state: document.getElementById("dev-server-state"),
  link: document.getElementById("dev-server-link"),
  start: document.getElementById("dev-server-start"),
  stop: document.getElementById("dev-server-stop"),
  timer: null,
  show(run) {
    const running = run !== null && ["created", "queued", "running"].includes(run.status);
    const web = run !== null && /^https?:\/\//.test(run.url); // never a javascript: link
    this.state.textContent = run === null ? "not started" : running && !run.url ? `${run.status}, waiting for its URL…` : run.status;
    this.link.hidden = !(running && web);
    if (running && web) {
      this.link.href = run.url;
      this.link.textContent = run.url;
    }
    this.start.hidden = running;
    this.stop.hidden = !running;
    clearTimeout(this.timer);
    if (running && !run.url) this.timer = setTimeout(() => this.read(), 300);
  },
  async read() {
    try {
      this.show(await call("GET", "/dev-server"));
    } catch (error) {
      if (error.status === 404) this.show(null);
      else this.state.textContent = `unknown: ${error.error}`;
    }
  },
  async act(path, button) {
    button.disabled = true;
    try {
      this.show(await call("POST", path, {}));
    } catch (error) {
      failure(error);
    } finally {
      button.disabled = false;
    }
  },
};

async function archive() {
  if (!window.confirm("Archive the worktree? Anything uncommitted is committed on the branch first (a WIP commit); the folder is removed, the branch kept. A follow-up makes it again.")) return;
  try {
    const done = (await call("POST", "/archive", {})).archived;
    const wip = done.wip_commit ? `uncommitted work kept as WIP commit ${done.wip_commit.slice(0, 10)}` : "nothing uncommitted to keep";
    notice(done.removed ? `Worktree archived: ${wip}.` : "The worktree was archived already.");
    refreshHeader(1);
  } catch (error) {
    failure(error);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-retry]");
  if (!button) return;
  const question = `Retry from run ${button.dataset.retry}? The worktree goes back to where that run started; it and every later run are set aside (kept, shown under "Show dropped").`;
  if (window.confirm(question)) retry(button.dataset.retry);
});
document.addEventListener("change", (event) => {
  if (event.target.id !== "show-dropped") return;
  for (const item of document.querySelectorAll(".run-item.dropped")) {
    item.hidden = !event.target.checked && !item.querySelector('[aria-current="true"]');
  }
});
devServer.start.addEventListener("click", () => devServer.act("/dev-server", devServer.start));
devServer.stop.addEventListener("click", () => devServer.act("/dev-server/stop", devServer.stop));
document.getElementById("archive").addEventListener("click", archive);

// Once the run ended, the header (the attempt's status, its runs, Stop) is read again: the
// attempt may have gone on to its cleanup, or ended with the run.
// It is read until the attempt says it ended too (it ends a moment after its run), for a
// while at most: a follow-up waiting to start keeps it active on purpose.
async function refreshHeader(tries = 10) {
  const answer = await fetch(location.href, { credentials: "same-origin" });
  if (!answer.ok) return;
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  const header = page.getElementById("attempt-header");
  if (!header) return;
  document.getElementById("attempt-header").replaceWith(header);
  const status = header.querySelector("#attempt-status").textContent;
  if (["created", "queued", "running"].includes(status) && tries > 1) {
    setTimeout(() => refreshHeader(tries - 1), 1500);
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
const said = sessionStorage.getItem("conductor.notice");
if (said) {
  sessionStorage.removeItem("conductor.notice");
  notice(said);
}
const section = document.getElementById("run");
if (section) startRun(section);
startDraft(document.getElementById("follow-up"));
devServer.read();
