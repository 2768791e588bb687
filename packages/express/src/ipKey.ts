import { isIPv6 } from 'node:net';

/**
 * The 16-bit groups of an IPv6 address (a zone such as `%eth0` dropped, a trailing dotted IPv4
 * read as two groups); undefined for anything that is not an IPv6 address.
 */
function ipv6Groups(ip: string): number[] | undefined {
  const zone = ip.indexOf('%');
  const address = zone >= 0 ? ip.slice(0, zone) : ip;
  if (!isIPv6(address)) return undefined;
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const gap = address.indexOf('::');
  if (gap < 0) return parse(address);
  const head = parse(address.slice(0, gap));
  const tail = parse(address.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** IPv6 prefixes whose addresses carry a client's IPv4 address, or mean nothing beyond one link. */
function embedsIPv4(g: readonly number[]): boolean {
  // IPv4-mapped ::ffff:0:0/96 and the first 64 bits zero (::1, IPv4-compatible), NAT64 64:ff9b::/96 and
  // 64:ff9b:1::/48 (RFC 6052, 8215): one bucket per /64 would put every IPv4 client of a translator in one.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0) return true;
  return g[0] === 0x64 && g[1] === 0xff9b && (g[2] === 0 || g[2] === 1);
}

/**
 * The key the default identity of `resilience()` gives a client address: an IPv6 address becomes
 * its /64 prefix (`2001:db8:1:2::/64`), since one subscriber or host usually holds a whole /64 and
 * could otherwise escape a per-IP limit by picking a new address in it for every request. An
 * IPv4-mapped address (`::ffff:203.0.113.7`, what Express reports for IPv4 clients of a dual-stack
 * server) becomes the IPv4 address it maps, so a client has one bucket whichever way it connects.
 * Addresses that embed a client's IPv4 address or hold nothing per /64 (`::1`, NAT64 `64:ff9b::/96`
 * and `64:ff9b:1::/48`, link-local `fe80::/10`, whose /64 is every host of the link) are keyed whole,
 * written one way (lower case, no zone, no `::`). IPv4 addresses and anything that is not an IP address
 * are returned as they are.
 *
 * Use it in your own `identity` to keep this keying beside other fields.
 *
 * @example
 * ```ts
 * ipKey('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 * ipKey('::ffff:203.0.113.7');   // '203.0.113.7'
 * ipKey('203.0.113.7');          // '203.0.113.7'
 * app.use(resilience({ engine, identity: (req) => ({ user: req.ip && ipKey(req.ip), team: req.get('x-team-id') }) }));
 * ```
 */
export function ipKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const g = ipv6Groups(ip);
  if (g === undefined || g.length !== 8) return ip;
  const hex = (part: readonly number[]) => part.map((x) => x.toString(16)).join(':');
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  }
  if (embedsIPv4(g) || (g[0]! & 0xffc0) === 0xfe80) return hex(g);
  return `${hex(g.slice(0, 4))}::/64`;
}
