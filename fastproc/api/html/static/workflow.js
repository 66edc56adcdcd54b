// The tree of a workflow job on its page: each process with its path in the execute
// request and its state, from /jobs/{id}/nodes; drawn again (at most twice a second) on
// every event of the job while it runs, and once more when it ends.
"use strict";
(function () {
  const section = document.getElementById("workflow");
  if (!section || !window.fetch) return;
  const tree = document.getElementById("workflow-tree");
  const terminal = new Set(["successful", "failed", "dismissed"]);

  function item(node, children) {
    const li = document.createElement("li");
    const state = document.createElement("span");
    state.className = "status status-" + node.status;
    state.textContent = node.status;
    const name = document.createElement("strong");
    name.textContent = node.process;
    const path = document.createElement("span");
    path.className = "mono muted";
    path.textContent = " " + (node.path || "(the job's process)") +
      (node.remote ? " on " + node.remote : "") + " ";
    li.append(name, path, state);
    const kids = children.get(node.id) || [];
    if (kids.length) {
      const ul = document.createElement("ul");
      for (const kid of kids) ul.append(item(kid, children));
      li.append(ul);
    }
    return li;
  }

  function draw(doc) {
    const children = new Map();
    for (const node of doc.nodes) {
      if (node.parent === null) continue;
      if (!children.has(node.parent)) children.set(node.parent, []);
      children.get(node.parent).push(node);
    }
    const root = doc.nodes.find((node) => node.parent === null);
    tree.replaceChildren(item(root, children));
    document.getElementById("workflow-done").textContent =
      doc.nodes.filter((n) => n.parent !== null && n.status === "successful").length;
    return doc.status;
  }

  let pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      fetch(section.dataset.nodes, { headers: { Accept: "application/json" } })
        .then((response) => response.json()).then(draw);
    }, 500);
  }

  fetch(section.dataset.nodes, { headers: { Accept: "application/json" } })
    .then((response) => response.json()).then(draw);
  if (section.dataset.live !== "yes" || !window.EventSource) return;
  const source = new EventSource(section.dataset.events);
  source.addEventListener("status", (event) => {
    refresh();
    if (terminal.has(JSON.parse(event.data).status)) source.close();
  });
})();
