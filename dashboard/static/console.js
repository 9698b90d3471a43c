// Live updates for the console pages: server-sent events from /stream, plus keyboard
// shortcuts on the review queue. Every page also works without this script.
(function () {
  "use strict";
  const body = document.body;
  const page = body.dataset.page;
  if (page !== "live" && page !== "review" && page !== "alerts") return;

  const filters = new URLSearchParams();
  if (body.dataset.exam) filters.set("exam", body.dataset.exam);
  if (body.dataset.gate) filters.set("gate", body.dataset.gate);
  const query = filters.toString() ? "?" + filters.toString() : "";
  const status = document.getElementById("stream-status");
  const badge = document.getElementById("queue-size");
  const alertBadge = document.getElementById("alert-count");
  const MAX_ROWS = 300;

  function setStatus(live, text) {
    status.hidden = false;
    status.textContent = text;
    status.classList.toggle("live", live);
  }

  function fromHtml(html) {
    const t = document.createElement("template");
    t.innerHTML = html.trim();  // rendered and escaped by the server
    return t.content;
  }

  function setQueueSize(n) {
    badge.textContent = n;
    badge.classList.toggle("zero", n === 0);
  }

  function setAlertCount(n) {
    alertBadge.textContent = n;
    alertBadge.classList.toggle("zero", n === 0);
  }

  // Live table ------------------------------------------------------------------------
  const rows = document.getElementById("decision-rows");

  function addRow(data) {
    const old = rows.querySelector(`tr[data-event-id="${CSS.escape(data.event_id)}"]`);
    if (old) old.remove();
    rows.querySelectorAll("tr.empty").forEach((r) => r.remove());
    const frag = fromHtml(data.row);
    const tr = frag.querySelector("tr");
    if (tr) tr.classList.add("fresh");
    rows.prepend(frag);
    while (rows.rows.length > MAX_ROWS) rows.deleteRow(rows.rows.length - 1);
  }

  // Review queue ----------------------------------------------------------------------
  const cards = document.getElementById("cards");

  function emptyNote() {
    const note = cards.querySelector(".empty-queue");
    if (note) note.hidden = cards.querySelector("article.card") !== null;
  }

  async function addCard(id) {
    if (document.getElementById("item-" + id)) return;
    const resp = await fetch(`/review/item/${encodeURIComponent(id)}${query}`,
                             {credentials: "same-origin"});
    if (!resp.ok || document.getElementById("item-" + id)) return;
    const frag = fromHtml(await resp.text());
    cards.insertBefore(frag, cards.querySelector(".empty-queue"));
    emptyNote();
  }

  function removeCard(id) {
    const card = document.getElementById("item-" + id);
    if (card && !card.contains(document.activeElement)) card.remove();
    else if (card) card.classList.add("gone");
    emptyNote();
  }

  // Alerts ----------------------------------------------------------------------------
  const alerts = document.getElementById("alerts");

  async function addAlert(id) {
    if (document.getElementById("alert-" + id)) return;
    const resp = await fetch(`/alerts/item/${encodeURIComponent(id)}${query}`,
                             {credentials: "same-origin"});
    if (!resp.ok || document.getElementById("alert-" + id)) return;
    alerts.prepend(fromHtml(await resp.text()));
    const note = alerts.querySelector(".empty-queue");
    if (note) note.hidden = true;
  }

  async function reload() {
    const urls = {live: "/live/rows", review: "/review/items", alerts: "/alerts/items"};
    const url = urls[page] + query;
    const resp = await fetch(url, {credentials: "same-origin"});
    if (resp.status === 401) { window.location.reload(); return; }
    if (!resp.ok) return;
    const target = {live: rows, review: cards, alerts: alerts}[page];
    target.replaceChildren(fromHtml(await resp.text()));
  }

  // Stream ----------------------------------------------------------------------------
  let dropped = false;
  const source = new EventSource("/stream" + query);
  source.addEventListener("open", () => {
    setStatus(true, "live");
    if (dropped) reload();  // catch up on whatever happened while disconnected
    dropped = false;
  });
  source.addEventListener("error", () => {
    dropped = true;
    setStatus(false, "reconnecting…");
    // Closed for good (not retrying) means the server refused: most likely the session
    // ended, and a reload leads to the login page.
    if (source.readyState === EventSource.CLOSED) setTimeout(() => window.location.reload(), 3000);
  });
  // The session ended (logged out elsewhere, or too old): back to the login form.
  source.addEventListener("logout", () => {
    source.close();
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  });
  source.addEventListener("decision", (e) => {
    const data = JSON.parse(e.data);
    if (page === "live") addRow(data);
    if (data.alert) {
      setAlertCount(data.alerts);
      if (page === "alerts") addAlert(data.event_id);
    }
  });
  source.addEventListener("queue", (e) => {
    const data = JSON.parse(e.data);
    setQueueSize(data.size);
    if (page !== "review") return;
    if (data.op === "add") addCard(data.event_id);
    else removeCard(data.event_id);
  });

  // Keyboard shortcuts on the top card ------------------------------------------------
  if (page === "review") {
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const tag = (e.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "textarea") return;
      const top = cards.querySelector("article.card:not(.gone)");
      if (!top) return;
      const button = top.querySelector(`button[data-key="${e.key.toLowerCase()}"]`);
      if (button) { e.preventDefault(); button.click(); }
    });
  }
})();
