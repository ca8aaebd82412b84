/**
 * YAML as Kubernetes reads it. kubectl and the API server turn YAML into JSON with
 * sigs.k8s.io/yaml, which decodes with go-yaml v2: a YAML 1.1 reading of unquoted scalars, not
 * the YAML 1.2 core schema the `yaml` package uses by default. Measured with the layer's kubectl
 * 1.34 (`kubectl annotate --local -o json -f FILE`, test/conformance/yaml-scalars):
 *
 *   0644 → 420   0o644 → 420   -0644 → -420   0x1F → 31   0b1010 → 10   1_000 → 1000   +12 → 12
 *   08 → 8 (not octal: read as a float)   1e3 → 1000   .5 → 0.5   1. → 1   -0 → 0   1.10 → 1.1
 *   y Y yes Yes YES on On ON true True TRUE → true;  n N no No NO off Off OFF false … → false
 *   ~ null Null NULL (empty) → null;  2001-12-14, 190:20:30, = → the string as written
 *   .inf .nan → refused (JSON cannot carry them);  keys read the same way, then become strings
 *   (`yes:` is the key "true", `0644:` the key "420").
 *
 * So the plain (unquoted, untagged) scalars of a parsed document are re-resolved here with
 * go-yaml v2's rules (resolve.go); quoted and block scalars stay strings. `writeKubeYaml` is the
 * other direction: it quotes every string that a YAML 1.1 or 1.2 reader would take for
 * something else, so what Sluice writes reads back the same everywhere.
 */
import { Document, isScalar, Scalar, Schema, visit } from 'yaml';

/** A plain scalar Kubernetes cannot carry as it is written: the caller names the file. */
export class KubeYamlScalarError extends Error {
  readonly fix: string;
  /** Offset of the scalar in the source text, when known. */
  offset: number | undefined;
  constructor(message: string, fix: string, offset?: number) {
    super(message);
    this.fix = fix;
    this.offset = offset;
  }
}

const at = <T>(node: { range?: readonly number[] | null }, read: () => T): T => {
  try {
    return read();
  } catch (error) {
    if (error instanceof KubeYamlScalarError) error.offset ??= node.range?.[0];
    throw error;
  }
};

const BOOL_AND_NULL: ReadonlyMap<string, boolean | null> = new Map([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'].map((s) => [s, true] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'].map(
    (s) => [s, false] as const,
  ),
  ...['~', 'null', 'Null', 'NULL', ''].map((s) => [s, null] as const),
]);
const NON_FINITE = /^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/;
/** Go's strconv.ParseInt(s, 0, 64) syntax: sign, then 0x / 0o / 0b / leading-0 octal / decimal. */
const GO_INT = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/;
/** go-yaml v2's yamlStyleFloat. */
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

const noNegativeZero = (n: number): number => (Object.is(n, -0) ? 0 : n);

const goInt = (plain: string): bigint | undefined => {
  const m = GO_INT.exec(plain);
  if (!m) return undefined;
  const body = m[2]!;
  const magnitude = /^0[0-7]+$/.test(body) ? BigInt(`0o${body.slice(1)}`) : BigInt(body);
  return m[1] === '-' ? -magnitude : magnitude;
};

/**
 * What go-yaml v2 makes of an unquoted, untagged scalar (resolve.go), as the JSON kubectl sends.
 * Throws KubeYamlScalarError for what kubectl refuses (.inf, .nan) and for integers that JSON
 * carries exactly but a JavaScript number cannot.
 */
export const resolveKubeScalar = (text: string): string | number | boolean | null => {
  const fixed = BOOL_AND_NULL.get(text);
  if (fixed !== undefined) return fixed;
  if (NON_FINITE.test(text)) {
    throw new KubeYamlScalarError(
      `the unquoted value ${text} is a non-finite number, which kubectl refuses ("json: unsupported value")`,
      `quote it ("${text}") if a string is meant`,
    );
  }
  const first = text[0]!;
  if (first === '.') {
    const n = Number(text);
    return YAML_FLOAT.test(text) && Number.isFinite(n) ? n : text;
  }
  if (!/[-+0-9]/.test(first)) return text;
  const plain = text.replaceAll('_', '');
  const int = goInt(plain);
  if (int !== undefined && int >= INT64_MIN && int <= UINT64_MAX) {
    if (
      int <= INT64_MAX &&
      (int > BigInt(Number.MAX_SAFE_INTEGER) || int < BigInt(Number.MIN_SAFE_INTEGER))
    ) {
      throw new KubeYamlScalarError(
        `the integer ${text} is exact for the API server but beyond what Sluice can carry without rounding (2^53)`,
        `quote it ("${text}") if a string is meant, or keep integers within ±9007199254740991`,
      );
    }
    return noNegativeZero(Number(int)); // above int64: go-yaml reads a uint64, kubectl sends a float
  }
  if (YAML_FLOAT.test(plain)) {
    const n = Number(plain);
    if (Number.isFinite(n)) return noNegativeZero(n); // go's ParseFloat fails on overflow: a string
  }
  return text;
};

/** sigs.k8s.io/yaml turns non-string keys into strings: true → "true", 420 → "420". */
const keyString = (value: string | number | boolean | null, text: string): string => {
  if (value === null) {
    throw new KubeYamlScalarError(
      `the mapping key ${JSON.stringify(text)} reads as null, which kubectl refuses as a key`,
      `quote the key ("${text}")`,
    );
  }
  return String(value);
};

/**
 * Re-resolves every plain, untagged scalar of a parsed document in place, the way kubectl reads
 * it. Keys become strings; two keys of one mapping that read the same (`yes:` and `true:`) are
 * refused: kubectl would silently keep the last.
 */
export const resolveKubeDocument = (doc: Document.Parsed): void => {
  visit(doc, {
    Scalar(key, node) {
      if (node.type !== Scalar.PLAIN || node.tag !== undefined || typeof node.value === 'symbol') return;
      const source = (node as Scalar & { source?: string }).source ?? '';
      node.value = at(node, () => {
        const value = resolveKubeScalar(source);
        return key === 'key' ? keyString(value, source) : value;
      });
    },
  });
  // A second pass: the first resolves keys only after visiting their mapping.
  visit(doc, {
    Map(_, node) {
      const seen = new Map<string, string>();
      for (const pair of node.items) {
        if (!isScalar(pair.key) || typeof pair.key.value === 'symbol') continue;
        const k = String(pair.key.value);
        const source = (pair.key as Scalar & { source?: string }).source ?? k;
        const before = seen.get(k);
        if (before !== undefined) {
          throw new KubeYamlScalarError(
            `the keys ${JSON.stringify(before)} and ${JSON.stringify(source)} of one mapping both read as "${k}" (YAML 1.1, as kubectl reads it)`,
            'keep one of them, or quote the key that is meant as text',
            pair.key.range?.[0],
          );
        }
        seen.set(k, source);
      }
    },
  });
};

// ---------------------------------------------------------------------------------------------
// writing

const READERS = [new Schema({ schema: 'yaml-1.1' }), new Schema({ schema: 'core' })];
const SPECIAL = new Set(['=', '<<', '']);

/** True when some YAML 1.1 or 1.2 reader would take the unquoted text for something other than this string. */
export const isAmbiguousString = (text: string): boolean => {
  if (SPECIAL.has(text)) return true;
  try {
    if (typeof resolveKubeScalar(text) !== 'string') return true;
  } catch {
    return true;
  }
  return READERS.some((schema) =>
    schema.tags.some(
      (tag) =>
        'test' in tag && tag.test instanceof RegExp && !tag.tag.endsWith(':str') && tag.test.test(text),
    ),
  );
};

/**
 * YAML text of a value that YAML 1.1 readers (kubectl, PyYAML) and YAML 1.2 readers read back as
 * the same value: every ambiguous string, key or value, is double-quoted.
 */
export const writeKubeYaml = (value: unknown, options: { sortMapEntries?: boolean } = {}): string => {
  const doc = new Document(value, {
    aliasDuplicateObjects: false,
    sortMapEntries: options.sortMapEntries ?? false,
  });
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === 'string' && isAmbiguousString(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({ lineWidth: 0 });
};
