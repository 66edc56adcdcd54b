// The live dashboard: /dashboard/events sends the page's body, rendered by the server, at
// every reading (one per API process and interval, shared by all viewers); this swaps it in.
"use strict";
(function () {
  const board = document.getElementById("dashboard");
  if (!board || !window.EventSource) return;
  const source = new EventSource(board.dataset.events);
  source.addEventListener("dashboard", (event) => {
    board.innerHTML = event.data;
    board.dataset.reading = event.lastEventId;
  });
})();
