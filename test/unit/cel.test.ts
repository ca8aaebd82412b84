import { describe, expect, it } from 'vitest';
import { createCelEnvironment } from '../../shared/core/cel.ts';

const env = createCelEnvironment();
const run = (expression: string) => env.evaluate(expression, {});

describe('Kubernetes CEL libraries', () => {
  it.each([
    // quantity
    ['quantity("1.5Gi").compareTo(quantity("1536Mi")) == 0', true],
    ['quantity("500m").add(quantity("1")).asApproximateFloat() == 1.5', true],
    ['quantity("2").asInteger() == 2 && quantity("1k").isGreaterThan(quantity("999"))', true],
    ['quantity("100m").isInteger() || !isQuantity("1x")', true],
    ['quantity("-1").sign() == -1 && quantity("1").sub(1).sign() == 0', true],
    // ip and cidr
    ['cidr("10.0.0.0/8").containsIP("10.1.2.3") && !cidr("10.0.0.0/8").containsIP(ip("11.0.0.1"))', true],
    ['cidr("10.0.0.0/8").containsCIDR("10.1.0.0/16") && cidr("10.1.2.3/8").prefixLength() == 8', true],
    ['string(cidr("192.168.1.5/24").masked()) == "192.168.1.0/24"', true],
    [
      'ip("fe80::1").isLinkLocalUnicast() && ip("127.0.0.1").isLoopback() && ip("8.8.8.8").isGlobalUnicast()',
      true,
    ],
    ['ip("2001:db8::1").family() == 6 && string(ip("2001:0db8:0:0:0:0:0:1")) == "2001:db8::1"', true],
    ['isIP("1.2.3.4") && !isIP("01.2.3.4") && !isIP("::ffff:1.2.3.4") && !isCIDR("10.0.0.0/33")', true],
    // semver
    ['semver("1.2.3-rc.1").isLessThan(semver("1.2.3")) && semver("1.10.0").major() == 1', true],
    ['semver("1.2.3").compareTo(semver("1.2.3+build")) == 0 && !isSemver("v1.2")', true],
    // url
    ['url("https://example.com:8443/a?x=1&x=2").getQuery()["x"] == ["1", "2"]', true],
    ['url("https://[::1]:80/p").getHostname() == "::1" && url("https://a.b:80/p").getPort() == "80"', true],
    ['url("/api/v1").getEscapedPath() == "/api/v1" && !isURL("not a url")', true],
    // regex
    ['"abc123def".find("[0-9]+") == "123" && "a1b22c333".findAll("[0-9]+", 2) == ["1", "22"]', true],
    // lists
    ['[1, 2, 3].isSorted() && [3, 1].max() == 3 && [3, 1].min() == 1 && [1, 2].sum() == 3', true],
    ['[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2 && [1, 2, 3].slice(1, 3) == [2, 3]', true],
    // strings
    ['"hello".charAt(1) == "e" && "a-b-c".replace("-", "_", 1) == "a_b-c" && "abc".reverse() == "cba"', true],
    // format
    [
      'format.dns1123Label().validate("Not_OK").hasValue() && !format.dns1123Label().validate("ok-1").hasValue()',
      true,
    ],
    [
      '!format.named("labelValue").value().validate("ok").hasValue() && !format.named("nope").hasValue()',
      true,
    ],
    [
      'format.dns1123Label().validate("ok") == optional.none() && format.dns1123Label().validate("A") != optional.none()',
      true,
    ],
  ])('%s', (expression, expected) => {
    // GIVEN an expression using a Kubernetes CEL library WHEN evaluated THEN it gives the documented answer
    expect(run(expression)).toBe(expected);
  });

  it('fails with the library error for a value that does not parse', () => {
    // GIVEN malformed inputs WHEN converted THEN evaluation errors, as in the API server
    expect(() => run('quantity("1x")')).toThrow(/quantities must match/);
    expect(() => run('ip("300.1.1.1")')).toThrow(/parse error/);
    expect(() => run('semver("1.2")')).toThrow(/Could not parse semver/);
  });
});
