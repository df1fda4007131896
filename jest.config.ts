import type { Config } from 'jest';

const config: Config = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: ['**/*.spec.ts'],
  // lib/ imports its siblings with a .js suffix (what Node's ESM resolution needs);
  // ts-jest resolves them to the .ts sources.
  // The demo imports the package by name; in-process specs take it from the sources.
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^connect-mongoose-session$': '<rootDir>/lib/index.ts',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }],
  },
  reporters: ['default', '<rootDir>/spec/support/summary-reporter.cjs'],
  globalSetup: '<rootDir>/spec/support/global-setup.ts',
  globalTeardown: '<rootDir>/spec/support/global-teardown.ts',
  // Two cores: two workers share one server without starving it.
  maxWorkers: 2,
  testTimeout: 30_000,
};

export default config;
