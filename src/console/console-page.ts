/**
 * The console's page: one self-contained HTML file (no script, style or font from elsewhere). It draws each state
 * the server streams (console-state.ts): the topology with every node's version, epoch, health and part in the
 * running update, the update's progress, the rates, and the space-time diagram of the last seconds (drawn by the
 * server with `liveswap viz`'s code). Buttons: watch (the update's log of changes), abort and resume, each confirmed.
 * Elements carry data-* attributes (node, version, health, part) that tests and scripts can read.
 */

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 0; color: #1d232b; background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; background: #1d232b; color: #fff; }
header h1 { font-size: 1.1em; margin: 0; }
header .muted { color: #b9c2cc; }
main { display: grid; grid-template-columns: minmax(320px, 1fr) minmax(320px, 1fr); gap: 1em; padding: 1em; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: .8em 1em; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1em; margin: 0 0 .5em; }
.muted { color: #6b7785; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: .2em .5em; border-bottom: 1px solid #eef0f3; font-variant-numeric: tabular-nums; }
.health-down { color: #b42318; font-weight: 600; } .health-suspected { color: #b54708; } .health-moving { color: #175cd3; }
.bar { height: 10px; background: #eef0f3; border-radius: 5px; overflow: hidden; } .bar > div { height: 100%; background: #12b76a; }
button { margin-right: .5em; } #message { margin-left: .5em; }
#diagram { overflow-x: auto; max-height: 480px; } #log { max-height: 160px; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 12px; }
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
let last = null;
let watching = false;
const colour = (v) => { let h = 0; for (const c of v) h = (h * 31 + c.charCodeAt(0)) % 360; return "hsl(" + h + ",65%,62%)"; };
function log(line) { const d = document.createElement("div"); d.textContent = new Date().toLocaleTimeString() + "  " + line; $("log").prepend(d); }
function topology(s) {
  const n = s.nodes.length, W = 460, H = 300, r = Math.min(W, H) / 2 - 40;
  const at = new Map(s.nodes.map((x, i) => [x.id, n === 1 ? [W / 2, H / 2] : [W / 2 + r * Math.cos((2 * Math.PI * i) / n - Math.PI / 2), H / 2 + r * Math.sin((2 * Math.PI * i) / n - Math.PI / 2)]]));
  let svg = '<svg viewBox="0 0 ' + W + " " + H + '" width="100%" role="img" aria-label="topology">';
  for (const l of s.links) { const a = at.get(l.a), b = at.get(l.b); if (!a || !b) continue;
    svg += '<line data-link="' + esc(l.a + "-" + l.b) + '" data-state="' + esc(l.state) + '" x1="' + a[0] + '" y1="' + a[1] + '" x2="' + b[0] + '" y2="' + b[1] + '" stroke="' + (l.state === "up" ? "#98a2b3" : "#d92d20") + '" stroke-width="2"' + (l.state === "up" ? "" : ' stroke-dasharray="6 4"') + "/>"; }
  for (const x of s.nodes) { const [cx, cy] = at.get(x.id);
    const stroke = x.health === "down" ? "#b42318" : x.health === "suspected" ? "#f79009" : x.health === "moving" ? "#175cd3" : "#1d232b";
    svg += '<g data-node="' + esc(x.id) + '" data-version="' + esc(x.version) + '" data-health="' + esc(x.health) + '" data-part="' + esc(x.part || "") + '">' +
      "<title>" + esc(x.id + " " + x.version + " epoch " + x.epoch + " " + x.health + (x.why ? ": " + x.why : "")) + "</title>" +
      '<circle cx="' + cx + '" cy="' + cy + '" r="30" fill="' + (x.health === "down" ? "#e4e7ec" : colour(x.version)) + '" stroke="' + stroke + '" stroke-width="' + (x.health === "up" ? 2 : 4) + '"' + (x.health === "suspected" || x.health === "moving" ? ' stroke-dasharray="5 3"' : "") + "/>" +
      '<text x="' + cx + '" y="' + (cy - 4) + '" text-anchor="middle" font-weight="600">' + esc(x.id) + "</text>" +
      '<text x="' + cx + '" y="' + (cy + 12) + '" text-anchor="middle" font-size="11">' + esc(x.health === "down" ? "down" : x.version) + "</text>" +
      (x.part ? '<text x="' + cx + '" y="' + (cy + 46) + '" text-anchor="middle" font-size="11" fill="#475467">' + esc(x.part) + "</text>" : "") + "</g>"; }
  return svg + "</svg>";
}
function updatePanel(u) {
  if (!u) return '<p class="muted">No update has run here.</p>';
  const done = u.new.length, all = u.nodes.length || 1;
  return '<p>Update <b>#' + esc(u.id) + "</b> (" + esc(u.strategy) + ", root " + esc(u.root) + '): <b id="update-phase" data-phase="' + esc(u.phase) + '">' + esc(u.phase) + "</b></p>" +
    '<div class="bar" title="nodes new"><div style="width:' + Math.round((100 * done) / all) + '%"></div></div>' +
    "<p>" + u.prepared.length + " of " + u.nodes.length + " prepared, " + done + " new" +
    (u.halted.length ? '; <span class="health-down">halted at ' + esc(u.halted.map((h) => h.node + " (" + h.error + ")").join(", ")) + "</span>" : "") +
    (u.waiting.length ? '; <span class="health-suspected">waiting for ' + esc(u.waiting.join(", ")) + " (down or cut off)</span>" : "") + "</p>";
}
function table(s) {
  let h = "<table><tr><th>node</th><th>version</th><th>epoch</th><th>health</th><th>update</th><th>sent/s</th><th>recv/s</th><th>req/s</th><th>open</th><th>outbox</th><th>at</th></tr>";
  for (const x of s.nodes) h += '<tr data-row="' + esc(x.id) + '"><td>' + esc(x.id) + "</td><td>" + esc(x.version) + "</td><td>" + esc(x.epoch) + '</td><td class="health-' + esc(x.health) + '" title="' + esc(x.why || "") + '">' + esc(x.health) + "</td><td>" + esc(x.part || "") + "</td><td>" + Math.round(x.sentPerSec) + "</td><td>" + Math.round(x.receivedPerSec) + "</td><td>" + Math.round(x.requestsPerSec) + "</td><td>" + esc(x.openRequests) + "</td><td>" + esc(x.outbox) + "</td><td>" + esc(x.at || "") + "</td></tr>";
  return h + "</table>";
}
function render(s) {
  if (watching && last) {
    const a = last.update, b = s.update;
    if (b && (!a || a.id !== b.id || a.phase !== b.phase)) log("update #" + b.id + ": " + b.phase);
    if (b) for (const id of b.new) if (!a || a.id !== b.id || !a.new.includes(id)) log(id + " turned new");
    for (const x of s.nodes) { const y = last.nodes.find((z) => z.id === x.id); if (y && y.health !== x.health) log(x.id + ": " + x.health + (x.why ? " (" + x.why + ")" : "")); }
  }
  last = s;
  $("title").textContent = s.title;
  $("source").textContent = s.source === "cluster" ? "live cluster" : "simulated run";
  $("playback").textContent = s.playback ? "played " + Math.round(s.playback.playedMs) + " of " + Math.round(s.playback.totalMs) + " virtual ms (" + s.playback.speed + " ms a second)" : "";
  $("topology").innerHTML = topology(s);
  $("update").innerHTML = updatePanel(s.update);
  $("rates").textContent = Math.round(s.messagesPerSec) + " messages/s, " + Math.round(s.requestsPerSec) + " requests/s";
  $("nodes").innerHTML = table(s);
  // The stream leaves the diagram out while it is the one the page has.
  if (s.diagram !== undefined) $("diagram").innerHTML = s.diagram || '<p class="muted">No events in the last seconds.</p>';
  $("abort").disabled = !s.actions.abort;
  $("resume").disabled = !s.actions.resume;
}
async function act(path, body) {
  $("message").textContent = "…";
  const r = await fetch(path, { method: "POST", headers: { "x-liveswap-console": "1" }, body });
  const j = await r.json();
  $("message").textContent = j.ok ? j.message : "refused: " + j.error;
}
$("watch").onclick = () => { watching = !watching; $("watch").textContent = watching ? "stop watching" : "watch"; $("log-box").hidden = !watching; };
$("abort").onclick = () => { if (last && last.update && confirm("Abort update #" + last.update.id + " (" + last.update.phase + ")? Nodes that prepared go back to serving their old version.")) void act("/api/abort"); };
$("resume").onclick = () => $("package").click();
$("package").onchange = async () => { const f = $("package").files[0]; if (!f) return;
  if (confirm("Resume update #" + (last && last.update ? last.update.id : "?") + " with " + f.name + "? The halted nodes take its transfer.")) void act("/api/resume", await f.text());
  $("package").value = ""; };
const events = new EventSource("/api/events");
events.onmessage = (e) => { $("live").textContent = "live"; render(JSON.parse(e.data)); };
events.addEventListener("trouble", (e) => { $("live").textContent = "trouble: " + JSON.parse(e.data).error; });
events.onerror = () => { $("live").textContent = events.readyState === EventSource.CLOSED ? "disconnected: open the URL the command printed again" : "reconnecting…"; };
`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liveswap console</title><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>${STYLE}</style></head>
<body>
<header><h1>liveswap console</h1><span id="source" class="muted"></span><span id="title"></span><span id="playback" class="muted"></span><span id="live" class="muted">connecting…</span></header>
<main>
<section><h2>Topology</h2><div id="topology"></div><p id="rates" class="muted"></p></section>
<section><h2>Update</h2><div id="update"></div>
<p><button id="watch">watch</button><button id="abort" disabled>abort</button><button id="resume" disabled>resume…</button><input id="package" type="file" accept=".lspkg,.json" hidden><span id="message" class="muted"></span></p>
<div id="log-box" hidden><h2>Watching</h2><div id="log"></div></div></section>
<section class="wide"><h2>Nodes</h2><div id="nodes"></div></section>
<section class="wide"><h2>The last seconds (space-time)</h2><div id="diagram"></div></section>
</main>
<script>${SCRIPT}</script>
</body></html>
`;

export function consolePage(): string {
  return PAGE;
}
