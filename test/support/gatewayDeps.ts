/**
 * `express` and the official `openai` SDK for the end-to-end tests under test/: they are dev
 * dependencies of @llm-resilience/express, not of the root, so they are loaded from its node_modules
 * (typed by the same copies) rather than resolved from here.
 */
import { createRequire } from 'node:module';
import type Express from '../../packages/express/node_modules/@types/express';
import type OpenAIClient from '../../packages/express/node_modules/openai';

const load = createRequire(require.resolve('../../packages/express/package.json'));

export const express = load('express') as typeof Express;
export const OpenAI = (load('openai') as { default: typeof OpenAIClient }).default;
