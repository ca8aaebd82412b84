import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { decodeBundle, encodeBundle } from '../../shared/core/bundle.ts';
import { renderApp } from '../../shared/core/render.ts';
import { decryptSopsObjects } from '../../shared/core/sops.ts';
import { isSluiceError } from '../../shared/errors.ts';
import type { KmsDecrypter, SecretStore } from '../../shared/ports/index.ts';
import { memoryTree, specOf } from '../security/render-support.ts';
import { ageKeyPair, encryptSops, sopsBinary, sopsDecrypt, sopsEncrypt } from '../support/sops.ts';

/** The secret store holding the agent's age identity, as the local dev store would. */
const storeWith = (values: Record<string, string>): SecretStore => ({
  get: async (ref) => {
    const value = values[ref];
    if (value === undefined) throw new Error(`no secret ${ref}`);
    return value;
  },
});

const PASSWORD = 'hunter2-correct-horse';
const secret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', labels: { app: 'web' } },
  type: 'Opaque',
  stringData: { password: PASSWORD, port: 5432, url: 'postgres://db:5432/app' },
};

/** Renders the app and round-trips the result through bundle bytes, as the agent receives it. */
const renderToBundle = async (files: Record<string, string>) => {
  const rendered = await renderApp(memoryTree(files), specOf('web', 'apps/web'));
  const bytes = encodeBundle(rendered, { app: 'web', commit: 'a'.repeat(40) });
  return { bytes, entries: decodeBundle(bytes).objects };
};

const failureOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    if (isSluiceError(error)) return error;
    throw error;
  }
  throw new Error('expected a failure');
};

describe('SOPS-encrypted manifests', () => {
  it('stay encrypted through render and the bundle, and decrypt at apply with the age key from the secret store', async () => {
    // GIVEN a Secret encrypted for an age recipient (our own encoder of the SOPS format)
    const { identity, recipient } = await ageKeyPair();
    const file = await encryptSops(secret, { recipients: [recipient] });
    // WHEN rendered into a bundle
    const { bytes, entries } = await renderToBundle({ 'apps/web/secret.yaml': file });
    // THEN the bundle holds only ciphertext
    expect(new TextDecoder().decode(bytes)).not.toContain(PASSWORD);
    expect(
      String(
        entries[0]!.object.stringData && (entries[0]!.object.stringData as Record<string, unknown>).password,
      ),
    ).toMatch(/^ENC\[AES256_GCM,/);
    // AND the agent's decryption yields the plaintext object without SOPS metadata
    const [object] = await decryptSopsObjects(entries, {
      secrets: storeWith({ 'sluice/sops-age-key': `# created: now\n${identity}\n` }),
    });
    expect(object).toEqual(secret);
  });

  it('fails naming the file and the fix when the secret store holds a different age key, with no plaintext', async () => {
    const { recipient } = await ageKeyPair();
    const other = await ageKeyPair();
    const { entries } = await renderToBundle({
      'apps/web/secret.yaml': await encryptSops(secret, { recipients: [recipient] }),
    });
    const error = await failureOf(
      decryptSopsObjects(entries, { secrets: storeWith({ 'sluice/sops-age-key': other.identity }) }),
    );
    expect(error.code).toBe('SOPS_DECRYPT_FAILED');
    expect(error.message).toContain('apps/web/secret.yaml');
    expect(error.message).toContain(recipient);
    expect(error.message).toContain('sluice/sops-age-key');
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).not.toContain(other.identity);
  });

  it('refuses a file whose values were swapped or edited after encryption (MAC)', async () => {
    const { identity, recipient } = await ageKeyPair();
    const text = await encryptSops(
      { ...secret, stringData: { a: 'first', b: 'second' } },
      { recipients: [recipient] },
    );
    // Someone with push access edits a plaintext field SOPS left unencrypted: only the MAC catches it
    const doc = parse(text);
    doc.metadata.labels.app = 'evil';
    const { entries } = await renderToBundle({ 'apps/web/secret.yaml': stringify(doc) });
    const error = await failureOf(
      decryptSopsObjects(entries, { secrets: storeWith({ 'sluice/sops-age-key': identity }) }),
    );
    expect(error.code).toBe('SOPS_DECRYPT_FAILED');
    expect(error.message).not.toContain('first');
    expect(error.message).toMatch(
      /apps\/web\/secret\.yaml: .*changed after it was encrypted.*Fix: edit it only through sops/,
    );
  });

  it('refuses at render a SOPS file whose apiVersion, kind or name is encrypted, telling how to encrypt only the data', async () => {
    const { recipient } = await ageKeyPair();
    const file = await encryptSops(secret, {
      recipients: [recipient],
      encryptedRegex: /^(name|data|stringData)$/,
    });
    await expect(renderToBundle({ 'apps/web/secret.yaml': file })).rejects.toThrow(
      /metadata\.name encrypted.*--encrypted-regex '\^\(data\|stringData\)\$'/,
    );
  });

  it('refuses at render a SOPS file with several documents', async () => {
    const { recipient } = await ageKeyPair();
    const file = `${await encryptSops(secret, { recipients: [recipient] })}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n`;
    await expect(renderToBundle({ 'apps/web/secret.yaml': file })).rejects.toThrow(/several YAML documents/);
  });

  it('unwraps the data key through the KMS port with the recorded encryption context', async () => {
    // A stand-in KmsDecrypter (AES-GCM with the context as additional data): LocalStack 4.13.1 here
    // answers 500 to every symmetric CreateKey, so the real KMS adapter cannot be exercised locally.
    const master = randomBytes(32);
    const wrap = (key: Buffer, context: Record<string, string>) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', master, iv);
      cipher.setAAD(Buffer.from(JSON.stringify(context)));
      return Buffer.concat([iv, cipher.update(key), cipher.final(), cipher.getAuthTag()]);
    };
    const calls: string[] = [];
    const kms: KmsDecrypter = {
      decrypt: async ({ keyArn, ciphertext, context }) => {
        calls.push(keyArn);
        const blob = Buffer.from(ciphertext);
        const decipher = createDecipheriv('aes-256-gcm', master, blob.subarray(0, 12));
        decipher.setAAD(Buffer.from(JSON.stringify(context)));
        decipher.setAuthTag(blob.subarray(blob.length - 16));
        return Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
      },
    };
    const arn = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const dataKey = randomBytes(32);
    const file = (context: Record<string, string>) =>
      encryptSops(secret, {
        dataKey,
        kms: [{ arn, enc: wrap(dataKey, { team: 'payments' }).toString('base64'), context }],
      });
    const { entries } = await renderToBundle({ 'apps/web/secret.yaml': await file({ team: 'payments' }) });
    const [object] = await decryptSopsObjects(entries, { secrets: storeWith({}), kms });
    expect(object).toEqual(secret);
    expect(calls).toEqual([arn]);
    // AND a file that records another context fails naming the key, with no plaintext
    const forged = await renderToBundle({ 'apps/web/secret.yaml': await file({ team: 'other' }) });
    const error = await failureOf(decryptSopsObjects(forged.entries, { secrets: storeWith({}), kms }));
    expect(error.code).toBe('SOPS_DECRYPT_FAILED');
    expect(error.message).toContain(arn);
    expect(error.message).not.toContain(PASSWORD);
  });

  it.skipIf(!sopsBinary())(
    'reads a file written by the real sops CLI, and sops reads one written by our encoder',
    async () => {
      // The binary is built by scripts/sops/build.sh from the Go module proxy; without it this is skipped.
      const sops = sopsBinary()!;
      const { identity, recipient } = await ageKeyPair();
      const plain = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: web\ntype: Opaque\nstringData:\n  password: ${PASSWORD}\n  port: 5432\n  enabled: true\n  ratio: 0.5\n  list:\n    - one\n    - two\n  empty: ""\n`;
      const encrypted = await sopsEncrypt(sops, plain, recipient);
      expect(encrypted).not.toContain(PASSWORD);
      const { entries } = await renderToBundle({ 'apps/web/secret.yaml': encrypted });
      const [object] = await decryptSopsObjects(entries, {
        secrets: storeWith({ 'sluice/sops-age-key': identity }),
      });
      expect(object).toEqual(parse(plain));
      // AND the other way round: sops decrypts our encoder's output (MAC included)
      const ours = await encryptSops(secret, { recipients: [recipient] });
      expect(parse(await sopsDecrypt(sops, ours, identity))).toEqual(secret);
    },
  );
});
