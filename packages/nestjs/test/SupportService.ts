import type { AttemptContext, ResolvedTarget } from '@llm-resilience/core';
import { Inject, Injectable } from '@nestjs/common';
import OpenAI from 'openai';
import { from, map, Observable } from 'rxjs';
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
