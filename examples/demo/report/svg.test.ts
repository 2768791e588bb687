import { esc, laneChart, niceTicks, timeChart } from './svg';

describe('svg charts', () => {
  it('picks round ticks that cover the maximum', () => {
    expect(niceTicks(7.3)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(210, 10)).toEqual([0, 25, 50, 75, 100, 125, 150, 175, 200, 225]);
    expect(niceTicks(0.004)).toEqual([0, 0.001, 0.002, 0.003, 0.004]);
  });

  it('draws stacked areas, bars and lines with a legend and phase bands', () => {
    const series = [
      { name: 'chat', color: '#00f', values: [1, 2, 3] },
      { name: 'support <b>', color: '#0f0', values: [1, 0, 1] },
    ];
    const bands = [{ from: 0, to: 5, label: 'normal' }];
    const area = timeChart({ kind: 'stacked-area', title: 'T', yLabel: 'req/s', bucketS: 5, xMax: 15, series, bands });
    expect(area.match(/class="area"/g)).toHaveLength(2);
    expect(area).toContain('support &lt;b&gt;');
    expect(area).toContain('>normal<');
    const bars = timeChart({ kind: 'stacked-bars', title: 'E', yLabel: 'n', bucketS: 5, xMax: 15, series });
    expect(bars.match(/class="bar"/g)).toHaveLength(5);
    const lines = timeChart({ kind: 'line', title: 'S', yLabel: 'USD', bucketS: 5, xMax: 15, series, markers: [{ x: 7, label: 'downgrade' }] });
    expect(lines.match(/class="line"/g)).toHaveLength(2);
    expect(lines).toContain('downgrade');
    expect(lines.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });

  it('breaks a line at missing (null) values into separate segments instead of drawing them as 0', () => {
    const values = [4, 4, null, null, 4, null, 4, 4];
    const svg = timeChart({ kind: 'line', title: 'p95', yLabel: 'ms', bucketS: 5, xMax: 40, series: [{ name: 'batch p95', color: '#f00', values }] });
    const d = /<path class="line" d="([^"]*)"/.exec(svg)![1]!;
    // Three runs: buckets 0-1, bucket 4 alone (a short dash), buckets 6-7.
    expect(d.match(/M/g)).toHaveLength(3);
    expect(d.match(/L/g)).toHaveLength(3);
    const ys = new Set([...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => m[1]));
    expect(ys.size).toBe(1); // every point at 4: nothing drawn down to 0
    // A series with no value at all draws no line (its legend entry stays).
    const none = timeChart({ kind: 'line', title: 'p95', yLabel: 'ms', bucketS: 5, xMax: 10, series: [{ name: 'idle', color: '#f00', values: [null, null] }] });
    expect(none).not.toContain('class="line"');
    expect(none).toContain('>idle<');
  });

  it('draws one lane per item with a rect per state segment', () => {
    const svg = laneChart({
      title: 'Breakers',
      xMax: 100,
      colors: { closed: '#0f0', open: '#f00' },
      lanes: [
        { label: 'target:mini', segments: [{ from: 0, to: 40, state: 'closed' }, { from: 40, to: 60, state: 'open' }, { from: 60, to: 100, state: 'closed' }] },
        { label: 'target:vault', segments: [{ from: 0, to: 100, state: 'closed' }] },
      ],
    });
    expect(svg.match(/class="state"/g)).toHaveLength(4);
    expect(svg).toContain('fill="#f00"');
  });

  it('escapes text', () => {
    expect(esc(`a<b & "c">`)).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
  });
});
