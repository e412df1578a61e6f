import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A parsed CIDR: network address and prefix length. */
export type Cidr = [Address, number];

// Only global unicast IPv6 (2000::/3) is routable on the internet; anything else that ipaddr.js
// still calls "unicast" (e.g. the deprecated IPv4-compatible ::a.b.c.d) has no business here.
const GLOBAL_UNICAST_V6: Cidr = [ipaddr.IPv6.parse('2000::'), 3];
// RFC 8215 local-use NAT64 prefix: its embedding length is site-specific, so the IPv4 inside
// cannot be recovered reliably. It is never a public address, so it is refused outright.
const LOCAL_USE_NAT64: Cidr = [ipaddr.IPv6.parse('64:ff9b:1::'), 48];

/**
 * Parses CIDRs (a bare address means a single host). IPv4-mapped IPv6 CIDRs become IPv4 ones,
 * because addresses are unmapped before matching. Throws naming the bad entry.
 */
export function parseCidrs(cidrs: readonly string[]): Cidr[] {
  return cidrs.map((text) => {
    let cidr: Cidr;
    try {
      cidr = text.includes('/') ? ipaddr.parseCIDR(text) : single(ipaddr.parse(text));
    } catch (error) {
      throw new Error(`Invalid CIDR "${text}"`, { cause: error });
    }
    const [network, bits] = cidr;
    if (network.kind() === 'ipv6' && (network as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      return [(network as ipaddr.IPv6).toIPv4Address(), bits - 96];
    }
    return cidr;
  });
}

function single(address: Address): Cidr {
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

function inCidr(address: Address, [network, bits]: Cidr): boolean {
  // ipaddr.js throws when the families differ.
  return address.kind() === network.kind() && address.match(network, bits);
}

function v4(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The IPv4 addresses a translation/tunnel IPv6 address leads to, or undefined when it embeds none. */
function embeddedIPv4(address: ipaddr.IPv6, range: string): ipaddr.IPv4[] | undefined {
  const p = address.parts;
  switch (range) {
    case 'rfc6052': // NAT64 64:ff9b::/96, IPv4 in the last 32 bits
    case 'rfc6145': // SIIT ::ffff:0:a.b.c.d
      return [v4(p[6], p[7])];
    case '6to4': // 2002:AABB:CCDD::/48
      return [v4(p[1], p[2])];
    case 'teredo': // 2001:0:SERVER:flags:port:CLIENT, client address XOR-obfuscated
      return [v4(p[2], p[3]), v4(p[6] ^ 0xffff, p[7] ^ 0xffff)];
    default:
      return undefined;
  }
}

/**
 * Why `address` must not be connected to, or undefined when it may be. Anything that is not
 * plain public unicast is refused unless it lies inside one of `allowed`.
 */
export function forbiddenReason(address: string, allowed: readonly Cidr[]): string | undefined {
  let ip: Address = ipaddr.parse(address);
  // The kernel treats ::ffff:a.b.c.d as the IPv4 address itself, so judge it as one.
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  if (allowed.some((cidr) => inCidr(ip, cidr))) return undefined;

  const range: string = ip.range();
  if (ip.kind() === 'ipv4') return range === 'unicast' ? undefined : range;

  const v6 = ip as ipaddr.IPv6;
  if (inCidr(v6, LOCAL_USE_NAT64)) return 'local-use NAT64';
  const embedded = embeddedIPv4(v6, range);
  if (embedded) {
    for (const inner of embedded) {
      const reason = forbiddenReason(inner.toString(), allowed);
      if (reason) return `${range} embedding ${inner.toString()} (${reason})`;
    }
    return undefined;
  }
  if (range !== 'unicast') return range;
  return inCidr(v6, GLOBAL_UNICAST_V6) ? undefined : 'not global unicast';
}
