import type { ResolvedTarget } from '@llm-resilience/core';
import { Body, Controller, Get, Headers, Inject, Post, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import OpenAI from 'openai';
import { from, map, Observable } from 'rxjs';
import { Fallback, RateLimited, ResilienceExceptionFilter, ResilienceGuard, ResilienceInterceptor, SkipResilience, Target } from '../src';
import { OPENAI, SupportService } from './SupportService';

/** Identity of the e2e requests: the `x-user` header. */
export function userOf(headers: Record<string, string | undefined>): string | undefined {
  return headers['x-user'];
}

/** A controller using the guard, the interceptor and the filter, as an application would. */
@UseGuards(ResilienceGuard)
@UseInterceptors(ResilienceInterceptor)
@UseFilters(ResilienceExceptionFilter)
@RateLimited({ route: 'support_reply', limits: [{ id: 'user-burst', scope: ['user'], limit: 3, window: '1m' }] })
@Controller('support')
export class SupportController {
  constructor(
    @Inject(SupportService) private readonly support: SupportService,
    @Inject(OPENAI) private readonly openai: OpenAI,
  ) {}

  /** Calls the decorated service method (identity passed explicitly). */
  @Post('reply')
  async reply(@Headers('x-user') user: string, @Body() body: { question: string }): Promise<{ answer: string }> {
    return { answer: await this.support.reply(user, body.question) };
  }

  /** The service's order method: its own HttpExceptions reach the client as thrown. */
  @Post('order')
  async order(@Headers('x-user') user: string, @Body() body: { orderId: string }): Promise<{ answer: string }> {
    return { answer: await this.support.order(user, body.orderId) };
  }

  /** The service's Observable order method. */
  @Post('order$')
  order$(@Headers('x-user') user: string, @Body() body: { orderId: string }): Observable<{ answer: string }> {
    return this.support.order$(user, body.orderId).pipe(map((answer) => ({ answer })));
  }

  /** The service's strict method: the engine's errors become HTTP errors. */
  @Post('strict')
  async strict(@Body() body: { question: string }): Promise<{ answer: string }> {
    return { answer: await this.support.strict(body.question) };
  }

  /** An Observable handler calling an Observable service method. */
  @Post('stream')
  stream(@Body() body: { question: string }): Observable<{ answer: string }> {
    return this.support.reply$(body.question).pipe(map((answer) => ({ answer })));
  }

  /** The handler itself is the model call: decorated on the controller, one call per attempt. */
  @RateLimited({ route: 'support_reply', limits: [{ id: 'direct-user', scope: ['user'], limit: 100, window: '1m' }] })
  @Fallback({ chain: true })
  @Post('direct')
  async direct(@Body() body: { question: string }, @Target() target?: ResolvedTarget): Promise<{ answer: string; model: string }> {
    const r = await this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: body.question }] });
    return { answer: r.choices[0]?.message.content ?? '', model: target!.model };
  }

  /** An Observable handler decorated on the controller. */
  @Fallback({ chain: true })
  @Post('direct$')
  direct$(@Body() body: { question: string }, @Target() target?: ResolvedTarget): Observable<{ model: string }> {
    return from(this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: body.question }] })).pipe(
      map(() => ({ model: target!.model })),
    );
  }

  @SkipResilience()
  @Get('health')
  health(): { ok: true } {
    return { ok: true };
  }
}
