import 'reflect-metadata';
import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type OpenAI from 'openai';
import { ResilienceModule, type ResilienceModuleOptions } from '../src';
import { SupportController } from './SupportController';
import { OPENAI, SupportService } from './SupportService';

/** Identity of e2e requests: the `x-user` header. */
export const headerIdentity: NonNullable<ResilienceModuleOptions['identity']> = (ctx) => {
  const user = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-user'];
  return user ? { user } : undefined;
};

/** The HTTP platforms Nest runs on: `@nestjs/platform-express` (the default) and `@nestjs/platform-fastify`. */
export type Platform = 'express' | 'fastify';

/** Boots the e2e application on a real socket (port 0), on Express unless `platform` says otherwise. */
export async function createApp(
  openai: OpenAI,
  resilience: { forRoot: ResilienceModuleOptions } | { module: NonNullable<ModuleMetadata['imports']>[number] },
  extra: ModuleMetadata = {},
  platform: Platform = 'express',
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: ['forRoot' in resilience ? ResilienceModule.forRoot(resilience.forRoot) : resilience.module, ...(extra.imports ?? [])],
    controllers: [SupportController, ...(extra.controllers ?? [])],
    providers: [{ provide: OPENAI, useValue: openai }, SupportService, ...(extra.providers ?? [])],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}
