// The dashboard's one client of the JSON API and the page routes that answer in its error
// shape (docs/api.md: `{"error", "code", "details"}`). `conductorApi.call(method, url, body)`
// sends `body` as JSON (a `URLSearchParams` as a form, for a page route that reads one), with
// the page's CSRF token on anything but a GET, and resolves with the answer's JSON ({} for a
// 204). A refusal rejects with that error body and the answer's `status`, so a page only
// shows `error` (and its own `details`) and checks the status it expects (404: none yet, 409:
// another tab saved). An answer that is no JSON (a proxy's error page) and no answer at all
// (the connection lost: `status` 0) reject in the same shape, their `error` readable as it is.
window.conductorApi = (function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function call(method, url, body) {
    const init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") init.headers["X-CSRFToken"] = csrf;
    if (body instanceof URLSearchParams) init.body = body;
    else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(answered, function (lost) {
      throw { status: 0, error: "the server did not answer (" + lost.message + ")", details: {} };
    });
  }

  function answered(response) {
    if (response.status === 204) return {};
    const status = response.status;
    return response.json().catch(function () {
      return { error: "the server answered " + status + " without JSON" };
    }).then(function (data) {
      if (!response.ok) throw Object.assign({ status: status, error: "the server answered " + status, details: {} }, data);
      return data;
    });
  }

  return { call: call };
})();
