import type { AttemptContext, ResolvedTarget } from '@llm-resilience/core';
import { ForbiddenException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import OpenAI from 'openai';
import { from, map, Observable, throwError } from 'rxjs';
import { AttemptCtx, Fallback, RateLimited, Target } from '../src';

/** Injection token of the OpenAI client in the e2e apps. */
export const OPENAI = Symbol('OPENAI');

/** Fallback text of `SupportService.reply`. */
export const CANNED = 'We are a bit busy; a person will answer you shortly.';

/** A service with decorated methods, as an application would write it. */
@Injectable()
@RateLimited({ route: 'support_reply', maxOutputTokens: 64 })
export class SupportService {
  /** Errors each fallback call received, for assertions. */
  readonly fallbackErrors: unknown[] = [];
  /** Calls of the body of `order` (one per attempt). */
  orderCalls = 0;

  constructor(@Inject(OPENAI) private readonly openai: OpenAI) {}

  /** Model chain (the route's three models) plus a canned reply when all of them fail. */
  @RateLimited({ key: (userId: string) => userId })
  @Fallback({ chain: true })
  @Fallback({ method: 'cannedReply', on: ['overloaded', 'rate_limited'] })
  async reply(_userId: string, question: string, @Target() target?: ResolvedTarget, @AttemptCtx() ctx?: AttemptContext): Promise<string> {
    const r = await this.openai.chat.completions.create(
      { model: target!.model, messages: [{ role: 'user', content: question }], max_tokens: ctx!.maxOutputTokens },
      { signal: ctx!.signal },
    );
    return r.choices[0]?.message.content ?? '';
  }

  /**
   * Answers about an order, refusing unknown orders and other users' orders with the application's
   * own exceptions before any model call (a fallback method is declared, for the kinds they map to).
   */
  @RateLimited({ key: (userId: string) => userId })
  @Fallback({ method: 'cannedReply', on: ['invalid_request', 'auth', 'rate_limited'] })
  async order(userId: string, orderId: string, @Target() target?: ResolvedTarget): Promise<string> {
    this.orderCalls++;
    if (orderId === 'missing') throw new NotFoundException(`No order ${orderId}.`);
    if (orderId !== `${userId}-1`) throw new ForbiddenException('This order belongs to another customer.');
    const r = await this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: `Status of ${orderId}?` }] });
    return r.choices[0]?.message.content ?? '';
  }

  /** `order` as an Observable method. */
  @RateLimited({ key: (userId: string) => userId })
  @Fallback({ method: 'cannedReply', on: ['invalid_request'] })
  order$(userId: string, orderId: string, @Target() target?: ResolvedTarget): Observable<string> {
    this.orderCalls++;
    if (orderId === 'missing') return throwError(() => new NotFoundException(`No order ${orderId}.`));
    return from(this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: `Status of ${orderId} for ${userId}?` }] })).pipe(
      map((r) => r.choices[0]?.message.content ?? ''),
    );
  }

  cannedReply(_userId: string, _question: string, _target: undefined, _ctx: undefined, error: unknown): string {
    this.fallbackErrors.push(error);
    return CANNED;
  }

  /** Model chain without a fallback method: the engine's typed error reaches the caller. */
  @Fallback({ chain: true })
  async strict(question: string, @Target() target?: ResolvedTarget): Promise<string> {
    const r = await this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: question }] });
    return r.choices[0]?.message.content ?? '';
  }

  /** An Observable method: one engine request per subscription, the identity from the request context. */
  @Fallback({ chain: true })
  reply$(question: string, @Target() target?: ResolvedTarget): Observable<string> {
    return from(this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: question }] })).pipe(
      map((r) => r.choices[0]?.message.content ?? ''),
    );
  }
}
