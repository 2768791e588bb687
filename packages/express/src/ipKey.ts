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

/**
 * The key the default identity of `resilience()` gives a client address: an IPv6 address becomes
 * its /64 prefix (`2001:db8:1:2::/64`), since one subscriber or host usually holds a whole /64 and
 * could otherwise escape a per-IP limit by picking a new address in it for every request. IPv4
 * addresses, IPv4-mapped IPv6 ones (`::ffff:203.0.113.7`, what Express reports for IPv4 clients
 * of a dual-stack server) and addresses whose first 64 bits are zero (`::1`) are returned as
 * they are, as is anything that is not an IP address.
 *
 * Use it in your own `identity` to keep this keying beside other fields.
 *
 * @example
 * ```ts
 * ipKey('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 * ipKey('::ffff:203.0.113.7');   // '::ffff:203.0.113.7'
 * ipKey('203.0.113.7');          // '203.0.113.7'
 * app.use(resilience({ engine, identity: (req) => ({ user: req.ip && ipKey(req.ip), team: req.get('x-team-id') }) }));
 * ```
 */
export function ipKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const groups = ipv6Groups(ip);
  if (groups === undefined || groups.length !== 8) return ip;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0) return ip;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
