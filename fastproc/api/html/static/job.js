// Live job page. Status: follows /jobs/{id}/events (Server-Sent Events of statusInfo) and
// updates the progress bar, message and parts done (statusInfo's x-fastproc-parts member,
// whose name the page gives in data-parts-member); reloads once the job ends, so the page
// shows the final links, timeline and traceback as the server renders them.
// Log: asks /jobs/{id}/logs for the lines after the last one shown, every second while the
// job runs, and appends them as job_log.html renders lines.
"use strict";
(function () {
  const byId = (id) => document.getElementById(id);
  const job = byId("job");
  if (!job) return;
  const terminal = new Set(job.dataset.terminal.split(" "));
  let ended = terminal.has(job.dataset.status);

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

  function span(css, text) {
    const element = document.createElement("span");
    element.className = css;
    element.textContent = text;
    return element;
  }

  function logLine(line) {
    const row = document.createElement("div");
    row.className = "log-line level-" + line.level.toLowerCase() + " src-" + line.source;
    row.dataset.n = line.n;
    row.append(span("t", line.time.slice(11, 23)), " ", span("lv", line.level), " ");
    if (line.source === "fastproc") row.append(span("src", "[fastproc]"), " ");
    if (line.part) row.append(span("part", "[" + line.part + "]"), " ");
    row.append(span("m", line.message));
    if (line.traceback) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      const pre = document.createElement("pre");
      summary.textContent = "traceback";
      pre.textContent = line.traceback;
      details.append(summary, pre);
      row.append(details);
    }
    return row;
  }

  const log = byId("job-log");
  let asking = false;
  async function followLog() {
    if (!log || asking) return;
    asking = true;
    try {
      const response = await fetch(log.dataset.src + "&after=" + log.dataset.next,
                                   {headers: {Accept: "application/json"}});
      if (!response.ok) return;
      const doc = await response.json();
      if (doc.lines.length) {
        const empty = byId("job-log-empty");
        if (empty) empty.remove();
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        for (const line of doc.lines) log.append(logLine(line));
        if (atBottom) log.scrollTop = log.scrollHeight;
      }
      log.dataset.next = doc.next;
    } catch (error) {
      // The next turn asks again.
    } finally {
      asking = false;
    }
  }
  if (log && !ended) {
    const timer = setInterval(() => (ended ? clearInterval(timer) : followLog()), 1000);
  }

  if (!window.EventSource || ended) return;
  const source = new EventSource(job.dataset.events);
  source.addEventListener("status", (event) => {
    const info = JSON.parse(event.data);
    show(info);
    if (terminal.has(info.status)) {
      ended = true;
      source.close();
      window.location.reload();
    }
  });
})();
