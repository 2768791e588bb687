import * as path from 'node:path';
import * as ts from 'typescript';

// ResilienceMiddlewareOptions.logger stays `Pick<Logger, 'warn'>` (a missing `warn` is refused at
// start-up, not by the type): code that passes a logger typed as core's `Logger`, or the gateway's
// logger type (one logger shared by openAIGateway() and resilience()), keeps compiling.
describe('resilience() logger option type', () => {
  it('still accepts a logger typed as core Logger / the gateway logger type', () => {
    const root = path.resolve(__dirname, '../../..');
    const file = path.join(__dirname, '__virtual_logger_check.ts');
    const source = `
      import type { Logger, Resilience } from '@llm-resilience/core';
      import type { OpenAIGatewayOptions, ResilienceMiddlewareOptions } from './types';
      declare const engine: Resilience;
      declare const appLogger: Logger;
      declare const gatewayLogger: NonNullable<OpenAIGatewayOptions['logger']>;
      export const a: ResilienceMiddlewareOptions = { engine, logger: appLogger };
      export const b: ResilienceMiddlewareOptions = { engine, logger: gatewayLogger };
    `;
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.Preserve,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      strict: true,
      skipLibCheck: true,
      esModuleInterop: true,
      noEmit: true,
      types: ['node'],
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      baseUrl: root,
      paths: { '@llm-resilience/core': ['./packages/core/src/index.ts'] },
    };
    const host = ts.createCompilerHost(options);
    const read = host.readFile.bind(host);
    const exists = host.fileExists.bind(host);
    const getSource = host.getSourceFile.bind(host);
    host.readFile = (f) => (path.resolve(f) === file ? source : read(f));
    host.fileExists = (f) => path.resolve(f) === file || exists(f);
    host.getSourceFile = (f, v, onError, create) =>
      path.resolve(f) === file ? ts.createSourceFile(f, source, v) : getSource(f, v, onError, create);
    const program = ts.createProgram([file], options, host);
    const diags = program.getSemanticDiagnostics(program.getSourceFile(file));
    expect(diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  }, 120_000);
});
