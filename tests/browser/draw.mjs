// Draws digits on the serve page in headless Chromium and checks the prediction shown.
// Usage: node draw.mjs URL SCREENSHOT_DIR. Exit 0 pass, 1 fail, 77 skip.
import { launchBrowser } from './launch.mjs';

const [url, shotDir] = process.argv.slice(2);

const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
const failures = [];
await page.goto(url);
const pad = await page.$('#pad');
const box = await pad.boundingBox();

// Strokes in the pad's own 0-1 coordinates, drawn with the mouse as a person would.
async function draw(strokes) {
  for (const stroke of strokes) {
    const [x0, y0] = stroke[0];
    await page.mouse.move(box.x + x0 * box.width, box.y + y0 * box.height);
    await page.mouse.down();
    for (const [x, y] of stroke.slice(1)) {
      await page.mouse.move(box.x + x * box.width, box.y + y * box.height, { steps: 4 });
    }
    await page.mouse.up();
  }
}
const ellipse = [];
for (let i = 0; i <= 36; ++i) {
  const a = (i / 36) * 2 * Math.PI;
  ellipse.push([0.5 + 0.22 * Math.sin(a), 0.5 - 0.32 * Math.cos(a)]);
}
const digits = [
  { label: '1', strokes: [[[0.5, 0.18], [0.5, 0.5], [0.5, 0.82]]] },
  { label: '0', strokes: [ellipse] },
  { label: '7', strokes: [[[0.28, 0.2], [0.72, 0.2], [0.55, 0.5], [0.42, 0.82]]] },
];
for (const d of digits) {
  await page.click('#clear');
  await draw(d.strokes);
  // The page predicts while drawing and once more when the stroke ends: wait for that answer.
  try {
    await page.waitForFunction((want) => document.getElementById('label').textContent === want,
                               d.label, { timeout: 10000 });
  } catch {
    failures.push(`drew ${d.label}, page shows '${await page.textContent('#label')}'`);
  }
  const bars = await page.$$eval('#bars .row', (rows) => rows.length);
  if (bars !== 10) failures.push(`drew ${d.label}: ${bars} probability bars, expected 10`);
  // The winning class's bar is drawn, as wide as its probability (once the transition ends).
  await page.waitForTimeout(300);
  const fill = await page.$eval(`#bars .row[data-class="${d.label}"]`, (row) =>
    row.querySelector('.bar').getBoundingClientRect().width /
    row.querySelector('.track').getBoundingClientRect().width);
  const p = await page.$eval(`#bars .row[data-class="${d.label}"] .value`, (e) => parseFloat(e.textContent) / 100);
  if (!(Math.abs(fill - p) < 0.05)) failures.push(`drew ${d.label}: its bar fills ${fill.toFixed(2)} of the track for p = ${p}`);
  if (shotDir) await page.screenshot({ path: `${shotDir}/draw-${d.label}.png` });
}
// The number pad: whole numbers of 3 to 6 digits written with the mouse, one digit per cell.
const numpad = await page.$('#numpad');
async function drawNumber(text) {
  await page.click('#numclear');
  // After the click has scrolled the page: where the pad is now.
  await numpad.scrollIntoViewIfNeeded();
  const nbox = await numpad.boundingBox();
  for (let i = 0; i < text.length; ++i) {
    const shape = digits.find((d) => d.label === text[i]).strokes;
    // Cell i: 0.10 of the pad's width apart, 0.70 of its height tall.
    const cx = 0.12 + 0.1 * i, w = 0.07, top = 0.15, h = 0.7;
    for (const stroke of shape) {
      const [x0, y0] = stroke[0];
      await page.mouse.move(nbox.x + (cx + (x0 - 0.5) * w * 1.6) * nbox.width, nbox.y + (top + y0 * h) * nbox.height);
      await page.mouse.down();
      for (const [x, y] of stroke.slice(1)) {
        await page.mouse.move(nbox.x + (cx + (x - 0.5) * w * 1.6) * nbox.width, nbox.y + (top + y * h) * nbox.height, { steps: 4 });
      }
      await page.mouse.up();
    }
  }
}
for (const number of ['107', '7001', '10710', '701170']) {
  await drawNumber(number);
  try {
    await page.waitForFunction((want) => document.getElementById('reading').textContent === want,
                               number, { timeout: 10000 });
  } catch {
    failures.push(`wrote ${number}, page reads '${await page.textContent('#reading')}'`);
  }
  const boxes = await page.$$eval('#digits li', (items) => items.length);
  if (boxes !== number.length) failures.push(`wrote ${number}: ${boxes} digits listed`);
  if (shotDir) await page.screenshot({ path: `${shotDir}/number-${number}.png`, fullPage: true });
}
// /metrics counts the page's read requests.
const metrics = await (await page.request.get(new URL('/metrics', url).href)).text();
if (!/digitlab_requests_total\{path="\/v1\/read",code="200"\} [1-9]/.test(metrics)) {
  failures.push('/metrics counts no read requests');
}
await browser.close();
if (failures.length) {
  for (const f of failures) console.log(`FAIL ${f}`);
  process.exit(1);
}
console.log('browser: the drawing page reads 1, 0 and 7 drawn with the mouse, and the numbers 107, 7001, 10710 and 701170 written on the number pad');
