import 'reflect-metadata';
import { NestConfigError } from '../NestConfigError';
import { ATTEMPT_CTX_PARAM_METADATA, TARGET_PARAM_METADATA } from './metadata';

function paramDecorator(metadataKey: string, name: string): ParameterDecorator {
  return (target, key, index) => {
    if (key === undefined) {
      throw new NestConfigError(
        'ERR_LLMR_NEST_INVALID_OPTIONS',
        `@${name}() decorates a parameter of a method decorated with @RateLimited or @Fallback, not a constructor parameter.`,
      );
    }
    Reflect.defineMetadata(metadataKey, index, target, key);
  };
}

/**
 * Marks the parameter that receives the current target (`ResolvedTarget`: id, provider, model, ...)
 * on each attempt of a method decorated with `@RateLimited({ route })` or `@Fallback({ chain: true })`.
 * Callers leave it out (or pass `undefined`); the engine fills it.
 *
 * @example
 * ```ts
 * @RateLimited({ route: 'support_reply' })
 * @Fallback({ chain: true })
 * async reply(question: string, @Target() target?: ResolvedTarget) {
 *   return this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: question }] });
 * }
 * ```
 */
export function Target(): ParameterDecorator {
  return paramDecorator(TARGET_PARAM_METADATA, 'Target');
}

/**
 * Marks the parameter that receives the attempt context (`AttemptContext`: `signal` to pass to the
 * SDK, `attempt`, `maxOutputTokens`, `repair` after invalid output, `reportHeaders`, `reportUsage`).
 *
 * @example
 * ```ts
 * async reply(question: string, @Target() target?: ResolvedTarget, @AttemptCtx() ctx?: AttemptContext) {
 *   return this.openai.chat.completions.create({ model: target!.model, messages, max_tokens: ctx!.maxOutputTokens }, { signal: ctx!.signal });
 * }
 * ```
 */
export function AttemptCtx(): ParameterDecorator {
  return paramDecorator(ATTEMPT_CTX_PARAM_METADATA, 'AttemptCtx');
}
