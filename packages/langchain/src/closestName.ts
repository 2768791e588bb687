// One suggestion rule for every adapter's configuration errors: core's.
export { closestName } from '@llm-resilience/core';
