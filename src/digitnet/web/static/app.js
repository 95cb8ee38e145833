// The drawing page: a canvas (mouse, finger, pen through pointer events) and photos (upload, the
// camera, drag and drop), read by POST /api/predict; shows the answer ("not a digit" and "not
// sure" included), probability bars and the 28x28 image the network saw.
//
// Requests: at most one in flight, throttled while drawing, and only for new ink: a tap or a
// click without moving draws nothing and sends nothing. Photos are scaled down here first
// (longest side MAX_SIDE, JPEG) unless they are already small enough to send as they are.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const seen = document.getElementById("seen");
const seenCtx = seen.getContext("2d");
const answerEl = document.getElementById("answer");
const digitEl = document.getElementById("digit");
const confidenceEl = document.getElementById("confidence");
const barsEl = document.getElementById("bars");
const statusEl = document.getElementById("status");

const THROTTLE_MS = 120;  // at most one prediction request per this while drawing
const MOVE_PX = 3;  // a press must move this far (CSS px) before it draws: a tap is not ink
const MAX_SIDE = 1024;  // photos are scaled so their longer side is at most this before sending
const JPEG_QUALITY = 0.9;
// "not sure": the top probability is under UNSURE_P, or under UNSURE_RATIO times the runner-up.
// On the shipped sample's test digits, the answers this flags were right about half the time
// (49-56%, two small MLPs), the others 95-96%; with calibrated probabilities, under 0.6 means
// wrong at least 4 times in 10.
const UNSURE_P = 0.6;
const UNSURE_RATIO = 2;
// the server's limits (GET /api/info says them; these are its defaults)
let limits = {max_bytes: 2 * 1024 * 1024, max_pixels: 4000000};

let drawing = false;  // a press on the pad is going on
let start = null;     // where it began (canvas units)
let last = null;      // the last point drawn to
let moved = false;    // it has moved far enough to draw
let hasInk = false;   // the pad holds a drawing
let fresh = false;    // ink drawn since the last request was sent
let photo = null;     // the data URL of the photo on the pad, when it shows one
let timer = null;
let inFlight = false;
let again = false;
let generation = 0;   // bumped by Clear and by a new photo: answers to older ones are ignored

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

function setAnswer(state, digit, words) {
  answerEl.dataset.state = state;
  digitEl.textContent = digit;
  confidenceEl.textContent = words;
}

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  hasInk = false;
  fresh = false;
  photo = null;
  generation += 1;
  setAnswer("empty", "?", "");
  statusEl.textContent = "";
  seenCtx.clearRect(0, 0, seen.width, seen.height);
  barsEl.classList.remove("dim");
  for (const row of barsEl.children) {
    row.classList.remove("top", "second");
    row.querySelector(".fill").style.width = "0";
    row.querySelector(".pct").textContent = "";
  }
}

// --- drawing ----------------------------------------------------------------------------------
function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = pad.width / 15;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
  hasInk = true;
  fresh = true;
}

pad.addEventListener("pointerdown", (e) => {
  if (!e.isPrimary || (e.pointerType === "mouse" && e.button !== 0)) return;
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  drawing = true;
  moved = false;
  start = last = point(e);
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing || !e.isPrimary) return;
  e.preventDefault();
  const p = point(e);
  if (!moved) {
    const cssPx = pad.width / pad.getBoundingClientRect().width;
    if (Math.hypot(p[0] - start[0], p[1] - start[1]) < MOVE_PX * cssPx) return;
    moved = true;
    if (photo) clearPad();  // drawing over a photo starts a new drawing
  }
  stroke(last, p);
  last = p;
  schedule();
});
for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
  pad.addEventListener(type, (e) => {
    if (!drawing || !e.isPrimary) return;
    drawing = false;
    if (fresh) schedule();
  });
}
document.getElementById("clear").addEventListener("click", clearPad);

function schedule() {
  if (timer === null) timer = setTimeout(() => { timer = null; predict(); }, THROTTLE_MS);
}

// --- photos -----------------------------------------------------------------------------------
for (const id of ["file", "camera"]) {
  const input = document.getElementById(id);
  input.addEventListener("change", () => {
    if (input.files.length) usePhoto(input.files[0]);
    input.value = "";  // choosing the same file again is a new choice
  });
}
document.addEventListener("dragover", (e) => {
  if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
  e.preventDefault();  // a file dropped anywhere on the page is read, not opened by the browser
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", (e) => {
  if (e.relatedTarget === null) document.body.classList.remove("dragging");
});
document.addEventListener("drop", (e) => {
  document.body.classList.remove("dragging");
  if (!e.dataTransfer || !e.dataTransfer.files.length) return;
  e.preventDefault();
  usePhoto(e.dataTransfer.files[0]);
});

async function decode(file) {
  // createImageBitmap turns the photo upright by its EXIF orientation, as the server does
  if (window.createImageBitmap) {
    try { return await createImageBitmap(file); } catch (err) { /* try an <img> */ }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function readAsDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// What to send for a photo: the file itself when the server takes it as it is (small in bytes
// and pixels: then the answer is exactly `digitnet predict`'s on that file), else a copy with
// its longer side at most MAX_SIDE, as PNG when that is small enough (keeps transparency and
// sharp edges), else as JPEG on white.
async function encodePhoto(file, image) {
  const w = image.width, h = image.height;
  const asIs = 4 * Math.ceil(file.size / 3) + 100 < limits.max_bytes;
  if (asIs && w * h <= limits.max_pixels && Math.max(w, h) <= MAX_SIDE &&
      /^image\/(png|jpeg|gif|bmp|webp)$/.test(file.type)) {
    return readAsDataURL(file);
  }
  const k = Math.min(1, MAX_SIDE / Math.max(w, h));
  const c = document.createElement("canvas");
  c.width = Math.max(1, Math.round(w * k));
  c.height = Math.max(1, Math.round(h * k));
  const cc = c.getContext("2d");
  cc.imageSmoothingQuality = "high";
  if (file.type === "image/png" || file.type === "image/gif" || file.type === "image/webp") {
    cc.drawImage(image, 0, 0, c.width, c.height);
    const png = c.toDataURL("image/png");
    if (png.length + 100 < limits.max_bytes) return png;
  }
  cc.fillStyle = "#fff";
  cc.fillRect(0, 0, c.width, c.height);
  cc.drawImage(image, 0, 0, c.width, c.height);
  return c.toDataURL("image/jpeg", JPEG_QUALITY);
}

function showPhoto(image) {
  clearPad();
  const k = Math.min(pad.width / image.width, pad.height / image.height);
  const w = image.width * k, h = image.height * k;
  ctx.drawImage(image, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
}

async function usePhoto(file) {
  let image;
  try {
    image = await decode(file);
  } catch (err) {
    clearPad();
    statusEl.textContent = `${file.name || "that file"} is not an image this browser can open: ` +
                           "use a JPEG or PNG photo";
    return;
  }
  showPhoto(image);
  const mine = generation;
  statusEl.textContent = "reading the photo…";
  let data;
  try {
    data = await encodePhoto(file, image);
  } catch (err) {
    if (mine === generation) statusEl.textContent = `cannot prepare the photo: ${err}`;
    return;
  } finally {
    if (image.close) image.close();
  }
  if (mine !== generation) return;  // cleared, or another photo chosen, meanwhile
  photo = data;
  fresh = true;
  predict();
}

// --- asking the server ------------------------------------------------------------------------
async function predict() {
  if (!fresh) return;  // nothing new since the last request (a tap, or no ink at all)
  if (inFlight) { again = true; return; }
  inFlight = true;
  fresh = false;
  const mine = generation;
  try {
    const image = photo || pad.toDataURL("image/png");
    const response = await fetch("/api/predict", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({image}),
    });
    let answer;
    try { answer = await response.json(); } catch (err) { answer = {}; }
    if (mine !== generation) return;
    if (!response.ok) {
      setAnswer("error", "?", "");
      statusEl.textContent = answer.error || `the server answered ${response.status}`;
      return;
    }
    show(answer);
  } catch (err) {
    if (mine === generation) statusEl.textContent = `cannot reach the server: ${err}`;
  } finally {
    inFlight = false;
    if (again) { again = false; predict(); }
  }
}

const percent = (p) => `${(100 * p).toFixed(1)}%`;

function show(answer) {
  const labels = answer.labels;
  const p = answer.probabilities;
  if (barsEl.children.length !== labels.length) makeBars(labels);
  const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a]);
  const [first, second] = order;
  // is_digit is absent from servers that do not judge: then every drawing counts as a digit
  const notDigit = answer.is_digit === false;
  const unsure = !notDigit && second !== undefined &&
                 (p[first] < UNSURE_P || p[first] < UNSURE_RATIO * p[second]);
  if (notDigit) {
    setAnswer("not-digit", "not a digit", answer.reason || "it does not look like a digit");
  } else if (unsure) {
    setAnswer("unsure", `${labels[first]}?`,
              `not sure: ${labels[first]} (${percent(p[first])}) or ` +
              `${labels[second]} (${percent(p[second])})`);
  } else {
    const top = answer.label ?? labels[first];
    setAnswer("digit", top, `${percent(answer.probability ?? p[first])} sure`);
  }
  statusEl.textContent = "";
  barsEl.classList.toggle("dim", notDigit);
  p.forEach((q, i) => {
    const row = barsEl.children[i];
    row.classList.toggle("top", !notDigit && i === first);
    row.classList.toggle("second", unsure && i === second);
    row.querySelector(".fill").style.width = percent(q);
    row.querySelector(".pct").textContent = percent(q);
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
fetch("/api/info").then((r) => r.json()).then((info) => {
  makeBars(info.labels);
  if (info.limits) limits = info.limits;
}).catch(() => {});
