// The board's moves: drag and drop (SortableJS), or the keyboard on a focused card
// (Alt+←/→: to the next column, Alt+↑/↓: up or down in its column). Either way the card's
// new column and neighbours are posted (a form, through api.js); the server stores the move
// (tasks.views.task_move_view), and a refused move, or one the server did not answer, is said
// and reloads the board.
(function () {
  "use strict";
  const lists = Array.from(document.querySelectorAll(".cards"));

  function neighbour(card, direction) {
    let node = card[direction];
    while (node && !node.dataset.task) node = node[direction];
    return node;
  }

  function confirmed(card, from, to) {
    return to.dataset.column !== "cancelled" || from === to ||
      window.confirm("Cancel task " + card.dataset.task + "? Its running agents are stopped.");
  }

  function recount(list, change) {
    const count = list.closest(".column").querySelector(".count");
    count.textContent = String(Number(count.textContent) + change);
  }

  function store(card, from) {
    const to = card.parentElement;
    const after = neighbour(card, "previousElementSibling");
    const before = neighbour(card, "nextElementSibling");
    const body = new URLSearchParams({
      column: to.dataset.column,
      after: after ? after.dataset.task : "",
      before: before ? before.dataset.task : "",
    });
    window.conductorApi.call("POST", card.dataset.moveUrl, body).then(function () {
      if (from !== to) {
        recount(from, -1);
        recount(to, 1);
      }
    }, function (refusal) {
      window.alert("The move was refused: " + refusal.error);
      window.location.reload();
    });
  }

  function dropped(event) {
    if (event.from === event.to && event.oldIndex === event.newIndex) return;
    if (!confirmed(event.item, event.from, event.to)) {
      window.location.reload();
      return;
    }
    store(event.item, event.from);
  }

  function keyed(event) {
    const card = event.target.closest(".card");
    if (!card || !event.altKey) return;
    const list = card.parentElement;
    const index = lists.indexOf(list);
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const target = lists[index + (event.key === "ArrowRight" ? 1 : -1)];
      if (!target || !confirmed(card, list, target)) return;
      const more = target.querySelector(".more");
      target.insertBefore(card, more);
    } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      const up = event.key === "ArrowUp";
      const other = neighbour(card, up ? "previousElementSibling" : "nextElementSibling");
      if (!other) return;
      list.insertBefore(card, up ? other : other.nextElementSibling);
    } else {
      return;
    }
    event.preventDefault();
    card.focus();
    store(card, list);
  }

  lists.forEach(function (list) {
    Sortable.create(list, { group: "board", animation: 120, draggable: ".card", onEnd: dropped });
  });
  document.getElementById("board").addEventListener("keydown", keyed);
})();
