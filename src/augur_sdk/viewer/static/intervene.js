// Intervention buttons of a run page (augur view --control-dsn): a same-origin POST to the
// viewer with this page's token; the viewer forwards it to augur serve with its own token.
(function () {
  "use strict";
  const data = document.getElementById("augur-control");
  const bar = document.querySelector(".top-actions");
  if (!data || !bar) return;
  const control = JSON.parse(data.textContent);
  const LABELS = { pause: "Pause", resume: "Resume", kill: "Kill", inject_hint: "Hint…" };
  const group = document.createElement("span");
  group.className = "intervene";
  group.id = "intervene";
  group.title = "Live intervention through " + control.server;
  const status = document.createElement("span");
  status.id = "intervene-status";
  status.className = "intervene-status";
  status.setAttribute("role", "status");

  async function send(type) {
    const body = { type: type };
    if (type === "inject_hint") {
      const text = window.prompt("Hint for the agent's next step:");
      if (!text) return;
      body.text = text;
    }
    if (type === "kill" && !window.confirm("Kill this run? The agent stops after its current step.")) {
      return;
    }
    status.textContent = type + "…";
    try {
      const resp = await fetch("api/intervene", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Augur-CSRF": control.csrf },
        body: JSON.stringify(body),
      });
      const answer = await resp.json();
      status.textContent = resp.status === 201
        ? type + " sent (" + answer.command.command_id + ")"
        : type + " refused: " + (answer.error || "HTTP " + resp.status);
      status.dataset.outcome = resp.status === 201 ? "sent" : "refused";
    } catch (err) {
      status.textContent = type + " failed: " + err;
      status.dataset.outcome = "failed";
    }
  }

  // A finished run takes no commands (the server would answer 409): say so up front.
  let finished = false;
  try {
    const initial = JSON.parse(document.getElementById("augur-initial").textContent);
    finished = initial.index.meta.state === "finished";
  } catch (err) {
    finished = false;
  }
  if (finished) {
    status.textContent = "finished: takes no commands";
    status.dataset.outcome = "finished";
  }

  for (const type of control.commands) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "btn-" + type.replace("_", "-");
    button.textContent = LABELS[type] || type;
    button.disabled = finished;
    button.addEventListener("click", () => send(type));
    group.appendChild(button);
  }
  group.appendChild(status);
  bar.insertBefore(group, bar.firstChild);
})();
