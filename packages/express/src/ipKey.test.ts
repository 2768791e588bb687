import { ipKey } from './ipKey';

describe('ipKey', () => {
  it('keys an IPv6 address by its /64 prefix, however it is written', () => {
    expect(ipKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:DB8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(ipKey('64:ff9b:1:2::203.0.113.7')).toBe('64:ff9b:1:2::/64');
    expect(ipKey('2001:db8:1:3::1')).not.toBe(ipKey('2001:db8:1:2::1'));
  });

  it('returns IPv4, IPv4-mapped, loopback and anything that is not an IP address unchanged', () => {
    expect(ipKey('203.0.113.7')).toBe('203.0.113.7');
    expect(ipKey('::ffff:203.0.113.7')).toBe('::ffff:203.0.113.7');
    expect(ipKey('::ffff:cb00:7107')).toBe('::ffff:cb00:7107');
    expect(ipKey('::1')).toBe('::1');
    expect(ipKey('not:an:address')).toBe('not:an:address');
    expect(ipKey('')).toBe('');
  });
});
