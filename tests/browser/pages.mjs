// Opens a run report and a compare page in headless Chromium and checks that every part renders.
// Usage: node pages.mjs REPORT_HTML COMPARE_HTML SCREENSHOT_DIR. Exit 0 pass, 1 fail, 77 skip.
import { pathToFileURL } from 'node:url';

import { launchBrowser } from './launch.mjs';

const [reportPath, comparePath, shotDir] = process.argv.slice(2);

const failures = [];
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
// The pages must work offline: any request that is not the file itself or inline data fails.
page.on('request', (r) => {
  const u = r.url();
  if (!u.startsWith('file:') && !u.startsWith('data:')) failures.push(`network request: ${u}`);
});

// The element exists and takes visible space on the page.
async function rendered(selector, minW = 40, minH = 40) {
  const el = await page.$(selector);
  if (!el) return failures.push(`${selector}: missing`), null;
  const b = await el.boundingBox();
  if (!b || b.width < minW || b.height < minH) failures.push(`${selector}: not rendered (${JSON.stringify(b)})`);
  return el;
}

// Number of points of each polyline in `svg`.
async function pointCounts(svg) {
  return page.$$eval(`${svg} polyline`, (els) =>
    els.map((e) => (e.getAttribute('points') || '').trim().split(/\s+/).filter(Boolean).length));
}

await page.goto(pathToFileURL(reportPath).href);
for (const s of ['#summary', 'svg#loss-chart', 'svg#accuracy-chart', 'svg#confusion-heatmap',
                 'svg#roc-chart', 'svg#pr-chart', '#most-confused', '#misclassified',
                 'img#saliency-image', '#per-class', '#configuration', '#timings']) {
  await rendered(s, 40, 20);
}
const epochs = Number(process.env.EPOCHS || 0);
for (const svg of ['svg#loss-chart', 'svg#accuracy-chart']) {
  const counts = await pointCounts(svg);
  if (counts.length < 2) failures.push(`${svg}: ${counts.length} lines, expected train and validation`);
  if (epochs && !counts.some((c) => c === epochs)) failures.push(`${svg}: no line of ${epochs} points (${counts})`);
}
const cells = await page.$$eval('svg#confusion-heatmap rect', (els) => els.length);
if (cells < 100) failures.push(`svg#confusion-heatmap: ${cells} rects, expected at least 100 cells`);
const cellText = await page.$eval('svg#confusion-heatmap', (e) => e.textContent);
if (!/\d{2,}/.test(cellText)) failures.push('svg#confusion-heatmap: no counts drawn');
const images = await page.$$eval('#misclassified figure.mis img', (els) =>
  els.map((e) => ({ ok: e.complete && e.naturalWidth === 28 })));
if (images.length === 0) failures.push('#misclassified: no images');
if (images.some((i) => !i.ok)) failures.push('#misclassified: an image did not decode as 28 pixels wide');
const perClassRows = await page.$$eval('#per-class tr', (els) => els.length);
if (perClassRows < 11) failures.push(`#per-class: ${perClassRows} rows, expected a header and 10 classes`);
for (const avg of ['macro', 'weighted']) {
  const row = await page.$(`#per-class tfoot tr.${avg}`);
  if (!row) failures.push(`#per-class: no ${avg} average row`);
}
// One curve per class in each chart, from (0,0) to (1,1) for ROC, each with its area in the legend.
for (const svg of ['svg#roc-chart', 'svg#pr-chart']) {
  const counts = await pointCounts(svg);
  if (counts.length !== 10) failures.push(`${svg}: ${counts.length} curves, expected 10 classes`);
  if (counts.some((c) => c < 2)) failures.push(`${svg}: a curve of fewer than 2 points (${counts})`);
  const legend = await page.$eval(svg, (e) => e.textContent).catch(() => '');
  if (!/0\.\d{3}|1\.000/.test(legend)) failures.push(`${svg}: no areas in the legend`);
}
const saliency = await page.$eval('img#saliency-image', (e) =>
  ({ ok: e.complete && e.naturalWidth > 200 && e.naturalHeight > 80 })).catch(() => ({ ok: false }));
if (!saliency.ok) failures.push('img#saliency-image: did not load as a sheet of images and maps');
if (shotDir) await page.screenshot({ path: `${shotDir}/report.png`, fullPage: true });

await page.goto(pathToFileURL(comparePath).href);
await rendered('svg#compare-accuracy-chart');
await rendered('svg#compare-loss-chart');
await rendered('table#compare-table', 40, 20);
const runs = Number(process.env.RUNS || 0);
const lines = await pointCounts('svg#compare-accuracy-chart');
if (runs && lines.length < runs) failures.push(`svg#compare-accuracy-chart: ${lines.length} lines for ${runs} runs`);
const rows = await page.$$eval('table#compare-table tbody tr', (els) => els.length);
if (runs && rows !== runs) failures.push(`table#compare-table: ${rows} rows for ${runs} runs`);
if (shotDir) await page.screenshot({ path: `${shotDir}/compare.png`, fullPage: true });

await browser.close();
if (failures.length) {
  for (const f of failures) console.log(`FAIL ${f}`);
  process.exit(1);
}
console.log('browser: report and compare pages render every part');
