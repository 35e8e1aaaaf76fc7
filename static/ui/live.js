// The dashboard's one client of the live WebSocket streams (conductor_site/live/consumers.py,
// docs/api/streams.md). `conductorLive.follow(path, options)` opens `path` with `after=` the
// last cursor seen, hands each JSON frame to `options.frame`, and after a dropped connection
// reconnects from that cursor, so nothing is missed or shown twice, backing off from 0.5 s to
// 10 s (reset once a connection opens). The cursor is the frame's `cursor`, or what
// `options.cursorOf(frame)` says; a stream that is a state rather than a log (an attempt's
// diff) has no cursor to resume from: with `options.resume` false every connection starts
// over, from the whole state the stream sends first. How a close ends is each stream's own rule:
// `options.closed(event)` returns "stop", "reload" (the page is read again), "restart" (from
// no cursor: the one held was pruned, close 4410) or nothing (reconnect). `options.open` is
// called on each connection.
window.conductorLive = (function () {
  "use strict";
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";

  function follow(path, options) {
    let cursor = options.cursor || "";
    let delay = 500;
    const cursorOf = options.cursorOf || function (frame) { return frame.cursor; };
    function connect() {
      const after = cursor ? (path.includes("?") ? "&" : "?") + "after=" + encodeURIComponent(cursor) : "";
      const socket = new WebSocket(scheme + window.location.host + path + after);
      socket.onopen = function () {
        delay = 500;
        if (options.open) options.open();
      };
      socket.onmessage = function (message) {
        const frame = JSON.parse(message.data);
        if (options.resume !== false) cursor = cursorOf(frame) || cursor;
        options.frame(frame);
      };
      socket.onclose = function (event) {
        const verdict = options.closed ? options.closed(event) : undefined;
        if (verdict === "stop") return;
        if (verdict === "reload") return window.location.reload();
        if (verdict === "restart") cursor = "";
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
  }

  return { follow: follow };
})();
