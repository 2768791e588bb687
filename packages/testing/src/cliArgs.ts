/**
 * Help text of the `llm-resilience-fake-provider` command.
 *
 * @example
 * ```ts
 * console.log(USAGE);
 * ```
 */
export const USAGE = `Usage: llm-resilience-fake-provider [--config scenario.json] [--port 8787] [--host 127.0.0.1] [--seed 42]

Starts a fake OpenAI/Anthropic-compatible provider.
  OpenAI SDK:    new OpenAI({ baseURL: 'http://HOST:PORT/v1' })
  Anthropic SDK: new Anthropic({ baseURL: 'http://HOST:PORT' })
Without --config, one model "fake-model" (128k context, no limits, no faults) is served.`;

/**
 * Parsed command line.
 *
 * @example
 * ```ts
 * const args: CliArgs = { config: 'scenario.json', port: 8787, host: '127.0.0.1', help: false };
 * ```
 */
export interface CliArgs {
  config?: string;
  port: number;
  host: string;
  seed?: number;
  help: boolean;
}

/**
 * Parses the command line; throws an Error with a usage hint on bad input.
 *
 * @example
 * ```ts
 * parseArgs(['--config', 's.json', '--port', '8787']); // { config: 's.json', port: 8787, host: '127.0.0.1', help: false }
 * ```
 */
export function parseArgs(argv: string[]): CliArgs {
  const out: CliArgs = { port: 8787, host: '127.0.0.1', help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value.\n\n${USAGE}`);
      return v;
    };
    const int = (name: string, v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}.`);
      return n;
    };
    if (flag === '--config' || flag === '-c') out.config = value();
    else if (flag === '--port' || flag === '-p') out.port = int('--port', value());
    else if (flag === '--host') out.host = value();
    else if (flag === '--seed') out.seed = int('--seed', value());
    else if (flag === '--help' || flag === '-h') out.help = true;
    else throw new Error(`Unknown option ${JSON.stringify(arg)}.\n\n${USAGE}`);
  }
  return out;
}
