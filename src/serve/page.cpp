// The drawing page served at GET /: a canvas, the prediction and ten probability bars.
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
<title>digitlab: draw a digit</title>
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
</script>
</body>
</html>
)PAGE";
  return kPage;
}

}  // namespace digitlab::serve
