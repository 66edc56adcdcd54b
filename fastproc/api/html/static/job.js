// Live job status: follows /jobs/{id}/events (Server-Sent Events of statusInfo) and updates
// the progress bar, message and parts done (statusInfo's x-fastproc-parts member, whose
// name the page gives in data-parts-member); reloads once the job ends, so the page shows
// the final links (results or exception) as the server renders them.
"use strict";
(function () {
  const job = document.getElementById("job");
  if (!job || !window.EventSource) return;
  const terminal = new Set(job.dataset.terminal.split(" "));
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
    const parts = info[job.dataset.partsMember];
    byId("job-parts").hidden = byId("job-parts-label").hidden = !parts;
    if (parts) byId("job-parts").textContent = parts.done + " of " + parts.total;
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
