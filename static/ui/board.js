// The board's drag and drop (SortableJS): a drop posts the card's new column and neighbours;
// the server stores the move (tasks.views.task_move_view). A refused move reloads the board.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function neighbour(card, direction) {
    let node = card[direction];
    while (node && !node.dataset.task) node = node[direction];
    return node ? node.dataset.task : "";
  }

  function moved(event) {
    const card = event.item;
    const column = event.to.dataset.column;
    if (event.from === event.to && event.oldIndex === event.newIndex) return;
    if (column === "cancelled" && event.from !== event.to &&
        !window.confirm("Cancel task " + card.dataset.task + "? Its running agents are stopped.")) {
      window.location.reload();
      return;
    }
    const body = new URLSearchParams({
      column: column,
      after: neighbour(card, "previousElementSibling"),
      before: neighbour(card, "nextElementSibling"),
    });
    fetch(card.dataset.moveUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf },
      body: body,
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (error) {
          window.alert("The move was refused: " + error.error);
          window.location.reload();
        });
      }
      card.dispatchEvent(new CustomEvent("conductor:moved", { bubbles: true }));
    });
  }

  document.querySelectorAll(".cards").forEach(function (list) {
    Sortable.create(list, {
      group: "board",
      animation: 120,
      draggable: ".card",
      onEnd: moved,
    });
  });
})();
