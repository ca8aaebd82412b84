#!/usr/bin/env node
// The local AWS emulator from a shell: install | start | stop | status | endpoint.
// `start` leaves LocalStack running in its own process group and prints `export AWS_ENDPOINT_URL=…`;
// `stop` ends that group. The logic lives in test/support/emulator.ts (shared with vitest).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  emulatorPaths,
  ensureInstalled,
  LOCALSTACK_VERSION,
  portIsFree,
  startEmulator,
  waitForHealth,
} from '../test/support/emulator.ts';
import { ensureMinistack, MINISTACK_VERSION } from '../test/support/emulator-ministack.ts';

const paths = emulatorPaths();
const readState = () => (existsSync(paths.state) ? JSON.parse(readFileSync(paths.state, 'utf8')) : undefined);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const command = process.argv[2] ?? 'status';
switch (command) {
  case 'install': {
    // Both emulators: LocalStack for the adapter suites, ministack for the deployed-stack test.
    const result = await ensureInstalled({ log: console.error });
    const ministack = await ensureMinistack({ log: console.error });
    console.log(
      JSON.stringify({
        localstack: LOCALSTACK_VERSION,
        ...result,
        ministack: { version: MINISTACK_VERSION, ...ministack },
      }),
    );
    break;
  }
  case 'start': {
    const state = readState();
    if (state && alive(state.pid)) {
      console.log(`export AWS_ENDPOINT_URL=${state.endpoint}`);
      break;
    }
    const install = await ensureInstalled({ log: console.error });
    // A user's emulator gets LocalStack's usual port when it is free.
    const emulator = await startEmulator((await portIsFree(4566)) ? { port: 4566 } : {});
    writeFileSync(
      paths.state,
      JSON.stringify({ pid: emulator.pid, endpoint: emulator.endpoint, port: emulator.port }),
    );
    console.error(
      `LocalStack ${LOCALSTACK_VERSION} (pid ${emulator.pid}) ready in ${emulator.startMs} ms` +
        (install.installed ? `; installed in ${install.ms} ms` : '') +
        `; log: ${emulator.log}`,
    );
    console.log(`export AWS_ENDPOINT_URL=${emulator.endpoint}`);
    break;
  }
  case 'stop': {
    const state = readState();
    if (state && alive(state.pid)) {
      process.kill(-state.pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(state.pid); i++) await new Promise((done) => setTimeout(done, 100));
      if (alive(state.pid)) process.kill(-state.pid, 'SIGKILL');
    }
    rmSync(paths.state, { force: true });
    break;
  }
  case 'status':
  case 'endpoint': {
    const state = readState();
    if (!state || !alive(state.pid)) {
      console.error('LocalStack is not running; start it with: node scripts/emulator.mjs start');
      process.exit(1);
    }
    await waitForHealth(state.endpoint, [], { timeoutMs: 5_000 });
    console.log(command === 'endpoint' ? state.endpoint : JSON.stringify(state));
    break;
  }
  default:
    console.error('usage: node scripts/emulator.mjs install|start|stop|status|endpoint');
    process.exit(2);
}
