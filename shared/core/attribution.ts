/**
 * Attribution of applied objects (issue 19, docs/provenance.md#what-each-applied-object-says):
 * every object the agent applies carries, as annotations, the commit and bundle digest of the
 * release that brought its content, and who signed that commit when the plan verified it.
 *
 * Decided: the annotations follow the bundle, not every commit. A release whose bundle is the one
 * already applied (a revert, a commit that renders the same manifests) keeps the attribution the
 * bundle was applied with, so the objects stay byte for byte what the cluster holds and server-side
 * apply writes nothing; a new bundle stamps all of the app's objects (a metadata-only write, no
 * pod restarts). The inventory records the attribution, so the drift check compares against the
 * same annotations and never reports them as drift. They are written by server-side apply like the
 * rest of the manifest, so field manager `sluice` owns them: a removed or edited one is drift.
 */
import type { Attribution, Inventory, KubeObject } from '../ports/index.ts';
import type { ApplyRequested } from '../schemas/events.ts';

export const COMMIT_ANNOTATION = 'sluice.dev/commit';
export const BUNDLE_DIGEST_ANNOTATION = 'sluice.dev/bundle-digest';
/** The trust policy's name of the commit's signer; absent when no policy verified the commit. */
export const SIGNED_BY_ANNOTATION = 'sluice.dev/signed-by';
/** The signer's key (`SHA256:…` for SSH, the OpenPGP fingerprint), next to the name. */
export const SIGNING_KEY_ANNOTATION = 'sluice.dev/signing-key';

export const ATTRIBUTION_ANNOTATIONS: readonly string[] = [
  COMMIT_ANNOTATION,
  BUNDLE_DIGEST_ANNOTATION,
  SIGNED_BY_ANNOTATION,
  SIGNING_KEY_ANNOTATION,
];

/**
 * The attribution one delivery writes: the request's, unless the same bundle is applied already,
 * in which case the one it was applied with (so nothing changes in the cluster).
 */
export const attributionFor = (
  request: Pick<ApplyRequested, 'commit' | 'bundle' | 'commitSignature'>,
  inventory: Pick<Inventory, 'digest' | 'attribution'> | undefined,
): Attribution =>
  inventory?.attribution && inventory.digest === request.bundle.digest
    ? inventory.attribution
    : {
        commit: request.commit,
        digest: request.bundle.digest,
        ...(request.commitSignature ? { commitSignature: request.commitSignature } : {}),
      };

/**
 * The objects with the attribution annotations set. The keys are Sluice's: a manifest that sets
 * one (e.g. claims a signer) is overwritten, and a signer annotation no verification backs is dropped.
 */
export const attribute = (objects: readonly KubeObject[], attribution: Attribution): KubeObject[] =>
  objects.map((object) => {
    const annotations = { ...object.metadata.annotations };
    for (const key of ATTRIBUTION_ANNOTATIONS) delete annotations[key];
    annotations[COMMIT_ANNOTATION] = attribution.commit;
    annotations[BUNDLE_DIGEST_ANNOTATION] = attribution.digest;
    if (attribution.commitSignature) {
      annotations[SIGNED_BY_ANNOTATION] = attribution.commitSignature.signer;
      annotations[SIGNING_KEY_ANNOTATION] = attribution.commitSignature.fingerprint;
    }
    return { ...object, metadata: { ...object.metadata, annotations } };
  });

/**
 * The object without its attribution annotations: what an adapter compares to tell a content
 * change ("applied") from a re-stamp of an unchanged object ("unchanged").
 */
export const withoutAttribution = <T extends KubeObject>(object: T): T => {
  const annotations = { ...object.metadata.annotations };
  for (const key of ATTRIBUTION_ANNOTATIONS) delete annotations[key];
  const { annotations: _dropped, ...metadata } = object.metadata;
  return {
    ...object,
    metadata: Object.keys(annotations).length > 0 ? { ...metadata, annotations } : metadata,
  };
};
