// The drawing page served at GET /: a digit pad with the prediction and ten probability bars,
// and a number pad whose reading shows a box per digit.
#include "serve/api.h"

namespace digitlab::serve {

const std::string& drawing_page() {
  // Dark ink on white paper, sent as PNG: the service reads it with the same preprocessing as any
  // photographed digit, so what works here works for files too.
  static const std::string kPage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>digitlab: draw a digit or a number</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
  main { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
  #pad { border: 2px solid #888; border-radius: 8px; touch-action: none; cursor: crosshair;
         background: #fff; width: 280px; height: 280px; }
  #label { font-size: 96px; font-weight: 700; line-height: 1; min-height: 96px; }
  #confidence, #status { color: #666; }
  .row { display: flex; align-items: center; gap: 8px; margin: 3px 0; font-variant-numeric: tabular-nums; }
  .row .name { width: 1.5em; text-align: right; }
  .row .track { width: 240px; height: 16px; background: #eee; border-radius: 3px; overflow: hidden; }
  .row .bar { display: block; height: 100%; width: 0; background: #4a7bd0; transition: width 0.15s; }
  .row.best .bar { background: #d0702a; }
  .row .value { width: 4em; text-align: right; color: #555; }
  button { font-size: 16px; padding: 6px 16px; margin-top: 8px; }
  #numwrap { position: relative; width: 840px; max-width: 100%; }
  #numpad { border: 2px solid #888; border-radius: 8px; touch-action: none; cursor: crosshair;
            background: #fff; width: 100%; display: block; }
  #overlay { position: absolute; left: 2px; top: 2px; width: calc(100% - 4px); pointer-events: none; }
  #reading { font-size: 56px; font-weight: 700; letter-spacing: 0.05em; min-height: 64px; }
  #digits { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 12px; color: #555; }
  #digits li.uncertain { color: #c0392b; }
</style>
</head>
<body>
<h1>Draw a digit</h1>
<main>
  <div>
    <canvas id="pad" width="280" height="280" aria-label="drawing pad"></canvas><br>
    <button id="clear" type="button">Clear</button>
    <p id="status">Draw with the mouse or a finger.</p>
  </div>
  <div>
    <div id="label" aria-live="polite"></div>
    <div id="confidence"></div>
    <div id="bars"></div>
  </div>
</main>
<h2>Write a number</h2>
<div id="numwrap">
  <canvas id="numpad" width="840" height="210" aria-label="number pad"></canvas>
  <canvas id="overlay" width="840" height="210"></canvas>
</div>
<button id="numclear" type="button">Clear</button>
<span id="readstatus"></span>
<div id="reading" aria-live="polite"></div>
<ol id="digits"></ol>
<script>
const pad = document.getElementById('pad');
const ctx = pad.getContext('2d');
const bars = document.getElementById('bars');
const statusEl = document.getElementById('status');
let drawing = false, last = null, dirty = false, busy = false, pending = false;

function clearPad() {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
  document.getElementById('label').textContent = '';
  document.getElementById('confidence').textContent = '';
  for (const b of bars.querySelectorAll('.bar')) b.style.width = '0';
  for (const r of bars.querySelectorAll('.row')) r.classList.remove('best');
  dirty = false;
}
function point(e) {
  const r = pad.getBoundingClientRect();
  return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
}
function stroke(a, b) {
  ctx.strokeStyle = '#000';
  ctx.lineWidth = 20;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(a.x, a.y);
  ctx.lineTo(b.x, b.y);
  ctx.stroke();
  dirty = true;
}
pad.addEventListener('pointerdown', (e) => { drawing = true; last = point(e); stroke(last, last); pad.setPointerCapture(e.pointerId); });
pad.addEventListener('pointermove', (e) => { if (!drawing) return; const p = point(e); stroke(last, p); last = p; predictSoon(); });
for (const ev of ['pointerup', 'pointercancel']) pad.addEventListener(ev, () => { if (drawing) { drawing = false; predictSoon(); } });
document.getElementById('clear').addEventListener('click', clearPad);

function predictSoon() {
  if (busy) { pending = true; return; }
  if (!dirty) return;
  busy = true;
  pad.toBlob(async (blob) => {
    try {
      const res = await fetch('/v1/predict', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blob });
      const j = await res.json();
      if (!res.ok) { statusEl.textContent = j.error ? j.error.message : ('error ' + res.status); return; }
      show(j);
      statusEl.textContent = 'answered in ' + j.latency_ms.toFixed(1) + ' ms';
    } catch (err) {
      statusEl.textContent = 'no answer: ' + err;
    } finally {
      busy = false;
      if (pending) { pending = false; predictSoon(); }
    }
  }, 'image/png');
}
function show(j) {
  document.getElementById('label').textContent = j['class'];
  document.getElementById('confidence').textContent = (100 * j.confidence).toFixed(1) + '% sure';
  const names = Object.keys(j.probabilities);
  if (bars.children.length !== names.length) {
    bars.innerHTML = '';
    for (const n of names) {
      const row = document.createElement('div');
      row.className = 'row';
      row.dataset['class'] = n;
      row.innerHTML = '<span class="name"></span><span class="track"><span class="bar"></span></span><span class="value"></span>';
      row.querySelector('.name').textContent = n;
      bars.appendChild(row);
    }
  }
  for (const row of bars.children) {
    const p = j.probabilities[row.dataset['class']];
    row.querySelector('.bar').style.width = (100 * p).toFixed(1) + '%';
    row.querySelector('.value').textContent = (100 * p).toFixed(1) + '%';
    row.classList.toggle('best', row.dataset['class'] === j['class']);
  }
}
clearPad();

// The number pad: the same strokes, read as whole numbers by POST /v1/read; each digit gets a
// box with its class and confidence, unsure ones (marked '?' by the reader) in red.
const numpad = document.getElementById('numpad');
const nctx = numpad.getContext('2d');
const overlay = document.getElementById('overlay').getContext('2d');
let ndrawing = false, nlast = null, ndirty = false, nbusy = false, npending = false;
function clearNumbers() {
  nctx.fillStyle = '#fff';
  nctx.fillRect(0, 0, numpad.width, numpad.height);
  overlay.clearRect(0, 0, numpad.width, numpad.height);
  document.getElementById('reading').textContent = '';
  document.getElementById('digits').innerHTML = '';
  ndirty = false;
}
function npoint(e) {
  const r = numpad.getBoundingClientRect();
  return { x: (e.clientX - r.left) * numpad.width / r.width, y: (e.clientY - r.top) * numpad.height / r.height };
}
function nstroke(a, b) {
  nctx.strokeStyle = '#000';
  nctx.lineWidth = 12;
  nctx.lineCap = 'round';
  nctx.lineJoin = 'round';
  nctx.beginPath();
  nctx.moveTo(a.x, a.y);
  nctx.lineTo(b.x, b.y);
  nctx.stroke();
  ndirty = true;
}
numpad.addEventListener('pointerdown', (e) => { ndrawing = true; nlast = npoint(e); nstroke(nlast, nlast); numpad.setPointerCapture(e.pointerId); });
numpad.addEventListener('pointermove', (e) => { if (!ndrawing) return; const p = npoint(e); nstroke(nlast, p); nlast = p; });
for (const ev of ['pointerup', 'pointercancel']) numpad.addEventListener(ev, () => { if (ndrawing) { ndrawing = false; readSoon(); } });
document.getElementById('numclear').addEventListener('click', clearNumbers);
function readSoon() {
  if (nbusy) { npending = true; return; }
  if (!ndirty) return;
  nbusy = true;
  numpad.toBlob(async (blob) => {
    const status = document.getElementById('readstatus');
    try {
      const res = await fetch('/v1/read', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blob });
      const j = await res.json();
      if (!res.ok) { status.textContent = j.error ? j.error.message : ('error ' + res.status); return; }
      showReading(j);
      status.textContent = 'read in ' + j.latency_ms.toFixed(1) + ' ms';
    } catch (err) {
      status.textContent = 'no answer: ' + err;
    } finally {
      nbusy = false;
      if (npending) { npending = false; readSoon(); }
    }
  }, 'image/png');
}
function showReading(j) {
  document.getElementById('reading').textContent = j.text || ('(' + (j.reason || 'nothing read') + ')');
  overlay.clearRect(0, 0, numpad.width, numpad.height);
  const list = document.getElementById('digits');
  list.innerHTML = '';
  overlay.font = '14px system-ui, sans-serif';
  for (const n of j.numbers) {
    for (const d of n.digits) {
      const [x0, y0, x1, y1] = d.box;
      overlay.strokeStyle = overlay.fillStyle = d.uncertain ? '#c0392b' : '#2a9d55';
      overlay.setLineDash(d.uncertain ? [5, 3] : []);
      overlay.lineWidth = 2;
      overlay.strokeRect(x0 - 3, y0 - 3, x1 - x0 + 6, y1 - y0 + 6);
      overlay.fillText(d.label + ' ' + Math.round(100 * d.confidence) + '%', x0 - 3, Math.max(12, y0 - 6));
      const li = document.createElement('li');
      li.dataset.label = d.label;
      li.className = d.uncertain ? 'uncertain' : '';
      li.textContent = d.label + (d.uncertain ? '?' : '') + ' ' + (100 * d.confidence).toFixed(1) + '%';
      list.appendChild(li);
    }
  }
}
clearNumbers();
</script>
</body>
</html>
)PAGE";
  return kPage;
}

}  // namespace digitlab::serve
