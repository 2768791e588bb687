import { createHash } from 'node:crypto';
import type { ScriptClient } from './redisClient';

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * One Lua script, loaded with SCRIPT LOAD and run with EVALSHA; when a node answers NOSCRIPT (restart,
 * SCRIPT FLUSH, failover, a Cluster node that never saw SCRIPT LOAD) it is run once with EVAL, which
 * also puts it back in that node's script cache.
 *
 * @example
 * ```ts
 * const script = new RedisScript("return redis.call('GET', KEYS[1])");
 * await script.load(redis);
 * const v = await script.run(redis, ['k'], []);
 * ```
 */
export class RedisScript {
  /** SHA1 of the source, as Redis computes it. */
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua, 'utf8').digest('hex');
  }

  /**
   * SCRIPT LOAD on the server, or on every master of a Cluster.
   *
   * @example
   * ```ts
   * await script.load(cluster);
   * ```
   */
  async load(client: ScriptClient): Promise<void> {
    const targets = client.isCluster && client.nodes ? client.nodes('master') : [client];
    await Promise.all(targets.map((node) => node.script('LOAD', this.lua)));
  }

  /**
   * EVALSHA, falling back to EVAL on NOSCRIPT. `args` must already be strings or numbers.
   *
   * @example
   * ```ts
   * await script.run(redis, ['{llmr}:r:k'], ['600000', '1000']);
   * ```
   */
  async run(client: ScriptClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const params = [keys.length, ...keys, ...args];
    try {
      return await client.evalsha(this.sha, ...params);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return client.eval(this.lua, ...params);
    }
  }
}
