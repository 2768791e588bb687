/** Root jest config: every package's tests, TypeScript compiled by SWC (type checks run in `pnpm typecheck`). */
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
};
const shared = {
  testEnvironment: 'node',
  testTimeout: 20000,
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', swc] },
  // NestJS 12 ships as ES modules only: let SWC compile @nestjs/* (and .mjs files) to CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!\\.pnpm/@nestjs\\+|@nestjs/)(?!.*\\.mjs$)'],
  moduleNameMapper: {
    '^@llm-resilience/langchain/augment$': '<rootDir>/packages/langchain/src/augment.ts',
    '^@llm-resilience/([a-z]+)$': '<rootDir>/packages/$1/src/index.ts',
  },
};
/** The NestJS 11 copies (dev dependencies of @llm-resilience/nestjs under aliases such as `@nestjs/core11`). */
const nest11 = '<rootDir>/packages/nestjs/node_modules/@nestjs';
module.exports = {
  testTimeout: 20000,
  projects: [
    {
      ...shared,
      displayName: 'all',
      roots: ['<rootDir>/packages', '<rootDir>/examples', '<rootDir>/bench', '<rootDir>/docs', '<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
    },
    {
      // The peer range of @llm-resilience/nestjs is ^11 || ^12: its HTTP end-to-end suites run again on
      // NestJS 11, every `@nestjs/*` import (ours, the tests' and Nest's own) mapped to the 11 copies.
      ...shared,
      displayName: 'nestjs 11',
      roots: ['<rootDir>/packages/nestjs'],
      testMatch: ['**/test/support.e2e.test.ts', '**/test/filter.e2e.test.ts'],
      moduleNameMapper: {
        ...shared.moduleNameMapper,
        ...Object.fromEntries(['common', 'core', 'testing', 'platform-express', 'platform-fastify'].map((p) => [`^@nestjs/${p}(/.*)?$`, `${nest11}/${p}11$1`])),
      },
    },
    {
      // The peer range of @llm-resilience/langchain is @langchain/core ^1.0.0: its tests run again on
      // @langchain/core 1.0 and @langchain/openai 1.0 (aliased dev dependencies; see the resolver).
      ...shared,
      displayName: 'langchain 1.0',
      roots: ['<rootDir>/packages/langchain'],
      testMatch: ['**/*.test.ts'],
      resolver: '<rootDir>/test/langchain10Resolver.cjs',
    },
  ],
};
