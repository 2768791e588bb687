/**
 * Jest resolver of the 'langchain 1.0' project (jest.config.js): `@langchain/core` and
 * `@langchain/openai` (and their subpaths, through the packages' own exports maps) resolve to the
 * 1.0 copies installed as dev dependencies of @llm-resilience/langchain under the aliases
 * `@langchain/core10` and `@langchain/openai10`, for our code, the tests and LangChain's own modules.
 */
const path = require('node:path');

const langchainPackage = path.join(__dirname, '..', 'packages', 'langchain');

module.exports = (request, options) => {
  const m = /^@langchain\/(core|openai)(\/.*)?$/.exec(request);
  if (m === null) return options.defaultResolver(request, options);
  return options.defaultResolver(`@langchain/${m[1]}10${m[2] ?? ''}`, { ...options, basedir: langchainPackage });
};
