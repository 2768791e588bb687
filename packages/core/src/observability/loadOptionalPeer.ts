import { ResilienceError } from '../errors/ResilienceError';

/**
 * Thrown when a feature needs an optional peer dependency (`@opentelemetry/api`, `prom-client`)
 * that is not installed. Install the package, or pass the module in explicitly.
 *
 * @example
 * ```ts
 * try { new PrometheusMetrics(); }
 * catch (e) { if (e instanceof MissingPeerDependencyError) console.error(e.message); }
 * ```
 */
export class MissingPeerDependencyError extends ResilienceError {
  /** The npm package that is missing. */
  readonly packageName: string;

  constructor(packageName: string, feature: string, cause?: unknown) {
    super(
      `${feature} needs the optional peer dependency '${packageName}', which could not be loaded. ` +
        `Install ${packageName} to use ${feature} (npm i ${packageName}).`,
      { kind: 'invalid_request', code: 'ERR_LLMR_MISSING_PEER', cause },
    );
    this.packageName = packageName;
  }
}

type RequireFn = (id: string) => unknown;

/** The ways to reach a CommonJS `require` from CJS, Jest, and Node ESM (via `process.getBuiltinModule`). */
function requireCandidates(): RequireFn[] {
  const out: RequireFn[] = [];
  if (typeof require === 'function') out.push(require);
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown; cwd?: () => string } })
    .process;
  const nodeModule = proc?.getBuiltinModule?.('node:module') as
    | { createRequire?: (from: string) => RequireFn }
    | undefined;
  if (nodeModule?.createRequire && proc?.cwd) out.push(nodeModule.createRequire(`${proc.cwd()}/`));
  return out;
}

/**
 * Loads an optional peer dependency at run time, so that importing core never requires it.
 * Throws {@link MissingPeerDependencyError} with an install hint when it cannot be found.
 *
 * @example
 * ```ts
 * const prom = loadOptionalPeer<typeof import('prom-client')>('prom-client', 'PrometheusMetrics');
 * ```
 */
export function loadOptionalPeer<T>(packageName: string, feature: string): T {
  let lastError: unknown;
  for (const req of requireCandidates()) {
    try {
      return req(packageName) as T;
    } catch (error) {
      // Not found from here, or a bundler's "dynamic require is not supported" stub: try the next way in.
      lastError = error;
    }
  }
  throw new MissingPeerDependencyError(packageName, feature, lastError);
}
