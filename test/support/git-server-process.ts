/**
 * A git smart-HTTP server (`git http-backend`) as its own process, standing in for a remote
 * provider: `node test/support/git-server-process.ts ROOT` serves ROOT's bare repos on a free
 * 127.0.0.1 port, prints `url <base>` once listening, and exits when its stdin closes (the test
 * process ended, however it ended) or after 30 minutes.
 */
import { startGitServer } from '../../shared/adapters/local/git-server.ts';

const root = process.argv[2];
if (!root) throw new Error('usage: git-server-process.ts ROOT');
const server = await startGitServer({ root });
process.stdout.write(`url ${server.url}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
setTimeout(stop, 30 * 60_000).unref();
