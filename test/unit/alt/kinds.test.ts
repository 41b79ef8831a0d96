/**
 * Forbidden kinds however they are spelt: hundreds of spellings generated from homoglyphs,
 * invisible characters, separators, case, marks, Turkish i's and plurals, each tried in every
 * place a kind can be given (runner `task_type`, runner `parameters.task_type`, a segment's
 * `task_type`, a segment's `task_type` parameter); ordinary kinds still pass.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeAlt } from '../../../src/alt/index.ts';
import { FORBIDDEN_KINDS, kindSkeleton, refusedKind } from '../../../src/alt/kinds.ts';

/** Lookalikes of ASCII letters from other scripts and blocks (hand-picked, not read from the table under test). */
const HOMOGLYPHS: Record<string, string[]> = {
  a: ['а', 'ɑ', 'α', '𝐚', 'ａ', 'ạ'], c: ['с', 'ϲ', 'ⅽ', 'ᴄ', '𝒄'], d: ['ԁ', 'ⅾ', 'ɗ'], e: ['е', 'ҽ', '℮', 'ẹ', 'ｅ'],
  f: ['ƒ', '𝐟', 'ꞙ'], i: ['і', 'ı', 'ɩ', 'ι', 'ⅰ', 'ｉ', 'í'], l: ['ӏ', 'ⅼ', 'ℓ', 'ǀ', '1', '|', 'Ɩ'],
  m: ['ｍ', 'ⅿ', 'rn', '𝗺'], n: ['ո', 'ռ', '𝐧'], o: ['о', 'ο', 'օ', '0', 'ᴏ', 'ｏ', 'ỏ', '௦'], p: ['р', 'ρ', '𝐩', 'ⲣ'],
  r: ['г', 'ᴦ', '𝐫'], s: ['ѕ', 'ꜱ', 'ʂ', '𝐬', 'ｓ'], t: ['𝐭', 'ｔ', 'ţ'], y: ['у', 'ү', 'ʏ', 'γ', 'ｙ'],
};
const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u034f', '\u180e', '\u3164', '\ufe0f', '\ufe00', '\u115f', '\u1160', '\uffa0', '\u061c', '\u200e', '\u202e', '\u{e0041}', '\u2061'];
const SEPARATORS = ['_', '__', '-', '.', ' ', '', '\u2010', '\u2011', '\u2013', '\u2014', '\u2212', '\u00b7', '/', ':', '\t', '\u3000', '\u00a0', '+', '~', '\uff3f', '\ufe4d'];
const MARKS = ['\u0301', '\u0300', '\u0308', '\u0327', '\u0307', '\u0323', '\u0338'];
const WORDS: Record<string, [string, string]> = { file_operation: ['file', 'operation'], system_command: ['system', 'command'] };

const titleCase = (w: string) => w[0].toUpperCase() + w.slice(1);

/** Deterministic spellings of each forbidden kind: every separator in several cases, every homoglyph and invisible character, marks, Turkish i's. */
function spellings(kind: string): string[] {
  const [a, b] = WORDS[kind];
  const out = new Set<string>();
  for (const sep of SEPARATORS) {
    out.add(`${a}${sep}${b}`);
    out.add(`${a.toUpperCase()}${sep}${b.toUpperCase()}`);
    out.add(`${titleCase(a)}${sep}${titleCase(b)}`);
  }
  out.add(`${titleCase(a)}${titleCase(b)}`);
  out.add(`${a}${titleCase(b)}`);
  for (const suffix of ['s', 'es', 'S']) out.add(`${a}_${b}${suffix}`);
  for (const wrap of [['run_', ''], ['', '_v2'], ['my-', '-task'], ['', '()'], ['', ':'], ['"', '"'], [' ', '\n'], ['\u200b', '\u200b']]) out.add(`${wrap[0]}${a}_${b}${wrap[1]}`);
  const plain = `${a}_${b}`;
  [...plain].forEach((ch, i) => {
    for (const g of HOMOGLYPHS[ch] ?? []) out.add(plain.slice(0, i) + g + plain.slice(i + 1));
    for (const m of MARKS) out.add(plain.slice(0, i + 1) + m + plain.slice(i + 1));
    for (const inv of INVISIBLE) if (i % 3 === 0) out.add(plain.slice(0, i) + inv + plain.slice(i));
  });
  out.add(plain.replace(/i/g, 'ı'));
  out.add(plain.toUpperCase().replace(/I/g, 'İ'));
  out.add(plain.toUpperCase().replace(/I/g, 'ı'));
  out.add([...plain].map((c) => String.fromCodePoint(0xff00 + c.charCodeAt(0) - 0x20)).join(''));
  out.add([...plain].map((c) => (HOMOGLYPHS[c] ? HOMOGLYPHS[c][0] : c)).join(''));
  out.add([...plain].join('\u200b'));
  return [...out];
}

const ORDINARY = [
  'analyze', 'summarize', 'create', 'execute', 'search', 'transform', 'control_flow', 'function_call', 'variable_definition', 'translate',
  'classification', 'code_review', 'profile_operation', 'system_design', 'command_palette_docs', 'file_summary', 'operation_report', 'commands_overview',
  'systematic_review', 'fileserver_audit', 'data-extraction', 'Question Answering', 'sentimentAnalysis', 'ETL', 'qa', 'sql_generation', 'reasoning',
  'file', 'system', 'command', 'operation', 'filing_operations_guide',
  'step_1', 'gpt4_summary', 'v2_translate', 'top10_list', 'h1_extract', 'l33t_speak', 'base64_decode', 'sha256_check', 'ai@edge', 'c++_review', 'q&a',
];

/** Further spellings no generator above makes: digits and signs for letters, mathematical alphanumerics, enclosed letters, ligatures, long s. */
const FURTHER = [
  '5ystem_command', 'sy5tem_command', 'Sy$tem_command', 'system_comm4nd', 'syst3m_c0mm4nd', '$y$tem_command', 'file_0peration', 'fi1e_operati0n', 'f!le_operation', 'file_oper@tion', 'file_opera7ion',
  '𝐬𝐲𝐬𝐭𝐞𝐦_𝐜𝐨𝐦𝐦𝐚𝐧𝐝', '𝘀𝘆𝘀𝘁𝗲𝗺_𝗰𝗼𝗺𝗺𝗮𝗻𝗱', '𝕤𝕪𝕤𝕥𝕖𝕞_𝕔𝕠𝕞𝕞𝕒𝕟𝕕', '𝒇𝒊𝒍𝒆_𝒐𝒑𝒆𝒓𝒂𝒕𝒊𝒐𝒏', 'ⓢⓨⓢⓣⓔⓜ_ⓒⓞⓜⓜⓐⓝⓓ', '🅢🅨🅢🅣🅔🅜_🅒🅞🅜🅜🅐🅝🅓', 'ﬁle_operation', 'ſystem_command',
  'system\u2028command', 'system\u{e0020}command', 'sʏstem_command', 'S.Y.S.T.E.M.C.O.M.M.A.N.D', 's-y-s-t-e-m-c-o-m-m-a-n-d', 'sYsTeMcOmMaNd', '__system_command__', 'FILE_OPERATIONS',
];

/** A document giving `kind` in one of the places a kind can be given. */
function place(where: number, kind: string): unknown {
  switch (where) {
    case 0: return { id: 'k', version: '1.0', created_at: '2025-01-01T00:00:00Z', title: 't', tasks: [{ id: 'a', description: 'x' }, { id: 'b', description: 'x', task_type: kind }] };
    case 1: return { id: 'k', version: '1.0', created_at: '2025-01-01T00:00:00Z', title: 't', tasks: [{ id: 'a', description: 'x', parameters: { task_type: kind } }] };
    case 2: return { id: 'k', version: '1.0', timestamp: '2025-01-01T00:00:00Z', command: 'c', segments: [{ id: 's', task_type: kind, content: 'x', parameters: [], dependencies: [], metadata: {} }] };
    default: return { id: 'k', version: '1.0', timestamp: '2025-01-01T00:00:00Z', command: 'c', segments: [{ id: 's', task_type: 'create', content: 'x', parameters: [{ name: 'task_type', value: kind, type: 'string', required: false, description: 'd' }], dependencies: [], metadata: {} }] };
  }
}
const codeOf = (doc: unknown) => {
  const r = decodeAlt(JSON.stringify(doc));
  return r.ok ? 'ok' : r.error.code;
};

describe('forbidden kinds', () => {
  const all = FORBIDDEN_KINDS.flatMap((k) => spellings(k).map((s) => [k, s] as const));

  it(`generates hundreds of spellings (${all.length})`, () => {
    expect(all.length).toBeGreaterThan(400);
  });

  it('refuses every spelling, naming the kind it spells or that it is not plain ASCII', () => {
    const passed = all.filter(([, s]) => refusedKind(s) === null).map(([, s]) => s);
    expect(passed).toEqual([]);
    // The issue's own list, each named as the kind it spells.
    const named = ['ѕystem_command', 'sуstem_cоmmand', 'sуstеm_commаnd', 'fіle_operation', 'system_cοmmand', 'fıle_operation', 'FİLE_OPERATION', 'system\ufe0f_command', 'sys\u034ftem_command',
      'system\u180e_command', 'system\u3164_command', 'system\u2010command', 'system\u2013command', 'syste\u0301m_command', 'system__command', 'system.command', 'SystemCommand', 'system_commands'];
    for (const s of named) expect({ s, refused: refusedKind(s) }).toEqual({ s, refused: { kind: expect.stringMatching(/^(system_command|file_operation)$/), reason: 'forbidden' } });
    expect(FURTHER.filter((s) => refusedKind(s) === null)).toEqual([]);
    for (const s of FURTHER.slice(0, 11)) expect({ s, refused: refusedKind(s) }).toEqual({ s, refused: { kind: expect.stringMatching(/^(system_command|file_operation)$/), reason: 'forbidden' } });
  });

  it('refuses every spelling in each of the places a kind can be given', () => {
    const sample = all.filter((_, i) => i % 5 === 0);
    for (const [, s] of sample) {
      for (let where = 0; where < 4; where++) expect({ s, where, code: codeOf(place(where, s)) }).toEqual({ s, where, code: 'TASK_KIND_FORBIDDEN' });
    }
  });

  it('refuses random mixtures of homoglyphs, invisible characters, marks and separators', () => {
    const letter = (c: string) => fc.constantFrom(c, c.toUpperCase(), ...(HOMOGLYPHS[c] ?? []));
    const noise = fc.constantFrom('', '', '', ...INVISIBLE, ...MARKS);
    for (const kind of FORBIDDEN_KINDS) {
      const [a, b] = WORDS[kind];
      const word = (w: string) => fc.tuple(...[...w].map((c) => fc.tuple(letter(c), noise).map(([x, n]) => x + n))).map((parts) => parts.join(''));
      fc.assert(fc.property(word(a), fc.constantFrom(...SEPARATORS), word(b), fc.constantFrom('', 's'), (x, sep, y, plural) => {
        expect(refusedKind(`${x}${sep}${y}${plural}`)).not.toBeNull();
      }), { numRuns: 300 });
    }
  });

  it('lets ordinary ASCII kinds through in every place', () => {
    for (const k of ORDINARY) {
      expect({ k, refused: refusedKind(k) }).toEqual({ k, refused: null });
      for (let where = 0; where < 4; where++) expect({ k, where, code: codeOf(place(where, k)) }).toEqual({ k, where, code: 'ok' });
    }
  });

  it('refuses a kind that is not plain ASCII once mapped', () => {
    for (const k of ['résumé', '翻译', 'анализ', 'ѕуѕтем_соммаnd', 'übersetzen']) expect({ k, reason: refusedKind(k)?.reason }).toEqual({ k, reason: expect.any(String) });
    expect(refusedKind('résumé')).toEqual({ kind: 'résumé', reason: 'not_ascii' });
    expect(codeOf(place(2, 'анализ'))).toBe('TASK_KIND_FORBIDDEN');
  });

  it('compares on the UTS #39 skeleton', () => {
    expect(kindSkeleton('sуstem‐Command')).toMatchObject({ words: ['systern', 'cornrnand'], ascii: true });
    expect(kindSkeleton('FİLE')).toMatchObject({ words: ['fiie'], ascii: false });
    expect(kindSkeleton('fıle').words).toEqual(['fiie']);
    expect(kindSkeleton('fiƖe').variants.map((w) => w.join(''))).toEqual(['fiie', 'fiie', 'fiie']);
    expect(kindSkeleton('Sy$tem_c0mm4nd').variants[2]).toEqual(['systern', 'cornrnand']);
  });
});
