/** Jest runs the TypeScript sources as ESM through @swc/jest (see package.json "test"). */
import { availableParallelism } from 'node:os';

export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/src'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2023', keepClassNames: true },
      module: { type: 'es6' },
    }],
  },
  testTimeout: 120000,
  // Jest's transform cache lives with the dependencies, not in the system's temporary folder.
  cacheDirectory: '<rootDir>/node_modules/.cache/jest',
  // Integration suites start a nats-server and worker processes of their own: one suite per core.
  maxWorkers: Math.max(1, Math.min(4, availableParallelism())),
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.cjs'],
};
