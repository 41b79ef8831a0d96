import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../../src/config/load.ts';
import { ROOT } from '../helpers/paths.ts';

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Record<string, unknown>> };
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const ourServices = Object.entries(compose.services).filter(([, s]) => s.build !== undefined || s.image === 'altlas-runner:local');

describe('docker-compose.yml and Dockerfile', () => {
  it('sets only variables the config schema knows (or standard OTEL_ ones) on the runner images', () => {
    expect(ourServices.map(([name]) => name)).toEqual(expect.arrayContaining(['runner', 'orchestrator']));
    for (const [name, service] of ourServices) {
      for (const key of Object.keys((service.environment ?? {}) as Record<string, string>)) {
        expect({ service: name, key, known: CONFIG_VARIABLES.includes(key) || key.startsWith('OTEL_') }).toEqual({ service: name, key, known: true });
      }
    }
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const source = volume.split(':')[0];
        if (!source.startsWith('.')) continue;
        expect({ service: name, source, exists: existsSync(join(ROOT, source)) }).toEqual({ service: name, source, exists: true });
      }
    }
  });

  it('runs two runner replicas on one durable consumer, with the stack the issue names', () => {
    const runner = compose.services.runner;
    expect((runner.deploy as { replicas: number }).replicas).toBe(2);
    expect((runner.environment as Record<string, string>).RUNNER_DURABLE).toBeUndefined();
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['nats', 'orchestrator', 'runner', 'otel-collector', 'jaeger', 'prometheus']));
    const natsConf = readFileSync(join(ROOT, 'deploy', 'nats-server.conf'), 'utf8');
    expect(compose.services.nats.command).toEqual(['-c', '/etc/nats/nats-server.conf']);
    expect(natsConf).toMatch(/jetstream \{[^}]*cipher: aes[^}]*key: \$JS_KEY/s);
    expect(natsConf).toMatch(/^http: .*8222$/m);
  });

  it('builds the runner image in the runner service itself, and publishes only samples that are valid', async () => {
    expect(compose.services.runner.build).toBe('.');
    const files = (compose.services.publisher.command as string[]).slice(2);
    expect(files.length).toBeGreaterThan(5);
    const { decodeAlt } = await import('../../src/alt/index.ts');
    for (const f of files) expect({ f, ok: decodeAlt(readFileSync(join(ROOT, f)), { hint: f }).ok }).toEqual({ f, ok: true });
  });

  it('starts the documented command, `altlas worker`, as a non-root user with a health check', () => {
    const entry = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)![1]);
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]);
    expect([...entry, ...cmd]).toEqual(['/app/bin/altlas', 'worker']);
    expect(readFileSync(join(ROOT, 'bin', 'altlas'), 'utf8')).toContain('--import "$root/src/telemetry/register.ts"');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-slim AS runtime$/m);
    expect(dockerfile).toContain('npm ci --omit=dev');
    // bin/altlas runs the worker with jemalloc when the system has it (README: Operations, memory).
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-slim AS runtime$[\s\S]*apt-get install -y --no-install-recommends libjemalloc2/m);
    expect(dockerfile).toMatch(/org\.opencontainers\.image\.title/);
    for (const copied of [...dockerfile.matchAll(/^COPY --chown=node:node (\S+) /gm)].map((m) => m[1])) expect(existsSync(join(ROOT, copied))).toBe(true);
  });

  it('builds the image wherever it is used, restarts what runs, and writes no encryption key', () => {
    const raw = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    for (const [name, service] of ourServices) expect({ name, build: service.build }).toEqual({ name, build: '.' });
    for (const [name, service] of Object.entries(compose.services)) {
      const oneShot = (service.profiles as string[] | undefined)?.includes('tools');
      expect({ name, restart: service.restart }).toEqual({ name, restart: oneShot ? undefined : 'unless-stopped' });
    }
    // A required variable: compose refuses to start without it, and no default key sits in the file.
    expect((compose.services.nats.environment as Record<string, string>).JS_KEY).toMatch(/^\$\{JS_KEY:\?[^}]+\}$/);
    expect(raw).not.toMatch(/JS_KEY:-/);
    // The dashboard's health check probes the dashboard's own port.
    const port = (compose.services.dashboard.command as string[]).at(-1);
    expect((compose.services.dashboard.healthcheck as { test: string[] }).test.join(' ')).toContain(`127.0.0.1:${port}/healthz`);
  });

  it('has a CI workflow that runs .ci/run', () => {
    expect(readFileSync(join(ROOT, '.github', 'workflows', 'ci.yml'), 'utf8')).toContain('bash .ci/run');
  });
});
