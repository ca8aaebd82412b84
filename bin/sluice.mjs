#!/usr/bin/env node
// The pinned Node (npm package `node`, >= 22.19) strips TypeScript types natively,
// so the CLI runs straight from source with no build step.
await import('../cli/main.ts');
