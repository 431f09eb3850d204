/**
 * The dashboard: one self-contained web page (HTML, inline CSS and JS, canvas charts; no build
 * step, nothing fetched from elsewhere).
 *
 * What anyone sees: the charts and totals, from `/events` (server-sent events with the
 * aggregate figures only), and the tickets placed from this page (the page keeps their ids and
 * polls `GET /tickets/:id`; an order is placed through the same `POST /orders` a client would
 * use). What needs the admin token: every customer's tickets. Given the token (kept in the
 * page's memory only, never stored), the page reads `/admin/events` with
 * `Authorization: Bearer …` (a fetch stream: `EventSource` cannot send that header) and fills
 * the ticket tables.
 */

/** The page. */
export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mailroom shop — live</title>
<style>
  :root { --bg:#0f1419; --panel:#182029; --fg:#e6e6e6; --dim:#8b98a5; --a:#4fc3f7; --b:#81c784; --c:#ef5350; --d:#ffb74d; --e:#ba68c8; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--fg); }
  header { padding:12px 20px; display:flex; gap:24px; align-items:baseline; flex-wrap:wrap; border-bottom:1px solid #26313d; }
  header h1 { font-size:18px; margin:0; }
  header .why { color:var(--dim); }
  #conn { margin-left:auto; color:var(--dim); }
  main { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:14px; padding:14px 20px; }
  .panel { background:var(--panel); border-radius:8px; padding:10px 12px; }
  .panel h2 { font-size:13px; margin:0 0 6px; color:var(--dim); font-weight:600; text-transform:uppercase; letter-spacing:.04em; }
  canvas { width:100%; height:160px; display:block; }
  .legend span { margin-right:12px; font-size:12px; }
  .tiles { display:grid; grid-template-columns:repeat(4, 1fr); gap:8px; }
  .tile { background:#121a22; border-radius:6px; padding:6px 8px; }
  .tile b { display:block; font-size:20px; }
  .tile small { color:var(--dim); }
  table { width:100%; border-collapse:collapse; font-size:12px; }
  td, th { text-align:left; padding:3px 6px; border-bottom:1px solid #26313d; white-space:nowrap; }
  .st-succeeded { color:var(--b); } .st-failed { color:var(--c); } .st-running { color:var(--d); } .st-retrying { color:var(--e); } .st-dispatched { color:var(--a); } .st-accepted { color:var(--dim); } .st-waiting { color:var(--a); }
  form { display:flex; gap:6px; margin-bottom:8px; flex-wrap:wrap; }
  input, select, button { background:#121a22; color:var(--fg); border:1px solid #33414f; border-radius:4px; padding:4px 6px; }
  #order-result, #admin-result { color:var(--dim); font-size:12px; }
  .locked { color:var(--dim); font-size:12px; }
</style>
</head>
<body>
<header>
  <h1>Mailroom shop</h1>
  <span class="why">orders are recorded and answered at once; each line becomes a pick, picks of an item combine into one warehouse job, the pool scales, and past the high-water mark the desk throttles.</span>
  <span id="phase"></span>
  <span id="conn">connecting…</span>
</header>
<main>
  <section class="panel">
    <h2>Orders per second</h2>
    <canvas id="chart-rates" data-points="0"></canvas>
    <div class="legend"><span style="color:var(--a)">■ arrivals</span><span style="color:var(--b)">■ completions</span><span style="color:var(--c)">■ throttled (429)</span></div>
  </section>
  <section class="panel">
    <h2>Backlog</h2>
    <canvas id="chart-backlog" data-points="0"></canvas>
    <div class="legend"><span style="color:var(--d)">■ orders waiting</span><span style="color:var(--c)">- - high-water mark</span><span style="color:var(--e)">■ oldest age (s, right scale)</span></div>
  </section>
  <section class="panel">
    <h2>Warehouse pool</h2>
    <canvas id="chart-pool" data-points="0"></canvas>
    <div class="legend"><span style="color:var(--a)">■ workers</span><span style="color:var(--b)">■ busy</span><span style="color:var(--dim)">- - min / max</span></div>
  </section>
  <section class="panel">
    <h2>Merged by the scheduler (per second)</h2>
    <canvas id="chart-merge" data-points="0"></canvas>
    <div class="legend"><span style="color:var(--b)">■ combined (picks folded into a job)</span><span style="color:var(--a)">■ coalesced (stock look-ups shared)</span><span style="color:var(--d)">■ superseded (price writes skipped)</span></div>
  </section>
  <section class="panel">
    <h2>Totals</h2>
    <div class="tiles">
      <div class="tile"><b id="t-accepted">0</b><small>accepted</small></div>
      <div class="tile"><b id="t-completed">0</b><small>completed</small></div>
      <div class="tile"><b id="t-throttled">0</b><small>throttled (429)</small></div>
      <div class="tile"><b id="t-backlog">0</b><small>backlog</small></div>
      <div class="tile"><b id="t-jobs">0</b><small>warehouse jobs</small></div>
      <div class="tile"><b id="t-bundle">–</b><small>order lines per job</small></div>
      <div class="tile"><b id="t-queries">0</b><small>catalog queries</small></div>
      <div class="tile"><b id="t-lookups">0</b><small>stock look-ups asked</small></div>
    </div>
  </section>
  <section class="panel" id="cluster-panel" style="display:none">
    <h2>Cluster: each process's share</h2>
    <table><thead><tr><th>process (runner)</th><th>partitions</th><th>backlog</th><th>tasks done there</th></tr></thead><tbody id="cluster-rows"></tbody></table>
  </section>
  <section class="panel">
    <h2>Place an order</h2>
    <form id="order-form">
      <select id="o-sku"><option>tea</option><option>coffee</option><option>mug</option><option>kettle</option><option>teapot</option></select>
      <input id="o-qty" type="number" min="1" max="99" value="1" style="width:60px">
      <button type="submit">Order</button>
    </form>
    <div id="order-result"></div>
    <h2 style="margin-top:10px">Tickets placed from this page</h2>
    <table><thead><tr><th>ticket</th><th>status</th><th>customer</th><th>items</th><th>age</th></tr></thead><tbody id="my-tickets"></tbody></table>
  </section>
  <section class="panel">
    <h2>Customers' tickets (admin)</h2>
    <form id="admin-form">
      <input id="admin-token" type="password" placeholder="admin token" autocomplete="off" style="flex:1">
      <button type="submit">Show</button>
    </form>
    <div id="admin-result" class="locked">Every customer's tickets need the admin token (the shop's MAILROOM_ADMIN_TOKEN); the figures above are public.</div>
    <h2 style="margin-top:10px">Tickets submitted through the API</h2>
    <table><thead><tr><th>ticket</th><th>status</th><th>customer</th><th>items</th><th>age</th></tr></thead><tbody id="api-tickets"></tbody></table>
  </section>
  <section class="panel" style="grid-column:1/-1">
    <h2>Latest tickets (admin)</h2>
    <table><thead><tr><th>ticket</th><th>status</th><th>source</th><th>customer</th><th>items</th><th>age</th></tr></thead><tbody id="latest-tickets"></tbody></table>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function draw(canvas, series, opts) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const pad = { l: 44, r: opts.right ? 40 : 8, t: 8, b: 18 };
  const n = Math.max(...series.map((s) => s.values.length), 2);
  let max = opts.min || 1;
  for (const s of series) if (!s.right) for (const v of s.values) if (v > max) max = v;
  let rmax = 1;
  for (const s of series) if (s.right) for (const v of s.values) if (v > rmax) rmax = v;
  ctx.strokeStyle = "#26313d"; ctx.fillStyle = "#8b98a5"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (h - pad.t - pad.b) * i / 4;
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    ctx.fillText(String(Math.round(max * (4 - i) / 4)), 4, y + 4);
    if (opts.right) ctx.fillText((rmax * (4 - i) / 4).toFixed(1), w - pad.r + 4, y + 4);
  }
  for (const s of series) {
    const m = s.right ? rmax : max;
    ctx.strokeStyle = s.color; ctx.lineWidth = s.dash ? 1 : 2; ctx.setLineDash(s.dash ? [4, 4] : []);
    ctx.beginPath();
    s.values.forEach((v, i) => {
      const x = pad.l + (w - pad.l - pad.r) * i / (n - 1);
      const y = pad.t + (h - pad.t - pad.b) * (1 - Math.min(v, m) / m);
      i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  ctx.setLineDash([]);
  canvas.dataset.points = String(n === 2 && series[0].values.length < 2 ? series[0].values.length : n);
  canvas.dataset.last = JSON.stringify(series.map((s) => s.values[s.values.length - 1] ?? null));
}
const css = (v) => getComputedStyle(document.documentElement).getPropertyValue(v).trim();
const deltas = (xs, dt) => xs.map((v, i) => i === 0 ? 0 : Math.max(0, (v - xs[i - 1]) / Math.max(dt[i] - dt[i - 1], 0.1)));
function age(ms) { const s = (Date.now() - ms) / 1000; return s < 60 ? s.toFixed(1) + " s" : Math.round(s / 60) + " min"; }
function rows(tbody, tickets, withSource) {
  tbody.innerHTML = "";
  for (const t of tickets) {
    const tr = document.createElement("tr");
    tr.dataset.ticket = t.id; tr.dataset.status = t.status;
    const items = t.lines.map((l) => l.qty + "× " + l.sku).join(", ");
    const cells = [t.id, t.status].concat(withSource ? [t.source] : []).concat([t.customer, items, age(t.acceptedAt)]);
    cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i === 1) td.className = "st-" + t.status; tr.appendChild(td); });
    tbody.appendChild(tr);
  }
}
function render(snap) {
  const S = snap.samples, t = S.map((s) => s.t);
  const pick = (k) => S.map((s) => s[k]);
  draw($("chart-rates"), [
    { values: pick("arrivals"), color: css("--a") },
    { values: pick("completions"), color: css("--b") },
    { values: pick("throttled"), color: css("--c") }
  ], {});
  draw($("chart-backlog"), [
    { values: pick("backlog"), color: css("--d") },
    { values: S.map(() => snap.totals.highWater), color: css("--c"), dash: true },
    { values: S.map((s) => s.oldestAgeMs / 1000), color: css("--e"), right: true }
  ], { right: true });
  draw($("chart-pool"), [
    { values: pick("workers"), color: css("--a") },
    { values: pick("busyWorkers"), color: css("--b") },
    { values: S.map(() => snap.totals.maxWorkers), color: css("--dim"), dash: true },
    { values: S.map(() => snap.totals.minWorkers), color: css("--dim"), dash: true }
  ], { min: snap.totals.maxWorkers + 1 });
  draw($("chart-merge"), [
    { values: deltas(pick("combined"), t), color: css("--b") },
    { values: deltas(pick("coalesced"), t), color: css("--a") },
    { values: deltas(pick("superseded"), t), color: css("--d") }
  ], {});
  const last = S[S.length - 1];
  $("t-accepted").textContent = snap.totals.accepted;
  $("t-completed").textContent = snap.totals.completed;
  $("t-throttled").textContent = snap.totals.throttled;
  if (last) {
    $("t-backlog").textContent = last.backlog;
    $("t-jobs").textContent = last.jobs;
    $("t-bundle").textContent = last.jobs > 0 ? (last.orders / last.jobs).toFixed(1) : "–";
    $("t-queries").textContent = last.catalogQueries;
    $("t-lookups").textContent = last.lookups;
  }
  $("phase").textContent = snap.load.running ? "load: " + snap.load.phase + " · " + snap.load.rate + " orders/s wanted" : "load generator off";
  if (snap.cluster) {
    $("cluster-panel").style.display = "";
    const body = $("cluster-rows");
    body.textContent = "";
    for (const c of snap.cluster) {
      const tr = document.createElement("tr");
      for (const v of [c.runner + (c.self ? " (this one)" : ""), c.partitions.join(", "), c.depth, c.completions]) {
        const td = document.createElement("td");
        td.textContent = String(v);
        tr.appendChild(td);
      }
      if (c.self) tr.style.fontWeight = "bold";
      body.appendChild(tr);
    }
  }
}
function renderAdmin(snap) {
  rows($("api-tickets"), snap.api, false);
  rows($("latest-tickets"), snap.latest, true);
}
// Tickets placed from this page: their ids are known here, so each is polled on its own.
const mine = new Map();
async function pollMine() {
  for (const [id, known] of mine) {
    if (known && (known.status === "succeeded" || known.status === "failed")) continue;
    const res = await fetch("/tickets/" + encodeURIComponent(id)).catch(() => undefined);
    if (res && res.status === 200) mine.set(id, await res.json());
  }
  rows($("my-tickets"), [...mine.values()].filter(Boolean).reverse(), false);
}
setInterval(pollMine, 500);
// The admin view: /admin/events read as a stream, with the token in the Authorization header.
let adminStream;
async function watchAdmin(token) {
  if (adminStream) adminStream.abort();
  const controller = new AbortController();
  adminStream = controller;
  const res = await fetch("/admin/events", { headers: { authorization: "Bearer " + token }, signal: controller.signal }).catch(() => undefined);
  if (!res || res.status !== 200) {
    $("admin-result").textContent = res && res.status === 401 ? "the admin token was refused" : "the admin stream is not available";
    return;
  }
  $("admin-result").textContent = "showing every customer's tickets";
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read().catch(() => ({ done: true }));
    if (done) break;
    buffer += value;
    let i;
    while ((i = buffer.indexOf("\\n\\n")) >= 0) {
      const data = buffer.slice(0, i).split("\\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\\n");
      buffer = buffer.slice(i + 2);
      if (data) renderAdmin(JSON.parse(data));
    }
  }
}
$("admin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("admin-token").value;
  $("admin-token").value = "";
  watchAdmin(token);
});
function connect() {
  const es = new EventSource("/events");
  es.onopen = () => { $("conn").textContent = "live"; };
  es.onmessage = (e) => render(JSON.parse(e.data));
  es.onerror = () => { $("conn").textContent = "reconnecting…"; };
}
$("order-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { customer: "dashboard", lines: [{ sku: $("o-sku").value, qty: Number($("o-qty").value) }] };
  const res = await fetch("/orders", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = await res.json();
  $("order-result").textContent = res.status + " " + (res.status === 202 ? "accepted: ticket " + answer.ticket.id : (answer.message || ""));
  if (res.status === 202) {
    mine.set(answer.ticket.id, answer.ticket);
    pollMine();
  }
});
connect();
</script>
</body>
</html>
`
