import { ipKey } from './ipKey';

describe('ipKey', () => {
  it('keys an IPv6 address by its /64 prefix, however it is written', () => {
    expect(ipKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:DB8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipKey('2001:db8:1:3::1')).not.toBe(ipKey('2001:db8:1:2::1'));
  });

  it('keys an IPv4-mapped address as the IPv4 address it maps, however it is written', () => {
    for (const mapped of ['::ffff:203.0.113.7', '::FFFF:203.0.113.7', '::ffff:cb00:7107', '0:0:0:0:0:ffff:203.0.113.7']) {
      expect(ipKey(mapped)).toBe('203.0.113.7');
    }
    expect(ipKey('203.0.113.7')).toBe('203.0.113.7');
  });

  it('keys whole, written one way, the addresses a /64 would merge: NAT64, link-local, loopback', () => {
    // Two IPv4 clients seen through the NAT64 well-known prefix (and the local-use one) stay apart.
    expect(ipKey('64:ff9b::203.0.113.7')).toBe('64:ff9b:0:0:0:0:cb00:7107');
    expect(ipKey('64:ff9b::198.51.100.9')).not.toBe(ipKey('64:ff9b::203.0.113.7'));
    expect(ipKey('64:ff9b:1:2::203.0.113.7')).not.toBe(ipKey('64:ff9b:1:2::198.51.100.9'));
    // Link-local: the zone is dropped, and two hosts of the link keep their own keys.
    expect(ipKey('fe80::1%eth0')).toBe('fe80:0:0:0:0:0:0:1');
    expect(ipKey('fe80::2')).not.toBe(ipKey('fe80::1'));
    expect(ipKey('::1')).toBe('0:0:0:0:0:0:0:1');
    expect(ipKey('0:0:0:0:0:0:0:1')).toBe(ipKey('::1'));
  });

  it('returns anything that is not an IP address unchanged', () => {
    expect(ipKey('not:an:address')).toBe('not:an:address');
    expect(ipKey('')).toBe('');
  });
});
