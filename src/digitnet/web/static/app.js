// The drawing page: a canvas (mouse, touch, pen through pointer events), live predictions from
// POST /api/predict while drawing (at most one request in flight, throttled), probability bars
// and the 28x28 image the network saw.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const seen = document.getElementById("seen");
const seenCtx = seen.getContext("2d");
const digitEl = document.getElementById("digit");
const confidenceEl = document.getElementById("confidence");
const barsEl = document.getElementById("bars");
const statusEl = document.getElementById("status");

const THROTTLE_MS = 120;  // at most one prediction request per this while drawing
let drawing = false;
let last = null;
let hasInk = false;
let timer = null;
let inFlight = false;
let again = false;
let generation = 0;  // bumped by Clear: answers to older drawings are ignored

function makeBars(labels) {
  barsEl.replaceChildren();
  for (const label of labels) {
    const row = document.createElement("div");
    row.className = "bar";
    row.setAttribute("role", "listitem");
    row.innerHTML = '<span class="name"></span><div class="track"><div class="fill"></div></div>' +
                    '<span class="pct"></span>';
    row.querySelector(".name").textContent = label;
    barsEl.appendChild(row);
  }
}

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  hasInk = false;
  generation += 1;
  digitEl.textContent = "?";
  confidenceEl.textContent = "";
  statusEl.textContent = "";
  seenCtx.clearRect(0, 0, seen.width, seen.height);
  for (const row of barsEl.children) {
    row.classList.remove("top");
    row.querySelector(".fill").style.width = "0";
    row.querySelector(".pct").textContent = "";
  }
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 18;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
  hasInk = true;
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  drawing = true;
  last = point(e);
  stroke(last, last);
  schedule();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  e.preventDefault();
  const p = point(e);
  stroke(last, p);
  last = p;
  schedule();
});
for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    schedule();
  });
}
document.getElementById("clear").addEventListener("click", clearPad);

function schedule() {
  if (timer === null) timer = setTimeout(() => { timer = null; predict(); }, THROTTLE_MS);
}

async function predict() {
  if (!hasInk) return;
  if (inFlight) { again = true; return; }
  inFlight = true;
  const mine = generation;
  try {
    const response = await fetch("/api/predict", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({image: pad.toDataURL("image/png")}),
    });
    const answer = await response.json();
    if (mine !== generation) return;
    if (!response.ok) {
      statusEl.textContent = answer.error || `error ${response.status}`;
      return;
    }
    show(answer);
  } catch (err) {
    statusEl.textContent = `cannot reach the server: ${err}`;
  } finally {
    inFlight = false;
    if (again) { again = false; predict(); }
  }
}

function show(answer) {
  if (barsEl.children.length !== answer.labels.length) makeBars(answer.labels);
  digitEl.textContent = answer.is_digit === false ? "not a digit" : answer.label;
  confidenceEl.textContent = answer.is_digit === false ? answer.reason
    : `${(100 * answer.probability).toFixed(1)}% sure`;
  statusEl.textContent = "";
  answer.probabilities.forEach((p, i) => {
    const row = barsEl.children[i];
    row.classList.toggle("top", i === answer.digit);
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".pct").textContent = `${(100 * p).toFixed(1)}%`;
  });
  const image = seenCtx.createImageData(28, 28);
  answer.input28.flat().forEach((v, i) => {
    const g = Math.round(255 * v);
    image.data.set([g, g, g, 255], 4 * i);
  });
  seenCtx.putImageData(image, 0, 0);
}

makeBars(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
clearPad();
fetch("/api/info").then((r) => r.json()).then((info) => makeBars(info.labels)).catch(() => {});
