import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { runDemo } from './main';

/** The system Chromium (`apt-get install -y chromium`); nothing is downloaded. */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const dir = mkdtempSync(join(tmpdir(), 'llmr-report-'));
let browser: Browser;
let reportPath: string;

beforeAll(async () => {
  const result = await runDemo({ env: {}, scale: 0.1, reportPath: join(dir, 'report.html'), out: null });
  reportPath = result.reportPath;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface ChartInfo {
  label: string;
  width: number;
  height: number;
  /** Paths and rects with a non-zero box. */
  visibleShapes: number;
  areas: number;
  lines: number;
  bars: number;
  states: number;
}

it('opens in headless Chromium without errors or network requests, and every chart is drawn', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) problems.push(`network: ${r.url()}`);
  });

  await page.goto(pathToFileURL(reportPath).href, { waitUntil: 'load' });
  const shot = join(dir, 'report.png');
  await page.screenshot({ path: shot, fullPage: true });
  expect(statSync(shot).size).toBeGreaterThan(20_000);

  const charts = await page.$$eval('svg.chart', (svgs) =>
    svgs.map((svg): ChartInfo => {
      const box = svg.getBoundingClientRect();
      const visible = [...svg.querySelectorAll('path, rect')].filter((e) => {
        const b = e.getBoundingClientRect();
        return b.width > 0 && b.height > 0;
      });
      return {
        label: svg.getAttribute('aria-label') ?? '',
        width: box.width,
        height: box.height,
        visibleShapes: visible.length,
        areas: svg.querySelectorAll('path.area').length,
        lines: svg.querySelectorAll('path.line').length,
        bars: svg.querySelectorAll('rect.bar').length,
        states: svg.querySelectorAll('rect.state').length,
      };
    }),
  );

  expect(charts.map((c) => c.label.split(':')[0]!.split(' ')[0])).toEqual(['Throughput', 'Errors', 'Breaker', 'Spend', 'Batch', 'p95']);
  for (const c of charts) {
    expect(c.width).toBeGreaterThan(500);
    expect(c.height).toBeGreaterThan(120);
    expect(c.visibleShapes).toBeGreaterThan(5);
  }
  const [throughput, errors, breakers, spend, queue, latency] = charts as [ChartInfo, ChartInfo, ChartInfo, ChartInfo, ChartInfo, ChartInfo];
  expect(throughput.areas).toBeGreaterThan(0);
  expect(errors.bars).toBeGreaterThan(0);
  expect(breakers.states).toBeGreaterThanOrEqual(10); // one lane per target and provider, more when a state changed
  expect(spend.lines).toBeGreaterThan(1);
  expect(queue.lines).toBe(1);
  expect(latency.lines).toBeGreaterThan(0);

  // The numbers are there too.
  await expect(page.locator('table').first().textContent()).resolves.toContain('normal');
  expect(problems).toEqual([]);
  await page.close();
}, 30_000);
