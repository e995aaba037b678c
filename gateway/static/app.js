// The aiwf page: sign in, the live status board, and the summarize-a-document flow.
// Plain JavaScript, no build step. Every call goes to the gateway's /api/v1 with the bearer token;
// server-sent events are read with fetch (EventSource cannot send an Authorization header).
"use strict";

const TTS_OFFLINE = "Text-to-speech temporarily offline";
const $ = (id) => document.getElementById(id);
const session = {
  get token() { return sessionStorage.getItem("access_token"); },
  get refresh() { return sessionStorage.getItem("refresh_token"); },
  get user() { return sessionStorage.getItem("username"); },
  save(tokens, username) {
    sessionStorage.setItem("access_token", tokens.access_token);
    sessionStorage.setItem("refresh_token", tokens.refresh_token);
    if (username) sessionStorage.setItem("username", username);
  },
  clear() { sessionStorage.clear(); },
};
const live = { board: null, run: null, services: {}, runId: null, audioUrl: null };

async function api(path, options = {}, retried = false) {
  const headers = new Headers(options.headers || {});
  if (session.token) headers.set("Authorization", `Bearer ${session.token}`);
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && !retried && session.refresh && !path.startsWith("/api/v1/auth/")) {
    if (await refreshTokens()) return api(path, options, true);
    signOut("Your session ended; sign in again.");
  }
  return response;
}

async function refreshTokens() {
  const response = await fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (!response.ok) return false;
  session.save(await response.json());
  return true;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// Server-sent events over fetch: calls onEvent(type, data) per event until the stream ends or abort().
async function follow(path, onEvent, controller) {
  const response = await api(path, { signal: controller.signal, headers: { Accept: "text/event-stream" } });
  if (!response.ok || !response.body) throw new Error(await errorText(response));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(type, JSON.parse(data.join("\n")));
    }
  }
}

// ---------------------------------------------------------------- sign in

async function signIn(event, register = false) {
  if (event) event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  const message = $("signin-message");
  if (!username || !password) {
    message.textContent = "Enter a username and a password.";
    return;
  }
  message.textContent = "";
  const post = (path) => fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (register) {
    const created = await post("/api/v1/auth/register");
    if (created.status !== 201) {
      message.textContent = await errorText(created);
      return;
    }
  }
  const response = await post("/api/v1/auth/login");
  if (!response.ok) {
    message.textContent = await errorText(response);
    return;
  }
  session.save(await response.json(), username);
  $("password").value = "";
  showSignedIn();
}

function signOut(note) {
  const refresh = session.refresh;
  const token = session.token;
  if (refresh && token) {
    fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ refresh_token: refresh }),
    }).catch(() => {});
  }
  session.clear();
  for (const key of ["board", "run"]) if (live[key]) live[key].abort();
  $("who").textContent = "Not signed in";
  $("sign-out").hidden = true;
  $("signin").hidden = false;
  $("board").hidden = true;
  $("summarize").hidden = true;
  $("signin-message").textContent = note || "";
}

function showSignedIn() {
  $("who").textContent = `Signed in as ${session.user || "you"}`;
  $("sign-out").hidden = false;
  $("signin").hidden = true;
  $("board").hidden = false;
  $("summarize").hidden = false;
  watchBoard();
}

// ---------------------------------------------------------------- status board

function stateClass(row) {
  if (row.online) return "online";
  return row.state === "offline" ? "offline" : "other";
}

function renderBoard(board) {
  const body = $("services");
  body.replaceChildren();
  live.services = {};
  for (const row of board.services) {
    live.services[row.service] = row;
    const tr = document.createElement("tr");
    tr.dataset.service = row.service;
    const cells = [row.service, null, row.instances, row.backlog, row.dead_letters];
    cells.forEach((value, i) => {
      const td = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) td.scope = "row";
      if (i === 1) {
        const badge = document.createElement("span");
        badge.className = `state ${stateClass(row)}`;
        badge.textContent = row.state;
        badge.title = row.reason || row.last_error || "";
        td.className = "state-cell";
        td.append(badge);
      } else {
        td.textContent = String(value);
        if (i > 1) td.className = "num";
      }
      tr.append(td);
    });
    body.append(tr);
  }
  const alarms = $("alarms");
  alarms.replaceChildren(...board.alarms.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  const offline = board.services.filter((r) => !r.online).map((r) => r.service);
  $("board-note").textContent = offline.length ? `Offline now: ${offline.join(", ")}. Everything else keeps working.` : "Every service is up.";
  if (live.runId) refreshRun();
}

async function watchBoard() {
  if (live.board) live.board.abort();
  const controller = new AbortController();
  live.board = controller;
  while (!controller.signal.aborted) {
    try {
      await follow("/api/v1/status/events", (type, data) => { if (type === "status") renderBoard(data); }, controller);
    } catch (error) {
      if (controller.signal.aborted) return;
      $("board-note").textContent = `Status feed interrupted (${error.message}); reconnecting…`;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// ---------------------------------------------------------------- summarize a document

async function summarize(event) {
  event.preventDefault();
  const message = $("upload-message");
  const file = $("file").files[0];
  const text = $("text").value;
  let options;
  if (file) {
    const form = new FormData();
    form.append("file", file);
    options = { method: "POST", body: form };
  } else if (text.trim()) {
    options = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }) };
  } else {
    message.textContent = "Choose a file or paste some text.";
    return;
  }
  message.textContent = "";
  $("summarize-button").disabled = true;
  try {
    const response = await api("/api/v1/summaries", options);
    if (response.status !== 202) {
      message.textContent = await errorText(response);
      return;
    }
    const run = await response.json();
    startRun(run.id);
  } finally {
    $("summarize-button").disabled = false;
  }
}

function startRun(runId) {
  if (live.run) live.run.abort();
  if (live.audioUrl) URL.revokeObjectURL(live.audioUrl);
  live.runId = runId;
  live.audioUrl = null;
  $("run").hidden = false;
  $("run").dataset.status = "running";
  $("steps").replaceChildren();
  $("summary").textContent = "Waiting for the summary…";
  $("player").replaceChildren();
  const controller = new AbortController();
  live.run = controller;
  follow(`/api/v1/requests/${runId}/events`, () => refreshRun(), controller)
    .catch(() => {})
    .finally(() => refreshRun());
  refreshRun();
}

async function refreshRun() {
  const runId = live.runId;
  if (!runId) return;
  const response = await api(`/api/v1/summaries/${runId}`);
  if (!response.ok || runId !== live.runId) return;
  renderRun(await response.json());
}

function renderRun(run) {
  $("run").dataset.status = run.status;
  const steps = $("steps");
  steps.replaceChildren(...run.steps.map((step) => {
    const li = document.createElement("li");
    li.dataset.step = step.name;
    li.dataset.state = step.state;
    li.textContent = `${step.name}: ${step.state}${step.detail ? ` — ${step.detail}` : ""}`;
    return li;
  }));
  if (run.summary !== null) $("summary").textContent = run.summary || "(the summary is empty)";
  else if (run.status === "failed") $("summary").textContent = "No summary: the run failed.";
  renderPlayer(run);
}

function ttsOffline(run) {
  const speech = run.steps.find((s) => s.name === "speech");
  const tts = live.services.tts;
  return (speech && speech.state === "waiting: tts offline") || (tts !== undefined && !tts.online);
}

async function renderPlayer(run) {
  const player = $("player");
  if (run.status === "completed") {
    if (player.querySelector("audio")) return;
    const response = await api(run.audio);
    if (!response.ok) return;
    if (live.audioUrl) URL.revokeObjectURL(live.audioUrl);
    live.audioUrl = URL.createObjectURL(await response.blob());
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = live.audioUrl;
    audio.setAttribute("aria-label", "Spoken summary");
    player.replaceChildren(audio);
  } else if (run.status === "failed") {
    player.replaceChildren(Object.assign(document.createElement("p"), { textContent: "No audio: the run failed." }));
  } else if (ttsOffline(run)) {
    const note = Object.assign(document.createElement("p"), { textContent: TTS_OFFLINE, className: "offline-message" });
    note.setAttribute("role", "status");
    player.replaceChildren(note);
  } else {
    player.replaceChildren(Object.assign(document.createElement("p"), { textContent: "The audio is on its way…" }));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => signIn(e));
  $("register").addEventListener("click", () => signIn(null, true));
  $("sign-out").addEventListener("click", () => signOut());
  $("upload-form").addEventListener("submit", summarize);
  if (session.token) showSignedIn();
});
