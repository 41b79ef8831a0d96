/** An AI client wired to a fake orchestrator, with small test-friendly policy settings. */
import { AiClient, type AiClientOptions } from '../../src/ai/client.ts';
import { orchestratorProvider } from '../../src/ai/providers.ts';

export function testClient(baseUrl: string, overrides: Partial<AiClientOptions> = {}): AiClient {
  return new AiClient({
    provider: orchestratorProvider, baseUrl, timeoutMs: 2000, maxRetries: 3, retryBaseMs: 10, retryMaxMs: 50,
    retryAfterMaxMs: 2000, maxConcurrency: 8, maxQueue: 100, breakerThreshold: 100, breakerHalfOpenMs: 100,
    ...overrides,
  });
}

export const request = (text = 'hello') => ({ prompt: { system: 'You are t.', user: `Task:\n${text}` }, model: 'default', parameters: {} });

/** Waits until `check()` is true, polling each event-loop turn (bounded). */
export async function until(check: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
