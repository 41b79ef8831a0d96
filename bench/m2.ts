const e = '{"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1765000000,"model":"fake-small","choices":[{"index":0,"delta":{"content":"abcd"},"finish_reason":null}]}';
const big = ('data: ' + e + '\n\n').repeat(250);
const evs: string[] = []; { let i = 0; while (i < big.length) { const j = big.indexOf('\n', i); evs.push(big.slice(i + 6, j)); i = j + 2; } }
const P = e.slice(0, e.indexOf('abcd')); const S = e.slice(e.indexOf('abcd') + 4);
const tests: Record<string, (d: string) => number> = {
  startsWith: (d) => +d.startsWith(P),
  sliceEq: (d) => +(d.slice(0, P.length) === P),
  endsWith: (d) => +d.endsWith(S),
  sliceEqEnd: (d) => +(d.slice(d.length - S.length) === S),
  both: (d) => +(d.slice(0, P.length) === P && d.slice(d.length - S.length) === S),
  indexOf: (d) => d.indexOf('"usage":'),
  charCodeLoop: (d) => { let n = 0; for (let i = 0; i < d.length; i++) n += d.charCodeAt(i); return n; },
  jsonParse: (d) => JSON.parse(d).created,
};
for (const [name, f] of Object.entries(tests)) {
  let x = 0;
  for (let w = 0; w < 200; w++) for (const d of evs) x += f(d);
  const t0 = process.cpuUsage();
  for (let w = 0; w < 2000; w++) for (const d of evs) x += f(d);
  const u = process.cpuUsage(t0);
  console.log(name.padEnd(14), (((u.user + u.system) * 1e3) / (2000 * evs.length)).toFixed(0), 'ns per event', x > -1e18 ? '' : '');
}
