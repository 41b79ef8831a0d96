/** Trace headers and URLs as they leave: members holding secrets masked, credentials out of `url.full`, a sealed job's id read through its encryption. */
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { Publisher, copyTraceHeaders } from '../../../src/messaging/publisher.ts';
import { payloadCodec } from '../../../src/security/codec.ts';
import { redactMemberList, sanitizeTraceHeaders } from '../../../src/security/trace-headers.ts';
import { safeUrl } from '../../../src/security/url.ts';

describe('trace headers', () => {
  it('copies only the W3C trace context of a message to its results, each within its bounds', () => {
    const from = natsHeaders();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    from.set('traceparent', traceparent);
    from.set('tracestate', `rojo=${'x'.repeat(600)}`);
    from.set('baggage', 'user=alice');
    from.set('Alt-Id', 'job-1');
    from.set('constructor', 'x');
    const to = natsHeaders();
    copyTraceHeaders(from, to);
    expect(Object.fromEntries(to.keys().map((k) => [k, to.values(k)]))).toEqual({ traceparent: [traceparent], baggage: ['user=alice'] });
    const bad = natsHeaders();
    bad.set('traceparent', '00-not-a-trace-01');
    const none = natsHeaders();
    copyTraceHeaders(bad, none);
    copyTraceHeaders(undefined, none);
    expect(none.keys()).toEqual([]);
  });

  it('masks the members of baggage and tracestate that hold secrets, and keeps the rest as they were', () => {
    expect(redactMemberList('user=alice,api_key=sk_live_abcdefghijklmnopqrstuvwx;ttl=5,note=Bearer%20abcDEF1234567890,region=eu'))
      .toBe('user=alice,api_key=[REDACTED];ttl=5,note=[REDACTED],region=eu');
    expect(redactMemberList('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(redactMemberList('acme=ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ')).toBe('acme=[REDACTED]');
  });

  it('drops both headers when payloads are encrypted', () => {
    for (const encrypted of [false, true]) {
      const h = natsHeaders();
      h.set('baggage', 'user=alice');
      h.set('tracestate', 'rojo=1');
      h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      sanitizeTraceHeaders(h, encrypted);
      expect([h.get('baggage'), h.get('tracestate'), h.get('traceparent')]).toEqual(encrypted ? ['', '', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'] : ['user=alice', 'rojo=1', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
    }
  });
});

describe('url.full', () => {
  it('replaces user names, passwords and credential query parameters by REDACTED', () => {
    expect(safeUrl('http://user:pa55@ai.example.com:8001/v1/chat?x=1')).toBe('http://REDACTED:REDACTED@ai.example.com:8001/v1/chat?x=1');
    expect(safeUrl('https://tok3n@ai.example.com/')).toBe('https://REDACTED@ai.example.com/');
    expect(safeUrl('https://s3.example.com/b/k?X-Amz-Signature=abc&api_key=k1&page=2')).toBe('https://s3.example.com/b/k?X-Amz-Signature=REDACTED&api_key=REDACTED&page=2');
    expect(safeUrl('http://127.0.0.1:8001/v1/chat/completions')).toBe('http://127.0.0.1:8001/v1/chat/completions');
    expect(safeUrl('not a url://u:p@x')).not.toContain('p@');
  });
});

describe('a sealed job\'s id', () => {
  it('is read through the encryption with a key of ours, and not without', () => {
    const keys = `k1:${randomBytes(32).toString('base64')}`;
    const codec = payloadCodec(keys);
    const publisher = (c = codec) => new Publisher({ out: null as never, jsm: null as never, config: null as never, maxPayload: () => 0, codec: c });
    const sealed = codec.seal(Buffer.from('{"id": "sealed-1", "tasks": ['), 'alt');
    expect(publisher().altIdOf(sealed)).toBe('sealed-1');
    expect(publisher(payloadCodec(`k2:${randomBytes(32).toString('base64')}`)).altIdOf(sealed)).toBeNull();
    expect(publisher().altIdOf(Buffer.from('{"id": "plain-1"'))).toBe('plain-1');
  });
});
