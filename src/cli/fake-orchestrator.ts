/** `altlas fake-orchestrator`: runs the fake AI orchestrator in the foreground. */
import { FakeOrchestrator } from '../ai/fake-orchestrator.ts';
import { EXIT, UsageError, parseCommandArgs, type Io } from './output.ts';

export const FAKE_HELP = `Usage: altlas fake-orchestrator [--port 8001] [--host 127.0.0.1] [faults]

Serves the ALT_LAS AI orchestrator API (POST /api/inference/, /api/inference/batch, GET
/api/models/, /health) and the OpenAI chat completions endpoint (streamed as server-sent events
when asked with stream: true), with deterministic answers and usage (prompt, completion, cached
and reasoning tokens; four characters a token). GET /_stats shows what it received; POST /_faults
sets faults (the keys at the end); POST /_reset clears the stats.
With --record, GET /_log lists every inference request: prompt, start, end, status, when a streamed
answer's first token was written, the answer's text, the model that answered and the usage it
reported.

An answer reads "[<model>] <12 hex digits of the prompt's SHA-256>: <the prompt after its last
"Task:" line, first 120 characters>", so one prompt always gets one answer (then padded
as asked, and cut to the request's max_tokens); tokens are the characters / 4 of prompt and answer.

Answer options:
  --first-token-ms N    time to first token of every answer, after --latency-ms
  --token-rate N        tokens per second of each answer (default: all at once); an
                        unstreamed answer comes when its last token would
  --output-chars N      pad every answer to N characters
  --cached-tokens N     prompt tokens reported as cached (default 0)
  --reasoning-tokens N  reasoning tokens reported (default 0)
  --no-usage            report no usage at all
  --record              keep a log of every inference request (GET /_log)

Faults (options at start):
  --latency-ms N        delay every answer
  --error-rate R        share of requests answered --error-status (default 500)
  --error-status N
  --fail-first N        the first N requests fail
  --rate-limit-rate R   share answered 429 with Retry-After --retry-after-s
  --retry-after-s N
  --cut-stream-after N  cut streamed answers (close the connection) after N text chunks
  --cut-stream-first N  cut only the first N streamed answers
  --hang | --malformed | --reset

Rate limits (enforced per model over a sliding minute, strictly; every answer then carries
x-ratelimit-limit-*, x-ratelimit-remaining-* and x-ratelimit-reset-* for requests and tokens, and a
request past a limit is answered 429 with Retry-After, the seconds until it would fit):
  --rpm N               requests per minute per model
  --tpm N               tokens (input + output, as the answer reports them) per minute per model

POST /_faults replaces every fault with a JSON object of these keys (all optional):
  latencyMs N, latencyJitterMs N    delay, plus a seeded random 0..N ms
  latencyRules [{match, ms}]        extra delay for a request whose body contains "match" (first rule)
  errorRules [{match, status}]      answer "status" to a request whose body contains "match"
  errorRate R, errorStatus N        a share R of requests answered N (a fixed sequence, not random)
  failFirst N                       the first N requests fail with errorStatus
  rateLimitRate R, retryAfterS N    a share R answered 429 with Retry-After N
  script [{match, answers: [..]}]   a prompt containing "match" gets the answers in turn (the last repeats)
  outputChars N                     pad every answer with "." to N characters (large outputs)
  outputRules [{match, chars}]      pad the answers to prompts containing "match" to "chars" (first rule; before outputChars)
  firstTokenMs N, tokenRate N       time to first token; tokens per second (as --first-token-ms, --token-rate)
  cachedTokens N                    prompt tokens reported as cached
  reasoningTokens N                 reasoning tokens reported
  noUsage                           report no usage at all
  cutStreamAfter N                  cut streamed answers after N text chunks
  cutStreamFirst N                  cut only the first N streamed answers
  responseHeaders {name: value}     extra headers on every inference answer (x-ratelimit-*, ...)
  hang, malformed, reset            never answer; answer 200 with broken JSON; drop the connection
  rpm N, tpm N                      requests and tokens per minute enforced per model (as --rpm, --tpm)
  modelLimits {<model>: {rpm, tpm}} limits of single models instead
e.g. curl -XPOST localhost:8001/_faults -d '{"errorRules":[{"match":"step 2","status":400}]}'`;

export async function fakeOrchestratorCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8001' }, host: { type: 'string', default: '127.0.0.1' },
      'latency-ms': { type: 'string' }, 'error-rate': { type: 'string' }, 'error-status': { type: 'string' },
      'fail-first': { type: 'string' }, 'rate-limit-rate': { type: 'string' }, 'retry-after-s': { type: 'string' },
      'first-token-ms': { type: 'string' }, 'token-rate': { type: 'string' }, 'output-chars': { type: 'string' },
      'cached-tokens': { type: 'string' }, 'reasoning-tokens': { type: 'string' }, 'no-usage': { type: 'boolean' }, record: { type: 'boolean' },
      'cut-stream-after': { type: 'string' }, 'cut-stream-first': { type: 'string' }, rpm: { type: 'string' }, tpm: { type: 'string' },
      hang: { type: 'boolean' }, malformed: { type: 'boolean' }, reset: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.out(FAKE_HELP);
    return EXIT.ok;
  }
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a number >= 0`);
    return n;
  };
  const fake = new FakeOrchestrator({
    latencyMs: num('latency-ms', values['latency-ms']), errorRate: num('error-rate', values['error-rate']),
    errorStatus: num('error-status', values['error-status']), failFirst: num('fail-first', values['fail-first']),
    rateLimitRate: num('rate-limit-rate', values['rate-limit-rate']), retryAfterS: num('retry-after-s', values['retry-after-s']),
    firstTokenMs: num('first-token-ms', values['first-token-ms']), tokenRate: num('token-rate', values['token-rate']),
    outputChars: num('output-chars', values['output-chars']), cachedTokens: num('cached-tokens', values['cached-tokens']),
    reasoningTokens: num('reasoning-tokens', values['reasoning-tokens']), noUsage: values['no-usage'],
    cutStreamAfter: num('cut-stream-after', values['cut-stream-after']), cutStreamFirst: num('cut-stream-first', values['cut-stream-first']),
    hang: values.hang, malformed: values.malformed, reset: values.reset, record: values.record,
    rpm: num('rpm', values.rpm), tpm: num('tpm', values.tpm),
  });
  const url = await fake.listen(num('port', values.port), values.host);
  io.out(`fake orchestrator listening on ${url}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await fake.close();
  return EXIT.ok;
}
