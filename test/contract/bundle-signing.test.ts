import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { describeBundleSigningContract } from './bundle-signing.contract.ts';

/** sluice dev's Ed25519 key (the workdir key is the same class, read from a file). */
describeBundleSigningContract('Ed25519Signer/Ed25519Verifier (local key)', async () => {
  const { signer, verifier } = ephemeralSigningKey();
  return { signer, verifier, stranger: ephemeralSigningKey().signer };
});
