// Live job status: follows /jobs/{id}/events (Server-Sent Events of statusInfo) and updates
// the progress bar, message and parts done; reloads once the job ends, so the page shows the
// final links (results or exception) as the server renders them.
"use strict";
(function () {
  const job = document.getElementById("job");
  if (!job || !window.EventSource) return;
  const terminal = new Set(job.dataset.terminal.split(" "));
  const parts = /^(\d+) of (\d+) parts done/;
  const byId = (id) => document.getElementById(id);

  function show(info) {
    const status = byId("job-status");
    status.textContent = info.status;
    status.className = "status status-" + info.status;
    const percent = typeof info.progress === "number" ? info.progress : 0;
    byId("job-progress").value = percent;
    byId("job-progress").textContent = percent + " %";
    byId("job-percent").textContent = percent + " %";
    byId("job-message").textContent = info.message || "";
    const found = parts.exec(info.message || "");
    byId("job-parts").hidden = byId("job-parts-label").hidden = !found;
    if (found) byId("job-parts").textContent = found[1] + " of " + found[2];
    for (const name of ["started", "finished", "updated"]) {
      if (info[name]) byId("job-" + name).textContent = info[name];
    }
  }

  const source = new EventSource(job.dataset.events);
  source.addEventListener("status", (event) => {
    const info = JSON.parse(event.data);
    show(info);
    if (terminal.has(info.status)) {
      source.close();
      window.location.reload();
    }
  });
})();
