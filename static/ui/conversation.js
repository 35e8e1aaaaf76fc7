// The attempt page's conversation: a run's entries (docs/api/entries.md) drawn in the browser
// from the frames of /ws/runs/<r>/entries/ (attempt.js follows the socket). Each entry is an
// upsert by its index: one sent again (a tool call that finished, a message that grew)
// replaces the one drawn under that index, in place.
//
// Thousands of entries stay smooth: every entry is kept as data, but only a window of them is
// in the page, the newest `PAGE` when it opens, more by pages on "Show earlier". While the view
// follows the tail (scrolled to its bottom) the window keeps to at most two pages, the oldest
// leaving as new ones come; scrolled up, nothing moves under the reader. Frames are drawn once
// per animation frame, however many arrive in it. Every text goes in as text, never as HTML.

const PAGE = 200; // entries drawn at once, and added by "Show earlier"
const MAX_DRAWN = 2 * PAGE; // while following the tail
const PLAN_MARK = { completed: "✓", in_progress: "▸", pending: "○" };

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function code(text) {
  return element("code", "", text);
}

// The lines of a diff-like text, each in a span coloured by its first character.
function diffLines(lines) {
  const pre = element("pre", "diff");
  for (const line of lines) {
    const kind = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
    pre.append(element("span", kind, line + "\n"));
  }
  return pre;
}

function splitLines(text) {
  const lines = String(text).split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

// An `edit`'s change as the lines it removed and added (jsdiff's line diff), or, without
// jsdiff, the old text then the new.
function editChange(edit) {
  const old = edit.old || "";
  const fresh = edit.new || "";
  if (!window.Diff) return diffLines([...splitLines(old).map((l) => "-" + l), ...splitLines(fresh).map((l) => "+" + l)]);
  const lines = [];
  for (const part of window.Diff.diffLines(old, fresh)) {
    const mark = part.added ? "+" : part.removed ? "-" : " ";
    for (const line of splitLines(part.value)) lines.push(mark + line);
  }
  return diffLines(lines);
}

// One file's change; its path above it when the call changed several (the summary names one).
function editBody(edit, named) {
  const box = element("div", "edit");
  if (named) box.append(element("div", "mono muted", `${edit.op} ${edit.path}`));
  if (edit.op === "edit") box.append(editChange(edit));
  else if (edit.op === "write") box.append(element("pre", "", edit.content || ""));
  else if (edit.op === "patch") box.append(diffLines(splitLines(edit.diff || "")));
  return box;
}

// What a tool card's summary says the call did, beside the tool's name.
function actionSummary(action) {
  const parts = [];
  if (action.kind === "command") {
    parts.push(code(action.command));
    if (action.exit_code !== null && action.exit_code !== undefined) parts.push(element("span", "mono", `exit ${action.exit_code}`));
  } else if (action.kind === "file_edit") {
    for (const edit of action.edits) parts.push(code(`${edit.op} ${edit.path}`));
  } else if (action.kind === "file_read") {
    parts.push(code(action.path));
  } else if (action.kind === "file_search" || action.kind === "web_search") {
    parts.push(code(action.query));
  } else if (action.kind === "web_fetch") {
    parts.push(code(action.url));
  }
  return parts;
}

// A tool card's body (its edits, its input, its output), made when the card is first opened:
// thousands of closed cards cost only their summaries.
function toolBody(entry) {
  const parts = [];
  const action = entry.action;
  if (action.kind === "file_edit") for (const edit of action.edits) parts.push(editBody(edit, action.edits.length > 1));
  else if (action.kind === "other") {
    const input = typeof action.input === "string" ? action.input : JSON.stringify(action.input, null, 2);
    parts.push(element("pre", "input", input));
  }
  if (entry.output) parts.push(element("pre", "output", entry.output));
  if (!parts.length) parts.push(element("p", "muted", entry.status === "pending" ? "Running…" : "No output."));
  return parts;
}

function toolCard(entry, wasOpen) {
  const details = element("details", "tool");
  const summary = element("summary");
  summary.append(element("span", "tool-name", entry.tool), ...actionSummary(entry.action));
  summary.append(element("span", `badge ${entry.status}`, entry.status));
  details.append(summary);
  let filled = false;
  const fill = () => {
    if (filled || !details.open) return;
    filled = true;
    details.append(...toolBody(entry));
  };
  details.addEventListener("toggle", fill);
  details.open = wasOpen || entry.status === "failed";
  fill();
  return details;
}

function usageText(entry) {
  const count = (value) => (value === null || value === undefined ? "—" : value.toLocaleString("en"));
  let text = `Tokens: ${count(entry.input_tokens)} in, ${count(entry.output_tokens)} out`;
  if (entry.cached_input_tokens !== null && entry.cached_input_tokens !== undefined) text += `, ${count(entry.cached_input_tokens)} cached`;
  if (entry.cost_usd !== null && entry.cost_usd !== undefined) text += ` · $${Number(entry.cost_usd).toFixed(4)}`;
  return text;
}

function planList(items) {
  const list = element("ul", "plan");
  for (const item of items) {
    const row = element("li", item.status, `${PLAN_MARK[item.status] || "○"} ${item.text} `);
    row.append(element("span", "muted", item.status.replace("_", " ")));
    list.append(row);
  }
  return list;
}

// One entry's content, by its type; `wasOpen` keeps a card the reader opened open when the
// entry is drawn again.
function content(entry, wasOpen) {
  switch (entry.type) {
    case "session": {
      const line = element("p", "muted", "Session ");
      line.append(element("span", "mono", entry.session_id), entry.model ? ` · ${entry.model}` : "");
      return [line];
    }
    case "user_message":
      return [element("h3", "", "User"), element("div", "text", entry.text)];
    case "assistant_message":
      return [element("h3", "", "Assistant"), element("div", "text", entry.text)];
    case "thinking": {
      const details = element("details");
      details.append(element("summary", "", "Thinking"), element("div", "text muted", entry.text));
      details.open = wasOpen;
      return [details];
    }
    case "tool_use":
      return [toolCard(entry, wasOpen)];
    case "plan":
      return [element("h3", "", "Plan"), planList(entry.items)];
    case "error":
      return [element("p", "error-summary", entry.message)];
    case "usage":
      return [element("p", "muted usage", usageText(entry))];
    default:
      return [element("pre", `raw ${entry.stream || "stdout"}`, entry.text)];
  }
}

function drawn(index, entry, wasOpen) {
  const article = element("article", `entry ${entry.type || "raw"}`);
  article.dataset.index = String(index);
  article.append(...content(entry, wasOpen));
  return article;
}

export class Conversation {
  constructor(panel) {
    this.view = panel.querySelector("#conversation");
    this.list = panel.querySelector("#conversation-entries");
    this.earlier = panel.querySelector("#conversation-earlier");
    this.empty = panel.querySelector("#conversation-empty");
    this.entries = new Map(); // index → entry, every one received
    this.order = []; // the indexes, ascending
    this.shown = new Map(); // index → its element, for the drawn window
    this.first = 0; // the position in `order` of the first entry drawn
    this.dirty = new Set(); // indexes received since the last draw
    this.scheduled = false;
    this.following = true;
    this.view.addEventListener("scroll", () => {
      this.following = this.view.scrollTop + this.view.clientHeight >= this.view.scrollHeight - 8;
    });
    this.earlier.addEventListener("click", () => this.showEarlier());
  }

  // An `entry` frame: stored now, drawn at the next animation frame.
  upsert(index, entry) {
    if (!this.entries.has(index)) this.insert(index);
    this.entries.set(index, entry);
    this.dirty.add(index);
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.draw());
    }
  }

  // Where `index` is or would go in `order` (binary search).
  position(index) {
    let low = 0;
    let high = this.order.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.order[middle] < index) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  // Indexes come in ascending order; one lower than the last held (never seen yet) takes its place.
  insert(index) {
    const order = this.order;
    if (!order.length || index > order[order.length - 1]) return order.push(index);
    const at = this.position(index);
    order.splice(at, 0, index);
    if (at < this.first) this.first += 1; // an earlier one, not drawn
  }

  draw() {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = new Set();
    if (!this.shown.size && this.first === 0) this.first = Math.max(0, this.order.length - PAGE);
    const firstIndex = this.order[this.first];
    const added = [];
    for (const index of [...dirty].sort((a, b) => a - b)) {
      if (index < firstIndex) continue; // outside the window: drawn from its data when shown
      const held = this.shown.get(index);
      const fresh = drawn(index, this.entries.get(index), Boolean(held && held.querySelector("details[open]")));
      this.shown.set(index, fresh);
      if (held) held.replaceWith(fresh);
      else added.push([index, fresh]);
    }
    this.place(added);
    if (this.following) this.trim();
    this.update();
    if (this.following) this.view.scrollTop = this.view.scrollHeight;
  }

  // New elements after those drawn (the common case), or before the next one drawn.
  place(added) {
    for (const [index, node] of added) {
      const next = this.order[this.position(index) + 1];
      const after = next === undefined ? null : this.shown.get(next);
      if (after && after.parentNode === this.list) this.list.insertBefore(node, after);
      else this.list.append(node);
    }
  }

  // While following: the oldest drawn leave past `MAX_DRAWN`, back to one page.
  trim() {
    if (this.shown.size <= MAX_DRAWN) return;
    const keep = this.order.length - PAGE;
    for (let i = this.first; i < keep; i++) {
      const node = this.shown.get(this.order[i]);
      if (node) node.remove();
      this.shown.delete(this.order[i]);
    }
    this.first = keep;
  }

  // The page before the first drawn, put above it without moving what the reader sees.
  showEarlier() {
    const from = Math.max(0, this.first - PAGE);
    const nodes = [];
    for (let i = from; i < this.first; i++) {
      const index = this.order[i];
      const node = drawn(index, this.entries.get(index), false);
      this.shown.set(index, node);
      nodes.push(node);
    }
    const before = this.view.scrollHeight;
    this.list.prepend(...nodes);
    this.first = from;
    this.following = false;
    this.view.scrollTop += this.view.scrollHeight - before;
    this.update();
  }

  update() {
    this.empty.hidden = this.order.length > 0;
    this.earlier.hidden = this.first === 0;
    this.earlier.textContent = `Show earlier (${this.first.toLocaleString("en")} more)`;
  }

  // Its tab shown: a view that was following is at the end again (a hidden view has no
  // height, so it could not scroll while hidden).
  revealed() {
    if (this.following) this.view.scrollTop = this.view.scrollHeight;
  }
}
