/** Root jest config: every package's tests, TypeScript compiled by SWC (type checks run in `pnpm typecheck`). */
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
};
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/examples', '<rootDir>/bench', '<rootDir>/docs', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', swc] },
  // NestJS 12 ships as ES modules only: let SWC compile @nestjs/* (and .mjs files) to CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!\\.pnpm/@nestjs\\+|@nestjs/)(?!.*\\.mjs$)'],
  moduleNameMapper: {
    '^@llm-resilience/langchain/augment$': '<rootDir>/packages/langchain/src/augment.ts',
    '^@llm-resilience/([a-z]+)$': '<rootDir>/packages/$1/src/index.ts',
  },
  testTimeout: 20000,
};
