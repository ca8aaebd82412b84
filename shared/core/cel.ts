/**
 * CEL as the Kubernetes API server speaks it: @marcbachmann/cel-js plus the Kubernetes CEL
 * libraries that ValidatingAdmissionPolicies use (k8s.io/apiserver/pkg/cel/library): quantity,
 * url, regex, lists, format, ip/cidr, semver and the extended strings. Written from the
 * Kubernetes documentation of each function; see docs/policies.md for what is covered.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { Environment, Optional } from '@marcbachmann/cel-js';

type Int = bigint;

/** CEL sees JSON numbers that are whole as int (bigint), others as double, like the API server. */
export const toCel = (value: unknown): unknown => {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCel(v);
    return out;
  }
  return value;
};

const fail = (message: string): never => {
  throw new Error(message);
};

// ---------------------------------------------------------------------------------------------
// quantity: exact, in nano-units (the finest suffix, n), rounded up like resource.Quantity

const NANO = 1_000_000_000n;
const DECIMAL: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY: Readonly<Record<string, number>> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const QUANTITY = /^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

export class Quantity {
  readonly nano: bigint;
  constructor(nano: bigint) {
    this.nano = nano;
  }
}

const parseQuantity = (text: string): Quantity | undefined => {
  const m = QUANTITY.exec(text);
  if (!m) return undefined;
  const [, sign, number, suffix = ''] = m;
  const [whole = '', fraction = ''] = number!.split('.');
  let mantissa = BigInt(`${whole}${fraction}` || '0');
  let exponent = -fraction.length + 9;
  if (suffix in BINARY) mantissa *= 1024n ** BigInt(BINARY[suffix]!);
  else if (/^[eE]/.test(suffix)) exponent += Number(suffix.slice(1));
  else exponent += DECIMAL[suffix]!;
  let nano: bigint;
  if (exponent >= 0) nano = mantissa * 10n ** BigInt(exponent);
  else {
    const d = 10n ** BigInt(-exponent);
    nano = mantissa / d + (mantissa % d === 0n ? 0n : 1n);
  }
  return new Quantity(sign === '-' ? -nano : nano);
};

const quantity = (text: string): Quantity =>
  parseQuantity(text) ??
  fail(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);

const cmpBig = (a: bigint, b: bigint): Int => (a < b ? -1n : a > b ? 1n : 0n);
const MAX_INT64 = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------------------------
// ip and cidr

export class IP {
  readonly family: 4 | 6;
  readonly value: bigint;
  constructor(family: 4 | 6, value: bigint) {
    this.family = family;
    this.value = value;
  }
  get bits(): number {
    return this.family === 4 ? 32 : 128;
  }
}

export class CIDR {
  readonly ip: IP;
  readonly prefix: number;
  constructor(ip: IP, prefix: number) {
    this.ip = ip;
    this.prefix = prefix;
  }
}

const parseIPv6 = (text: string): bigint => {
  const [head = '', tail] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  let left = groups(head);
  let right = tail === undefined ? [] : groups(tail);
  const v4 = (list: string[]) => {
    const last = list.at(-1);
    if (!last?.includes('.')) return list;
    const n = Number(parseIPv4(last));
    return [...list.slice(0, -1), ((n >>> 16) & 0xffff).toString(16), (n & 0xffff).toString(16)];
  };
  if (tail === undefined) left = v4(left);
  else right = v4(right);
  const all = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
};

const parseIPv4 = (text: string): bigint =>
  text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);

const parseIP = (text: string): IP | undefined => {
  if (isIPv4(text)) {
    // Go's netip refuses leading zeros (ambiguous octal).
    if (text.split('.').some((o) => o.length > 1 && o.startsWith('0'))) return undefined;
    return new IP(4, parseIPv4(text));
  }
  if (isIPv6(text) && !text.includes('%')) {
    const value = parseIPv6(text);
    // Kubernetes refuses IPv4-mapped IPv6 addresses (::ffff:a.b.c.d).
    if (value >> 32n === 0xffffn) return undefined;
    return new IP(6, value);
  }
  return undefined;
};

const ip = (text: string): IP =>
  parseIP(text) ?? fail(`IP Address '${text}' parse error during conversion from string`);

const ipString = (addr: IP): string => {
  if (addr.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((addr.value >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((addr.value >> BigInt(112 - i * 16)) & 0xffffn));
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best[0]! < 0) return hex.join(':');
  return `${hex.slice(0, best[0]).join(':')}::${hex.slice(best[0]! + best[1]!).join(':')}`;
};

const inRange = (addr: IP, family: 4 | 6, prefixText: string, prefix: number): boolean =>
  addr.family === family && contains(new CIDR(ip(prefixText), prefix), addr);

const maskOf = (bits: number, prefix: number): bigint =>
  ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);

const contains = (net: CIDR, addr: IP): boolean =>
  net.ip.family === addr.family &&
  (addr.value & maskOf(net.ip.bits, net.prefix)) === (net.ip.value & maskOf(net.ip.bits, net.prefix));

const parseCIDR = (text: string): CIDR | undefined => {
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const addr = parseIP(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix > addr.bits ? undefined : new CIDR(addr, prefix);
};

const cidr = (text: string): CIDR =>
  parseCIDR(text) ?? fail(`network address '${text}' parse error during conversion from string`);

const isLinkLocalUnicast = (a: IP) => inRange(a, 4, '169.254.0.0', 16) || inRange(a, 6, 'fe80::', 10);
const isLinkLocalMulticast = (a: IP) => inRange(a, 4, '224.0.0.0', 24) || inRange(a, 6, 'ff02::', 16);
const isLoopback = (a: IP) => inRange(a, 4, '127.0.0.0', 8) || (a.family === 6 && a.value === 1n);
const isMulticast = (a: IP) => inRange(a, 4, '224.0.0.0', 4) || inRange(a, 6, 'ff00::', 8);
const isGlobalUnicast = (a: IP) =>
  a.value !== 0n &&
  !(a.family === 4 && a.value === 0xffffffffn) &&
  !isLoopback(a) &&
  !isMulticast(a) &&
  !isLinkLocalUnicast(a);

// ---------------------------------------------------------------------------------------------
// semver, url

export class Semver {
  readonly core: readonly [bigint, bigint, bigint];
  readonly pre: readonly string[];
  constructor(core: readonly [bigint, bigint, bigint], pre: readonly string[]) {
    this.core = core;
    this.pre = pre;
  }
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

const parseSemver = (text: string): Semver | undefined => {
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  return new Semver([BigInt(m[1]!), BigInt(m[2]!), BigInt(m[3]!)], m[4] ? m[4].split('.') : []);
};

const semver = (text: string): Semver => parseSemver(text) ?? fail(`Could not parse semver '${text}'`);

const compareSemver = (a: Semver, b: Semver): Int => {
  for (let i = 0; i < 3; i += 1) {
    const c = cmpBig(a.core[i]!, b.core[i]!);
    if (c !== 0n) return c;
  }
  if (a.pre.length === 0 || b.pre.length === 0)
    return a.pre.length === b.pre.length ? 0n : a.pre.length === 0 ? 1n : -1n;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i += 1) {
    const x = a.pre[i]!;
    const y = b.pre[i]!;
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return cmpBig(BigInt(x), BigInt(y));
    if (nx !== ny) return nx ? -1n : 1n;
    return x < y ? -1n : 1n;
  }
  return cmpBig(BigInt(a.pre.length), BigInt(b.pre.length));
};

export class URL {
  readonly scheme: string;
  readonly host: string;
  readonly path: string;
  readonly query: string;
  constructor(scheme: string, host: string, path: string, query: string) {
    this.scheme = scheme;
    this.host = host;
    this.path = path;
    this.query = query;
  }
}

/** Go's url.ParseRequestURI: an absolute URL, or an absolute path. */
const parseURL = (text: string): URL | undefined => {
  if (/\s/.test(text)) return undefined;
  const m = /^(?:([a-zA-Z][a-zA-Z0-9+.-]*):(?:\/\/([^/?#]*))?)?([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(text);
  if (!m) return undefined;
  const [, scheme = '', authority, path = '', query = ''] = m;
  if (!scheme && !path.startsWith('/')) return undefined;
  const host = authority === undefined ? '' : authority.slice(authority.lastIndexOf('@') + 1);
  return new URL(scheme, host, path, query);
};

const url = (text: string): URL =>
  parseURL(text) ?? fail(`URL parse error during conversion from string: ${text}`);

const hostParts = (u: URL): { hostname: string; port: string } => {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(u.host);
  const hostname = m?.[1] ?? u.host;
  return { hostname: hostname.replace(/^\[(.*)\]$/, '$1'), port: m?.[2] ?? '' };
};

const queryMap = (u: URL): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const pair of u.query.split('&')) {
    if (pair === '') continue;
    const [k = '', v = ''] = pair.split(/=(.*)/s);
    const key = decodeURIComponent(k.replaceAll('+', ' '));
    out[key] = [...(out[key] ?? []), decodeURIComponent(v.replaceAll('+', ' '))];
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// format

export class Format {
  readonly name: string;
  readonly check: (value: string) => string[];
  constructor(name: string, check: (value: string) => string[]) {
    this.name = name;
    this.check = check;
  }
}

class FormatNamespace {}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const maxLen = (value: string, n: number): string[] =>
  value.length > n ? [`must be no more than ${n} characters`] : [];

const FORMATS: Readonly<Record<string, (v: string) => string[]>> = {
  dns1123Label: (v) => [
    ...maxLen(v, 63),
    ...(DNS1123_LABEL.test(v)
      ? []
      : [
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        ]),
  ],
  dns1123Subdomain: (v) => [
    ...maxLen(v, 253),
    ...(DNS1123_SUBDOMAIN.test(v)
      ? []
      : [
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ]),
  ],
  dns1035Label: (v) => [
    ...maxLen(v, 63),
    ...(DNS1035_LABEL.test(v)
      ? []
      : [
          "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        ]),
  ],
  qualifiedName: (v) => {
    const [prefix, name] = v.includes('/')
      ? [v.slice(0, v.indexOf('/')), v.slice(v.indexOf('/') + 1)]
      : [undefined, v];
    const out: string[] = [];
    if (prefix !== undefined) out.push(...FORMATS.dns1123Subdomain!(prefix).map((m) => `prefix part ${m}`));
    if (name.length === 0) out.push('name part must be non-empty');
    else if (name.length > 63) out.push('name part must be no more than 63 characters');
    if (name.length > 0 && !QUALIFIED_NAME.test(name)) {
      out.push(
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
      );
    }
    return out;
  },
  labelValue: (v) => [
    ...maxLen(v, 63),
    ...(LABEL_VALUE.test(v)
      ? []
      : [
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        ]),
  ],
  uuid: (v) =>
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v)
      ? []
      : ['does not match the UUID format'],
  byte: (v) => (/^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0 ? [] : ['invalid base64']),
  date: (v) => (/^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v)) ? [] : ['invalid date']),
  datetime: (v) =>
    /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(v) &&
    !Number.isNaN(Date.parse(v))
      ? []
      : ['invalid datetime'],
  uri: (v) => (parseURL(v) ? [] : ['invalid URI']),
};

// ---------------------------------------------------------------------------------------------
// the environment

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : fail('expected a list'));

const compareScalars = (a: unknown, b: unknown): number => {
  if (a instanceof Quantity && b instanceof Quantity) return Number(cmpBig(a.nano, b.nano));
  if (a instanceof Semver && b instanceof Semver) return Number(compareSemver(a, b));
  if ((typeof a === 'bigint' || typeof a === 'number') && (typeof b === 'bigint' || typeof b === 'number')) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return fail('no such overload: comparison of these types');
};

const deepEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (typeof a === 'bigint' || typeof b === 'bigint')
    return (
      (typeof a === 'bigint' || typeof a === 'number') &&
      (typeof b === 'bigint' || typeof b === 'number') &&
      Number(a) === Number(b)
    );
  return (
    JSON.stringify(a, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)) ===
    JSON.stringify(b, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))
  );
};

const extremum = (list: unknown[], sign: number): unknown => {
  if (list.length === 0) fail('min/max of an empty list');
  return list.reduce((best, x) => (compareScalars(x, best) * sign > 0 ? x : best));
};

const findAll = (s: string, re: string, limit: bigint): string[] => {
  const out: string[] = [];
  if (limit === 0n) return out;
  for (const m of s.matchAll(new RegExp(re, 'gu'))) {
    out.push(m[0]);
    if (limit > 0n && BigInt(out.length) >= limit) break;
  }
  return out;
};

/** A CEL environment with every Kubernetes library registered; variables are dynamic. */
export const createCelEnvironment = (): Environment => {
  const env = new Environment({
    unlistedVariablesAreDyn: true,
    enableOptionalTypes: true,
    homogeneousAggregateLiterals: false,
  });
  env
    .registerType('kubernetes.Quantity', Quantity)
    .registerType('net.IP', IP)
    .registerType('net.CIDR', CIDR)
    .registerType('kubernetes.Semver', Semver)
    .registerType('kubernetes.URL', URL)
    .registerType('kubernetes.NamedFormat', Format)
    .registerType('FormatNamespace', FormatNamespace)
    .registerConstant('format', 'FormatNamespace', new FormatNamespace());

  // quantity
  const Q = 'kubernetes.Quantity';
  const qOrInt = (v: unknown): bigint => (v instanceof Quantity ? v.nano : BigInt(v as bigint) * NANO);
  env
    .registerFunction(`quantity(string): ${Q}`, quantity)
    .registerFunction('isQuantity(string): bool', (s: string) => parseQuantity(s) !== undefined)
    .registerFunction(`${Q}.sign(): int`, (q: Quantity) => cmpBig(q.nano, 0n))
    .registerFunction(
      `${Q}.isInteger(): bool`,
      (q: Quantity) => q.nano % NANO === 0n && q.nano / NANO <= MAX_INT64,
    )
    .registerFunction(`${Q}.asInteger(): int`, (q: Quantity) =>
      q.nano % NANO === 0n && q.nano / NANO <= MAX_INT64
        ? q.nano / NANO
        : fail('cannot convert value to integer'),
    )
    .registerFunction(`${Q}.asApproximateFloat(): double`, (q: Quantity) => Number(q.nano) / 1e9)
    .registerFunction(`${Q}.add(${Q}): ${Q}`, (a: Quantity, b: Quantity) => new Quantity(a.nano + qOrInt(b)))
    .registerFunction(`${Q}.add(int): ${Q}`, (a: Quantity, b: bigint) => new Quantity(a.nano + qOrInt(b)))
    .registerFunction(`${Q}.sub(${Q}): ${Q}`, (a: Quantity, b: Quantity) => new Quantity(a.nano - qOrInt(b)))
    .registerFunction(`${Q}.sub(int): ${Q}`, (a: Quantity, b: bigint) => new Quantity(a.nano - qOrInt(b)))
    .registerFunction(`${Q}.isGreaterThan(${Q}): bool`, (a: Quantity, b: Quantity) => a.nano > b.nano)
    .registerFunction(`${Q}.isLessThan(${Q}): bool`, (a: Quantity, b: Quantity) => a.nano < b.nano)
    .registerFunction(`${Q}.compareTo(${Q}): int`, (a: Quantity, b: Quantity) => cmpBig(a.nano, b.nano));

  // ip and cidr
  env
    .registerFunction('ip(string): net.IP', ip)
    .registerFunction('isIP(string): bool', (s: string) => parseIP(s) !== undefined)
    .registerFunction('string(net.IP): string', ipString)
    .registerFunction('net.IP.family(): int', (a: IP) => BigInt(a.family))
    .registerFunction('net.IP.isUnspecified(): bool', (a: IP) => a.value === 0n)
    .registerFunction('net.IP.isLoopback(): bool', isLoopback)
    .registerFunction('net.IP.isLinkLocalMulticast(): bool', isLinkLocalMulticast)
    .registerFunction('net.IP.isLinkLocalUnicast(): bool', isLinkLocalUnicast)
    .registerFunction('net.IP.isGlobalUnicast(): bool', isGlobalUnicast)
    .registerFunction('cidr(string): net.CIDR', cidr)
    .registerFunction('isCIDR(string): bool', (s: string) => parseCIDR(s) !== undefined)
    .registerFunction('string(net.CIDR): string', (c: CIDR) => `${ipString(c.ip)}/${c.prefix}`)
    .registerFunction('net.CIDR.containsIP(net.IP): bool', contains)
    .registerFunction('net.CIDR.containsIP(string): bool', (c: CIDR, s: string) => contains(c, ip(s)))
    .registerFunction(
      'net.CIDR.containsCIDR(net.CIDR): bool',
      (c: CIDR, o: CIDR) => o.prefix >= c.prefix && contains(c, o.ip),
    )
    .registerFunction('net.CIDR.containsCIDR(string): bool', (c: CIDR, s: string) => {
      const o = cidr(s);
      return o.prefix >= c.prefix && contains(c, o.ip);
    })
    .registerFunction('net.CIDR.ip(): net.IP', (c: CIDR) => c.ip)
    .registerFunction('net.CIDR.prefixLength(): int', (c: CIDR) => BigInt(c.prefix))
    .registerFunction(
      'net.CIDR.masked(): net.CIDR',
      (c: CIDR) => new CIDR(new IP(c.ip.family, c.ip.value & maskOf(c.ip.bits, c.prefix)), c.prefix),
    );

  // semver
  const S = 'kubernetes.Semver';
  env
    .registerFunction(`semver(string): ${S}`, semver)
    .registerFunction('isSemver(string): bool', (s: string) => parseSemver(s) !== undefined)
    .registerFunction(`${S}.major(): int`, (v: Semver) => v.core[0])
    .registerFunction(`${S}.minor(): int`, (v: Semver) => v.core[1])
    .registerFunction(`${S}.patch(): int`, (v: Semver) => v.core[2])
    .registerFunction(`${S}.isGreaterThan(${S}): bool`, (a: Semver, b: Semver) => compareSemver(a, b) > 0n)
    .registerFunction(`${S}.isLessThan(${S}): bool`, (a: Semver, b: Semver) => compareSemver(a, b) < 0n)
    .registerFunction(`${S}.compareTo(${S}): int`, compareSemver);

  // url
  const U = 'kubernetes.URL';
  env
    .registerFunction(`url(string): ${U}`, url)
    .registerFunction('isURL(string): bool', (s: string) => parseURL(s) !== undefined)
    .registerFunction(`${U}.getScheme(): string`, (u: URL) => u.scheme)
    .registerFunction(`${U}.getHost(): string`, (u: URL) => u.host)
    .registerFunction(`${U}.getHostname(): string`, (u: URL) => hostParts(u).hostname)
    .registerFunction(`${U}.getPort(): string`, (u: URL) => hostParts(u).port)
    .registerFunction(`${U}.getEscapedPath(): string`, (u: URL) => u.path)
    .registerFunction(`${U}.getQuery(): map`, queryMap);

  // regex
  env
    .registerFunction(
      'string.find(string): string',
      (s: string, re: string) => new RegExp(re, 'u').exec(s)?.[0] ?? '',
    )
    .registerFunction('string.findAll(string): list<string>', (s: string, re: string) => findAll(s, re, -1n))
    .registerFunction('string.findAll(string, int): list<string>', findAll);

  // lists (k8s) and a few of cel-go's ext lists
  env
    .registerFunction('list.isSorted(): bool', (l: unknown[]) =>
      asList(l).every((x, i, all) => i === 0 || compareScalars(all[i - 1], x) <= 0),
    )
    .registerFunction('list.sum(): dyn', (l: unknown[]) =>
      asList(l).length === 0
        ? 0n
        : asList(l).reduce((a: unknown, b: unknown) =>
            typeof a === 'bigint' && typeof b === 'bigint' ? a + b : Number(a) + Number(b),
          ),
    )
    .registerFunction('list.min(): dyn', (l: unknown[]) => extremum(asList(l), -1))
    .registerFunction('list.max(): dyn', (l: unknown[]) => extremum(asList(l), 1))
    .registerFunction('list.indexOf(dyn): int', (l: unknown[], x: unknown) =>
      BigInt(asList(l).findIndex((y) => deepEqual(x, y))),
    )
    .registerFunction('list.lastIndexOf(dyn): int', (l: unknown[], x: unknown) =>
      BigInt(asList(l).findLastIndex((y) => deepEqual(x, y))),
    )
    .registerFunction('list.slice(int, int): list', (l: unknown[], a: bigint, b: bigint) =>
      a < 0n || b < a || b > BigInt(l.length)
        ? fail(`cannot slice(${a}, ${b}) a list of ${l.length}`)
        : l.slice(Number(a), Number(b)),
    )
    .registerFunction('list.flatten(): list', (l: unknown[]) =>
      l.flatMap((x) => (Array.isArray(x) ? x : [x])),
    )
    .registerFunction('list.distinct(): list', (l: unknown[]) =>
      l.filter((x, i) => l.findIndex((y) => deepEqual(x, y)) === i),
    )
    .registerFunction('list.reverse(): list', (l: unknown[]) => [...l].reverse());

  // strings (cel-go ext strings beyond cel-js's built-ins)
  env
    .registerFunction('string.charAt(int): string', (s: string, i: bigint) =>
      i < 0n || i > BigInt([...s].length) ? fail(`index out of range: ${i}`) : ([...s][Number(i)] ?? ''),
    )
    .registerFunction('string.replace(string, string): string', (s: string, a: string, b: string) =>
      s.replaceAll(a, b),
    )
    .registerFunction(
      'string.replace(string, string, int): string',
      (s: string, a: string, b: string, n: bigint) => {
        let out = s;
        let from = 0;
        for (let i = 0n; n < 0n || i < n; i += 1n) {
          const at = out.indexOf(a, from);
          if (at === -1) break;
          out = `${out.slice(0, at)}${b}${out.slice(at + a.length)}`;
          from = at + b.length;
        }
        return out;
      },
    )
    .registerFunction('string.reverse(): string', (s: string) => [...s].reverse().join(''));

  // format
  const F = 'kubernetes.NamedFormat';
  for (const [name, check] of Object.entries(FORMATS)) {
    env.registerFunction(`FormatNamespace.${name}(): ${F}`, () => new Format(name, check));
  }
  env
    .registerFunction(`FormatNamespace.named(string): optional<${F}>`, (_: unknown, name: string) => {
      const check = FORMATS[name];
      return check ? Optional.of(new Format(name, check)) : Optional.none();
    })
    .registerFunction(`${F}.validate(string): optional<list<string>>`, (f: Format, value: string) => {
      const errors = f.check(value);
      return errors.length > 0 ? Optional.of(errors) : Optional.none();
    })
    // `format.dns1123Label().validate(x) == optional.none()`, the form the Kubernetes docs use.
    .registerOperator(
      'optional<dyn> == optional<dyn>',
      (a: Optional, b: Optional) =>
        a.hasValue() === b.hasValue() && (!a.hasValue() || deepEqual(a.value(), b.value())),
    );
  return env;
};
