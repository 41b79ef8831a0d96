import { describe, expect, it } from '@jest/globals';
import { pageUrl } from '../../../src/cli/dashboard.ts';

describe('the dashboard\'s printed address', () => {
  it('is one a browser can open: a wildcard bind is named by 127.0.0.1 and this host', () => {
    expect(pageUrl({ address: '127.0.0.1', family: 'IPv4', port: 8090 })).toBe('http://127.0.0.1:8090');
    expect(pageUrl({ address: '0.0.0.0', family: 'IPv4', port: 8090 }, 'box')).toBe('http://127.0.0.1:8090 (all interfaces: also http://box:8090)');
    expect(pageUrl({ address: '::', family: 'IPv6', port: 8090 }, 'box')).toBe('http://127.0.0.1:8090 (all interfaces: also http://box:8090)');
    expect(pageUrl({ address: '::1', family: 'IPv6', port: 8090 })).toBe('http://[::1]:8090');
  });
});
