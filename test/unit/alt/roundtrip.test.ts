import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAlt, recoverAltId, toRunnerForm, type Job } from '../../../src/alt/index.ts';
import { SAMPLES, fixtureFiles } from '../../helpers/paths.ts';

const withoutSource = ({ source: _source, ...rest }: Job) => rest;

describe('toRunnerForm', () => {
  it('writes a canonical job back as runner-form JSON that decodes to the same job', () => {
    for (const file of [...fixtureFiles(), join(SAMPLES, 'plain-2.0.alt.json')]) {
      const first = decodeAlt(readFileSync(file));
      if (!first.ok) throw first.error;
      const again = decodeAlt(JSON.stringify(toRunnerForm(first.job)));
      if (!again.ok) throw again.error;
      expect(again.job.source.form).toBe('runner');
      expect(withoutSource(again.job)).toEqual(withoutSource(first.job));
    }
  });
});

describe('recoverAltId', () => {
  it('reads the id of valid files', () => {
    for (const file of fixtureFiles()) {
      const r = decodeAlt(readFileSync(file));
      if (!r.ok) throw r.error;
      expect(recoverAltId(readFileSync(file))).toBe(r.job.id);
    }
  });

  it('reads the id of files that fail to decode', () => {
    expect(recoverAltId(Buffer.from('{"version":"1.0","tasks":[{"id":"inner"}],"id":"outer-1", "title": '))).toBe('outer-1');
    expect(recoverAltId(Buffer.from('{"meta":{"id":"nested"},"id":"top\\u0041"}'))).toBe('topA');
    expect(recoverAltId(Buffer.from('id: "job-\\u0131"\nversion: 9\nsegments: [[['))).toBe('job-ı');
    expect(recoverAltId(Buffer.from("version: '1.0'\nid: plain-id # comment\n"))).toBe('plain-id');
    expect(recoverAltId(Buffer.from('{"id": 5}'))).toBeNull();
    expect(recoverAltId(Buffer.from([0xff, 0xfe, 0x00]))).toBeNull();
    expect(recoverAltId(Buffer.from(''))).toBeNull();
  });
});
