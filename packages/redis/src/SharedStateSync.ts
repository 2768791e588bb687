import type { Disposable } from '@llm-resilience/core';
import { SharedStateChannel, type SharedStateChannelOptions } from './SharedStateChannel';

/**
 * What {@link RedisBreakerSync} and {@link RedisPacingSync} have in common: a keyed state shared across
 * processes through one {@link SharedStateChannel} (a Redis hash holding the current states and a
 * pub/sub channel announcing changes). Each subclass only chooses its keyspace letter and wire codec.
 *
 * @example
 * ```ts
 * class MySync extends SharedStateSync<MyState> {
 *   constructor(options: RedisSyncOptions) {
 *     super(resolveSyncOptions(options, 'p', 'pacing', myCodec));
 *   }
 * }
 * ```
 */
export abstract class SharedStateSync<T> {
  private readonly channel: SharedStateChannel<T>;

  protected constructor(options: SharedStateChannelOptions<T>) {
    this.channel = new SharedStateChannel(options);
  }

  /** The Redis hash holding the current state per key. */
  get hashKey(): string {
    return this.channel.hashKey;
  }

  /** The pub/sub channel announcing changes. */
  get channelName(): string {
    return this.channel.channel;
  }

  /**
   * Stores and announces a local change. Resolves when written; never rejects (failures go to
   * `onError`). A state the codec does not share, or one already over, costs nothing. A breaker state
   * Redis did not take is kept (the latest per key) and sent again once the connection is ready or a
   * later publish succeeds, if it is still in force then; a pacing snapshot is not (a late one could
   * replace a fresher one from another process).
   *
   * @example
   * ```ts
   * await breakerSync.publish('target:fast-a', { state: 'open', until: Date.now() + 30_000, reason: 'consecutive_failures' });
   * ```
   */
  publish(key: string, state: T): Promise<void> {
    return this.channel.publish(key, state);
  }

  /**
   * Delivers the stored states once, then other processes' changes, to `onRemote`.
   *
   * @example
   * ```ts
   * const sub = pacingSync.subscribe((target, snapshot) => console.log(target, snapshot.remainingTokens));
   * sub.dispose();
   * ```
   */
  subscribe(onRemote: (key: string, state: T) => void): Disposable {
    return this.channel.subscribe(onRemote);
  }

  /**
   * The states currently stored (any process, this one included), times in this process' clock.
   * Rejects when Redis cannot answer.
   *
   * @example
   * ```ts
   * for (const [key, state] of await breakerSync.load()) console.log(key, state.state);
   * ```
   */
  load(): Promise<Array<[string, T]>> {
    return this.channel.load();
  }

  /**
   * Resolves once the subscriptions made so far have delivered the stored states (or reported why they
   * could not). Useful at start-up, before taking traffic.
   *
   * @example
   * ```ts
   * await breakerSync.ready();
   * ```
   */
  ready(): Promise<void> {
    return this.channel.ready();
  }

  /**
   * Unsubscribes, drops the changes still waiting to be sent again, and closes the subscriber
   * connection the sync created. Your `redis` stays open.
   *
   * @example
   * ```ts
   * await breakerSync.close();
   * ```
   */
  close(): Promise<void> {
    return this.channel.close();
  }
}
