// The dashboard's few behaviours; every page works without them (forms post, links link).
// sms.* mirrors ovop/language/i18n.py (fold_gsm7, sms_encoding, sms_segments): the server's preview stays the truth.
"use strict";

const sms = (() => {
  const BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const EXTENSION = new Set("\f^{}\\[~]|€");
  const GSM7 = new Set([...BASIC, ...EXTENSION]);
  const FOLD = {
    "ç": "c", "œ": "oe", "Œ": "OE", "ŋ": "ng", "Ŋ": "NG",
    "’": "'", "‘": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'", "‹": "'", "›": "'",
    "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "″": '"',
    "…": "...", "–": "-", "—": "-", "‐": "-", "‑": "-", "‒": "-", "―": "-", "−": "-",
    "•": "-", "·": ".", "×": "x", "÷": "/", "⁄": "/", "°": "o",
  };
  const foldChar = (ch) => {
    if (GSM7.has(ch)) return ch;
    if (ch in FOLD) return FOLD[ch];
    if (/^\p{Zs}$/u.test(ch) || ch === "\t" || ch === "\v") return " ";
    if (/^[\p{Zl}\p{Zp}]$/u.test(ch)) return "\n";
    const base = ch.normalize("NFKD").replace(/\p{M}/gu, "");
    return base && [...base].every((c) => GSM7.has(c)) ? base : "";
  };
  const fold = (text) => [...text].map(foldChar).join("");
  const isGsm7 = (text) => [...text].every((c) => GSM7.has(c));
  const encoding = (text) => (isGsm7(text) ? "GSM-7" : "UCS-2");
  const segments = (text) => {
    const gsm = isGsm7(text);
    const units = [...text].map((c) => (gsm ? (EXTENSION.has(c) ? 2 : 1) : c.length));
    const [single, part] = gsm ? [160, 153] : [70, 67];
    if (units.reduce((a, b) => a + b, 0) <= single) return 1;
    let count = 1, used = 0;
    for (const cost of units) {
      if (used + cost > part) { count += 1; used = 0; }
      used += cost;
    }
    return count;
  };
  const changed = (text) => [...new Set([...text].filter((c) => foldChar(c) !== c))];
  return { fold, encoding, segments, changed };
})();
window.ovopSms = sms;

const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : ""));
const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function postJson(url, body, isForm) {
  const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
  if (!isForm) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method: "POST", headers, body: isForm ? body : JSON.stringify(body),
                                      credentials: "same-origin" });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  return { ok: response.ok, data };
}

// On a phone the menu scrolls sideways: bring the current entry into view.
const current = document.querySelector('.nav a[aria-current="page"]');
if (current) current.scrollIntoView({ block: "nearest", inline: "center" });

// Confirmations, selects that apply themselves, a product list narrowed to the chosen cooperative.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const asking = (event.submitter && event.submitter.dataset.confirm) || form.dataset.confirm;
  if (asking && !window.confirm(asking)) event.preventDefault();
});
document.querySelectorAll("select[data-autosubmit]").forEach((select) =>
  select.addEventListener("change", () => select.form.submit()));
document.querySelectorAll("select[data-filters]").forEach((select) => {
  const target = document.getElementById(select.dataset.filters);
  const apply = () => {
    for (const option of target.options) {
      if (!option.value) continue;
      const ok = !select.value || option.dataset.cooperatives.split(" ").includes(select.value);
      option.hidden = !ok;
      if (!ok && option.selected) target.value = "";
    }
  };
  select.addEventListener("change", apply);
  apply();
});

// Broadcasts: a live counter per language, and the server's count of producers reached.
const broadcastForm = document.getElementById("broadcast-form");
if (broadcastForm) {
  const counters = [...broadcastForm.querySelectorAll("textarea[data-sms-counter]")];
  const count = (area) => {
    const out = document.getElementById(area.dataset.smsCounter);
    if (!area.value.trim()) { out.textContent = ""; return; }
    const folded = sms.fold(area.value);
    let line = fill(out.dataset.template, { chars: [...folded].length, segments: sms.segments(folded),
                                           encoding: sms.encoding(folded) });
    const changed = sms.changed(area.value).filter((c) => c !== "\n");
    if (changed.length) line += " — " + fill(out.dataset.warning, { chars: changed.join(" ") });
    out.textContent = line;
    out.classList.toggle("warn", changed.length > 0);
  };
  let timer = null;
  const reach = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const data = new FormData(broadcastForm);
      const body = { text: {}, audience: {} };
      for (const code of ["fr", "wo", "en"]) body.text[code] = data.get("text_" + code) || "";
      for (const key of ["cooperative_id", "product", "language"]) body.audience[key] = data.get("audience_" + key) || "";
      const { ok, data: answer } = await postJson(broadcastForm.dataset.previewUrl, body);
      const out = document.getElementById("audience-count");
      out.textContent = ok ? fill(out.dataset.template, { n: answer.producers }) : answer.error || "";
    }, 400);
  };
  counters.forEach((area) => {
    area.addEventListener("input", () => { count(area); reach(); });
    count(area);
  });
  broadcastForm.querySelectorAll("select").forEach((select) => select.addEventListener("change", reach));
  reach();
}

// Producer import: read the file once, then send its rows in chunks and draw the progress.
const importForm = document.getElementById("import-form");
if (importForm) {
  importForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("import-error");
    const progressBox = document.getElementById("import-progress");
    const bar = progressBox.querySelector("progress");
    const label = progressBox.querySelector("p");
    const report = document.getElementById("import-report");
    const rowsOut = document.getElementById("import-rows");
    const summary = document.getElementById("import-summary");
    const notes = document.getElementById("import-notes");
    const button = importForm.querySelector("button");
    const file = importForm.querySelector("input[type=file]").files[0];
    error.hidden = true;
    rowsOut.replaceChildren();
    notes.replaceChildren();
    summary.textContent = "";
    const showError = (message) => { error.textContent = message; error.hidden = false; };
    if (!file) return;
    button.disabled = true;
    try {
      const checked = await postJson(importForm.dataset.checkUrl, new FormData(importForm), true);
      if (!checked.ok) { showError(checked.data.error); return; }
      const { rows, total, chunk, ignored } = checked.data;
      ignored.forEach((text) => {
        const p = document.createElement("p");
        p.className = "alert warn";
        p.textContent = text;
        notes.append(p);
      });
      report.hidden = false;
      report.dataset.state = "running";
      progressBox.hidden = false;
      bar.max = total;
      let done = 0, created = 0;
      const draw = () => {
        bar.value = done;
        label.textContent = fill(label.dataset.template, { done, total });
        summary.textContent = fill(summary.dataset.template, { created, errors: done - created, total });
      };
      draw();
      for (let start = 0; start < rows.length; start += chunk) {
        const answer = await postJson(importForm.dataset.rowsUrl, { rows: rows.slice(start, start + chunk) });
        if (!answer.ok) { showError(answer.data.error); report.dataset.state = "failed"; return; }
        for (const row of answer.data.reports) {
          const tr = document.createElement("tr");
          tr.className = row.ok ? "ok" : "bad";
          tr.dataset.kind = row.kind;
          [row.line, row.phone, row.name, row.message].forEach((value, index) => {
            const td = document.createElement("td");
            td.dataset.label = report.querySelectorAll("th")[index].textContent;
            td.textContent = value;
            tr.append(td);
          });
          rowsOut.append(tr);
          done += 1;
          if (row.ok) created += 1;
        }
        draw();
      }
      report.dataset.state = "done";
    } catch (e) {
      showError(error.dataset.failed + " (" + e + ")");
      report.dataset.state = "failed";
    } finally {
      button.disabled = false;
    }
  });
}

// Simulator: keep the thread at its latest message and refresh it, so alerts the service sends appear.
const thread = document.getElementById("thread");
if (thread) {
  const toBottom = () => { thread.scrollTop = thread.scrollHeight; };
  toBottom();
  let last = null;  // the server's last answer, compared as sent (innerHTML would be re-serialised)
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const response = await fetch(thread.dataset.url, { credentials: "same-origin" });
      if (response.redirected) { window.location.reload(); return; }  // signed out meanwhile
      if (!response.ok) return;
      const html = await response.text();
      if (html !== last) {
        const atBottom = last === null || thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
        thread.innerHTML = html;
        last = html;
        if (atBottom) toBottom();
      }
    } catch (e) { /* offline for a moment: try again at the next tick */ }
  }, 2500);
}
