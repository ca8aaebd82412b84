import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';
import { ageKeyPair, encryptSops, sopsBinary, sopsEncrypt } from '../support/sops.ts';

const PASSWORD = 'e2e-sops-plaintext-7f3a';
const PLAIN = `apiVersion: v1
kind: Secret
metadata:
  name: guestbook-db
type: Opaque
stringData:
  password: ${PASSWORD}
`;

/** Every file under `dir`, recursively, as text (the bundle store and state of `sluice dev`). */
const allText = async (dir: string): Promise<string> => {
  const parts: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) parts.push(await readFile(path.join(entry.parentPath, entry.name), 'utf8'));
  }
  return parts.join('\n');
};

describe('SOPS through sluice dev (real git over HTTP, directory targets)', () => {
  let t: TestDev;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 200 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('deploys a SOPS-encrypted Secret decrypted into the target, while bundles and events hold only ciphertext', async () => {
    // GIVEN the agent's age identity in the local dev secret store (secrets.json)
    const { identity, recipient } = await ageKeyPair();
    const secretsFile = path.join(t.workdir, 'secrets.json');
    const secrets = JSON.parse(await readFile(secretsFile, 'utf8')) as Record<string, string>;
    await writeFile(secretsFile, JSON.stringify({ ...secrets, 'sluice/sops-age-key': identity }));
    // AND a Secret encrypted by the real sops when it is built (scripts/sops/build.sh), else by our encoder
    const sops = sopsBinary();
    const encrypted = sops
      ? await sopsEncrypt(sops, PLAIN, recipient)
      : await encryptSops(
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'guestbook-db' },
            type: 'Opaque',
            stringData: { password: PASSWORD },
          },
          { recipients: [recipient] },
        );
    expect(encrypted).not.toContain(PASSWORD);
    // WHEN it is pushed into the guestbook app
    const sha = await t.push({ 'apps/guestbook/db-secret.yaml': encrypted }, 'add encrypted db secret');
    // THEN the staging targets get the plaintext Secret
    for (const target of ['staging-use1', 'staging-euw1']) {
      await waitFor(`guestbook healthy at ${sha} on ${target}`, async () => {
        const record = await t.dev.pipeline.ledger.getDeployment('guestbook', target);
        return record?.commit === sha && record.state === 'Healthy' ? true : undefined;
      });
      const file = path.join(t.dev.pipeline.targetDir(target), 'guestbook', 'secret.guestbook-db.yaml');
      const applied = await readFile(file, 'utf8');
      expect(applied).toContain(PASSWORD);
      expect(applied).not.toContain('ENC[AES256_GCM');
      expect(applied).not.toContain('lastmodified');
    }
    // AND the bundle store, the event log and the ledger hold the ciphertext only
    await t.dev.pipeline.idle();
    const state = await allText(path.join(t.workdir, 'state'));
    const bundles = await allText(path.join(t.workdir, 'bundles'));
    expect(bundles).toContain('ENC[AES256_GCM,');
    expect(bundles).not.toContain(PASSWORD);
    expect(state).toContain(sha);
    expect(state).not.toContain(PASSWORD);
    expect(JSON.stringify(t.events())).not.toContain(PASSWORD);
  });

  it('fails the deployment naming the file when the agent has the wrong key, without plaintext', async () => {
    // GIVEN a file encrypted for a recipient whose identity the secret store does not hold
    const stranger = await ageKeyPair();
    const encrypted = await encryptSops(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'other-db' },
        stringData: { password: PASSWORD },
      },
      { recipients: [stranger.recipient] },
    );
    // WHEN pushed
    const sha = await t.push(
      { 'apps/guestbook/other-secret.yaml': encrypted },
      'add a secret for another key',
    );
    // THEN Deployment Failed names the file and the fix, and no plaintext appears anywhere
    const failed = await waitFor('Deployment Failed', async () =>
      t.events('Deployment Failed').find((e) => (e.detail as { commit: string }).commit === sha),
    );
    const message = (failed.detail as { message: string; reason: string }).message;
    expect((failed.detail as { reason: string }).reason).toBe('SOPS_DECRYPT_FAILED');
    expect(message).toContain('apps/guestbook/other-secret.yaml');
    expect(message).toContain('sluice/sops-age-key');
    expect(JSON.stringify(t.events())).not.toContain(PASSWORD);
  });
});
