import type { KubeSchemas, SourceTree } from '../ports/index.ts';
import type { Violation } from '../schemas/events.ts';
import type { RenderedObject } from './render.ts';
import type { CrdKind } from './schema-validation.ts';

export interface AdmissionSet {
  readonly bindings: readonly unknown[];
}

export const EMPTY_ADMISSION: AdmissionSet = { bindings: [] };

export const loadAdmission = async (_tree: SourceTree, _paths: readonly string[]): Promise<AdmissionSet> =>
  EMPTY_ADMISSION;

export const checkAdmission = (
  _set: AdmissionSet,
  _objects: readonly RenderedObject[],
  _ctx: { schemas: KubeSchemas | undefined; crds: ReadonlyMap<string, CrdKind> },
): Violation[] => [];
