/** Jest runs the TypeScript sources as ESM through @swc/jest (see package.json "test"). */
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
  maxWorkers: 3,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.cjs'],
};
