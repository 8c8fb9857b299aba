// The vsearch web page: plain DOM, no build step, nothing loaded from elsewhere.
// Every string that comes from the library (paths, labels, errors) is put in the page with
// textContent or as an attribute value, never parsed as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { health: null, lastQuery: null, labels: [] };

// --- small helpers -------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// File names that are not UTF-8 reach us as lone surrogates U+DC80..U+DCFF (one per byte):
// show them as \xNN, as the command line does.
function shown(path) {
  return String(path).replace(/[\uDC80-\uDCFF]/g, (c) => "\\x" + (c.charCodeAt(0) - 0xdc00).toString(16));
}
function baseName(path) { const p = shown(path); return p.slice(p.lastIndexOf("/") + 1); }
function dirName(path) { const p = shown(path); return p.slice(0, p.lastIndexOf("/") + 1); }
function clock(seconds) {
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = (s % 60).toFixed(1);
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + sec.padStart(4, "0");
}
const fileUrl = (id) => `/api/videos/${encodeURIComponent(id)}/file`;
const thumbUrl = (id, t, w = 320) => `/api/videos/${encodeURIComponent(id)}/thumb?t=${t.toFixed(2)}&w=${w}`;

async function api(url, options = {}) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

function setStatus(node, text, error = false) {
  node.textContent = text;
  node.classList.toggle("error", error);
}

let toastTimer = null;
function toast(text) {
  const node = $("#toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 6000);
}

// --- header and tabs -----------------------------------------------------------------------

async function loadHealth() {
  try {
    const h = await api("/api/health");
    state.health = h;
    $("#facts").textContent = `${h.frames.toLocaleString()} frames · ${h.model} · ${h.fps} fps`;
  } catch (err) {
    $("#facts").textContent = "server unreachable: " + err.message;
  }
}

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("active", view.id === "view-" + name);
  if (name === "videos") loadVideos();
}
for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));

// --- search --------------------------------------------------------------------------------

const k = () => Math.max(1, Math.min(200, parseInt($("#k").value, 10) || 12));

function isVideo(file) {
  return file.type.startsWith("video/") || /\.(mp4|mkv|webm|mov|avi|ts|m4v|mpg|mpeg|flv|wmv)$/i.test(file.name);
}

function chooseFile(file) {
  if (!file) return;
  const preview = $("#query-preview"), img = $("#query-image"), vid = $("#query-video");
  preview.hidden = false;
  $("#query-name").textContent = file.name || "pasted image";
  if (img.src) URL.revokeObjectURL(img.src);
  if (vid.src) URL.revokeObjectURL(vid.src);
  if (isVideo(file)) {
    img.hidden = true; vid.hidden = false; vid.src = URL.createObjectURL(file);
    $("#clip-range").hidden = false;
    state.lastQuery = { kind: "clip", file };
    setStatus($("#status"), "Choose the part of the clip to look for (or all of it), then search.");
  } else {
    vid.hidden = true; img.hidden = false; img.src = URL.createObjectURL(file);
    $("#clip-range").hidden = true;
    state.lastQuery = { kind: "image", file };
    searchImage(file);
  }
}

async function searchImage(file) {
  const form = new FormData();
  form.append("file", file, file.name || "pasted.png");
  await runSearch(`/api/search/image?k=${k()}`, { method: "POST", body: form }, "image");
}

async function searchClip() {
  const query = state.lastQuery;
  if (!query || query.kind !== "clip") return;
  const params = new URLSearchParams({ k: k() });
  if ($("#clip-start").value !== "") params.set("start", $("#clip-start").value);
  if ($("#clip-end").value !== "") params.set("end", $("#clip-end").value);
  const form = new FormData();
  form.append("file", query.file, query.file.name);
  await runSearch(`/api/search/clip?${params}`, { method: "POST", body: form }, "clip");
}

async function searchText(text) {
  state.lastQuery = { kind: "text", text };
  $("#query-preview").hidden = true;
  await runSearch(`/api/search/text?${new URLSearchParams({ q: text, k: k() })}`, {}, "text");
}

async function runSearch(url, options, kind) {
  const status = $("#status"), results = $("#results");
  setStatus(status, kind === "clip" ? "Decoding and matching the clip…" : "Searching…");
  results.replaceChildren();
  const started = performance.now();
  try {
    const hits = await api(url, options);
    const ms = Math.round(performance.now() - started);
    setStatus(status, hits.length
      ? `${hits.length} ${kind === "clip" ? "matching segments" : "videos"} in ${ms} ms`
      : "Nothing in the library matches.");
    results.replaceChildren(...hits.map((hit, i) => resultCard(hit, i, kind)));
  } catch (err) {
    setStatus(status, err.message, true);
  }
}

function resultCard(hit, index, kind) {
  const isSegment = hit.start !== undefined;
  const at = isSegment ? hit.start : hit.time;
  const when = isSegment ? `${clock(hit.start)}–${clock(hit.end)}` : clock(hit.time);
  const score = Math.max(0, Math.min(1, hit.score));
  const bar = el("div", { class: "scorebar" }, el("span", { style: `width:${(score * 100).toFixed(1)}%` }));
  const card = el("div", {
      class: "card result", tabindex: "0", title: shown(hit.path),
      dataset: { path: hit.path, time: String(at), videoId: String(hit.video_id) },
    },
    el("div", { class: "thumb" },
      el("img", { src: thumbUrl(hit.video_id, at + (isSegment ? Math.min(1, (hit.end - hit.start) / 2) : 0)), alt: "", loading: "lazy" }),
      el("span", { class: "badge", text: hit.score.toFixed(3) }),
      el("span", { class: "badge time", text: when }),
      el("span", { class: "rank", text: String(index + 1) }),
      el("div", { class: "play", text: "▶" })),
    el("div", { class: "meta" },
      el("div", { class: "name", text: baseName(hit.path) }),
      el("div", { class: "dir", text: dirName(hit.path) }),
      isSegment ? el("div", { class: "note", text: `query ${clock(hit.query_start)}–${clock(hit.query_end)}` }) : null,
      hit.classes ? el("div", { class: "note", text: "shows " + hit.classes.join(", ") }) : null,
      bar));
  const open = () => openPlayer({ id: hit.video_id, path: hit.path, start: at, end: isSegment ? hit.end : null });
  card.addEventListener("click", open);
  card.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  return card;
}

// drop, paste, choose
const drop = $("#drop");
for (const type of ["dragenter", "dragover"]) {
  window.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
}
window.addEventListener("dragleave", (e) => { if (!e.relatedTarget) drop.classList.remove("over"); });
window.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  showView("search");
  chooseFile(e.dataTransfer.files[0]);
});
window.addEventListener("paste", (e) => {
  const file = [...(e.clipboardData ? e.clipboardData.files : [])][0];
  if (file) { e.preventDefault(); showView("search"); chooseFile(file); }
});
$("#file-input").addEventListener("change", (e) => { chooseFile(e.target.files[0]); e.target.value = ""; });
$("#clip-go").addEventListener("click", searchClip);
$("#text-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("#text-query").value.trim();
  if (text) searchText(text);
  else if (state.lastQuery && state.lastQuery.kind === "clip") searchClip();
  else if (state.lastQuery && state.lastQuery.kind === "image") searchImage(state.lastQuery.file);
});

// --- the player ----------------------------------------------------------------------------

let current = null;

function openPlayer(item) {
  current = item;
  const video = $("#player-video");
  $("#player-path").textContent = shown(item.path);
  $("#player-when").textContent = item.end != null
    ? `segment ${clock(item.start)}–${clock(item.end)}` : `from ${clock(item.start)}`;
  $("#label-span").textContent = item.end != null
    ? `${clock(item.start)}–${clock(item.end)}` : `from ${clock(item.start)}`;
  $("#label-segment").checked = false;
  setStatus($("#label-status"), "");
  $("#player").hidden = false;
  video.dataset.target = String(item.start);
  video.src = fileUrl(item.id);
  const seek = () => {
    video.currentTime = item.start;
    video.play().catch(() => {});  // autoplay may be refused: the controls are there
  };
  video.addEventListener("loadedmetadata", seek, { once: true });
  showLabels(item.id);
}

function closePlayer() {
  const video = $("#player-video");
  video.pause();
  video.removeAttribute("src");
  video.load();
  $("#player").hidden = true;
  current = null;
}
$("#player-close").addEventListener("click", closePlayer);
$("#player").addEventListener("click", (e) => { if (e.target.id === "player") closePlayer(); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && current) closePlayer(); });

async function loadLabels() {
  try { state.labels = (await api("/api/labels")).labels; } catch { state.labels = []; }
}

async function showLabels(videoId) {
  await loadLabels();
  const mine = state.labels.filter((l) => l.video_id === videoId);
  $("#player-labels").replaceChildren(...mine.map((l) => el("span", {
    class: "chip",
    text: l.start == null ? l.label : `${l.label} · ${clock(l.start)}–${l.end == null ? "end" : clock(l.end)}`,
  })));
}

$("#label-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!current) return;
  const body = { video_id: current.id, label: $("#label-text").value.trim() };
  if ($("#label-segment").checked) {
    body.start = current.start;
    if (current.end != null) body.end = current.end;
  }
  try {
    await api("/api/labels", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    setStatus($("#label-status"), `labelled “${body.label}”`);
    $("#label-text").value = "";
    showLabels(current.id);
  } catch (err) {
    setStatus($("#label-status"), err.message, true);
  }
});

// --- duplicates ----------------------------------------------------------------------------

$("#dups-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const params = new URLSearchParams();
  if ($("#dups-threshold").value) params.set("threshold", $("#dups-threshold").value);
  if ($("#dups-min").value) params.set("min_duration", $("#dups-min").value);
  if ($("#dups-within").checked) params.set("within", "1");
  const status = $("#dups-status"), list = $("#dups");
  setStatus(status, "Looking for footage shown twice…");
  list.replaceChildren();
  try {
    const pairs = await api(`/api/dups?${params}`);
    setStatus(status, pairs.length ? `${pairs.length} duplicate segment pairs, best first` : "No duplicates found.");
    list.replaceChildren(...pairs.slice(0, 200).map(pairView));
  } catch (err) {
    setStatus(status, err.message, true);
  }
});

function sideView(side) {
  // The media fragment #t=start,end starts at the segment and pauses at its end.
  const video = el("video", {
    controls: "", preload: "metadata", muted: "",
    src: `${fileUrl(side.video_id)}#t=${side.start.toFixed(2)},${side.end.toFixed(2)}`,
  });
  video.muted = true;
  return el("div", { class: "side", dataset: { path: side.path } },
    video,
    el("div", { class: "path", text: shown(side.path) }),
    el("div", { class: "seg", text: `${clock(side.start)}–${clock(side.end)} (${(side.end - side.start).toFixed(1)} s)` }));
}

function pairView(match) {
  const a = sideView(match.a), b = sideView(match.b);
  const both = el("button", { type: "button", text: "▶ play both" });
  both.addEventListener("click", () => {
    for (const [v, s] of [[a.querySelector("video"), match.a], [b.querySelector("video"), match.b]]) {
      v.currentTime = s.start;
      v.play().catch(() => {});
    }
  });
  return el("div", { class: "pair" },
    el("div", { class: "pair-head" },
      el("span", { class: "pair-score", text: match.score.toFixed(3) }),
      match.exact ? el("span", { class: "tag exact", text: "exact copy" }) : el("span", { class: "tag", text: `${match.frames} matched frames` }),
      both),
    el("div", { class: "sides" }, a, b));
}

// --- videos --------------------------------------------------------------------------------

let videoRows = [];
async function loadVideos() {
  const status = $("#videos-status");
  try {
    videoRows = await api("/api/videos" + ($("#videos-errors").checked ? "?errors=1" : ""));
    renderVideos();
  } catch (err) {
    setStatus(status, err.message, true);
  }
}

function renderVideos() {
  const needle = $("#videos-filter").value.toLowerCase();
  const rows = videoRows.filter((v) => shown(v.path).toLowerCase().includes(needle));
  setStatus($("#videos-status"), `${rows.length} of ${videoRows.length} videos`);
  $("#videos").replaceChildren(...rows.slice(0, 2000).map((v) => {
    const row = el("tr", { class: v.status === "failed" ? "" : "clickable" },
      el("td", { class: "st-" + v.status, text: v.status }),
      el("td", { text: v.duration ? clock(v.duration) : "" }),
      el("td", { text: String(v.frames) }),
      el("td", { class: "path", text: shown(v.path) }),
      el("td", { text: v.error || "" }));
    if (v.status !== "failed") row.addEventListener("click", () => openPlayer({ id: v.video_id, path: v.path, start: 0, end: null }));
    return row;
  }));
}
$("#videos-filter").addEventListener("input", renderVideos);
$("#videos-errors").addEventListener("change", loadVideos);

loadHealth();
