import { describe, expect, it } from 'vitest';
import { forbiddenReason, parseCidrs } from './ip-policy.js';
import { SsrfBlockedError, SsrfGuard, type HostResolver } from './ssrf-guard.js';

// A resolver that never touches the network: names map to fixed answers.
const fakeDns =
  (answers: Record<string, string[]>): HostResolver =>
  async (host) => {
    const found = answers[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found;
  };

const dns = fakeDns({
  localhost: ['127.0.0.1', '::1'],
  'internal.example.test': ['10.1.2.3'],
  'mixed.example.test': ['93.184.216.34', '192.168.0.10'],
  'public.example.test': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'empty.example.test': [],
});

const guard = new SsrfGuard({ allowedCidrs: [], allowHttp: true }, dns);

describe('SsrfGuard.vet', () => {
  it.each([
    ['http://127.0.0.1/', 'loopback'],
    ['http://localhost/', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://017700000001/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    ['http://10.0.0.1/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://100.64.0.1/', 'carrierGradeNat'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://0/', 'unspecified'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://240.0.0.1/', 'reserved'],
    ['http://192.0.2.10/', 'reserved'],
    ['http://198.51.100.7/', 'reserved'],
    ['http://[fc00::1]/', 'uniqueLocal'],
    ['http://[fd12:3456::1]/', 'uniqueLocal'],
    ['http://[fe80::1]/', 'linkLocal'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://[::]/', 'unspecified'],
    ['http://[2001:db8::1]/', 'reserved'],
    ['http://[::127.0.0.1]/', 'not global unicast'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'rfc6052 embedding 169.254.169.254'],
    ['http://[64:ff9b:1::1]/', 'local-use NAT64'],
    ['http://[2002:7f00:1::1]/', '6to4 embedding 127.0.0.1'],
    ['http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/', 'teredo embedding 10.0.0.1'],
    ['http://[::ffff:0:a00:1]/', 'rfc6145 embedding 10.0.0.1'],
    ['http://internal.example.test/', 'resolves to 10.1.2.3 which is private'],
    ['http://mixed.example.test/', 'resolves to 192.168.0.10 which is private'],
  ])('refuses %s', async (url, reason) => {
    const error = await guard.vet(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsrfBlockedError);
    expect((error as SsrfBlockedError).reason).toContain(reason);
  });

  it('refuses localhost through the real resolver too', async () => {
    await expect(new SsrfGuard({ allowedCidrs: [], allowHttp: true }).vet('http://localhost:1/')).rejects.toThrow(
      /localhost resolves to .* which is loopback/,
    );
  });

  it.each([
    ['ftp://93.184.216.34/', 'scheme ftp:'],
    ['file:///etc/passwd', 'scheme file:'],
    ['gopher://93.184.216.34/', 'scheme gopher:'],
    ['https://user:pass@93.184.216.34/', 'credentials'],
    ['https://user@93.184.216.34/', 'credentials'],
    ['not a url', 'not a valid URL'],
  ])('refuses %s before resolving', async (url, reason) => {
    await expect(guard.vet(url)).rejects.toThrow(reason);
  });

  it('refuses plain http unless allowed', async () => {
    const httpsOnly = new SsrfGuard({ allowedCidrs: [], allowHttp: false }, dns);
    await expect(httpsOnly.vet('http://93.184.216.34/')).rejects.toThrow(/scheme http: is not allowed/);
    await expect(httpsOnly.vet('https://93.184.216.34/')).resolves.toMatchObject({ address: '93.184.216.34' });
  });

  it('passes public addresses and returns the address to connect to', async () => {
    await expect(guard.vet('https://93.184.216.34/x')).resolves.toMatchObject({ address: '93.184.216.34' });
    await expect(guard.vet('https://[2606:4700::1111]/')).resolves.toMatchObject({ address: '2606:4700::1111' });
    await expect(guard.vet('https://[64:ff9b::5db8:d822]/')).resolves.toMatchObject({
      address: '64:ff9b::5db8:d822',
    });
    const vetted = await guard.vet('https://public.example.test:8443/path?q=1');
    expect(vetted.address).toBe('93.184.216.34');
    expect(vetted.url.host).toBe('public.example.test:8443');
  });

  it('lets an allowed CIDR through, including its IPv4-mapped form, and nothing else', async () => {
    const local = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8', '10.1.2.3'], allowHttp: true }, dns);
    await expect(local.vet('http://127.0.0.1:3000/')).resolves.toMatchObject({ address: '127.0.0.1' });
    await expect(local.vet('http://[::ffff:127.0.0.1]/')).resolves.toMatchObject({ address: '::ffff:7f00:1' });
    await expect(local.vet('http://internal.example.test/')).resolves.toMatchObject({ address: '10.1.2.3' });
    await expect(local.vet('http://10.0.0.1/')).rejects.toThrow(/private/);
    await expect(local.vet('http://[::1]/')).rejects.toThrow(/loopback/);
  });

  it('passes DNS failures through as they are, not as SSRF refusals', async () => {
    const error = await guard.vet('https://nowhere.example.test/').catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(SsrfBlockedError);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
    await expect(guard.vet('https://empty.example.test/')).rejects.toThrow(/did not resolve/);
  });

  it('stops waiting for DNS when the signal aborts', async () => {
    const hanging = new SsrfGuard({ allowedCidrs: [], allowHttp: true }, () => new Promise<string[]>(() => {}));
    const controller = new AbortController();
    const pending = hanging.vet('https://slow.example.test/', controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(pending).rejects.toThrow('cancelled');
  });
});

describe('parseCidrs', () => {
  it('rejects nonsense with the offending entry named', () => {
    expect(() => parseCidrs(['10.0.0.0/8', '1.2.3.4/99'])).toThrow('Invalid CIDR "1.2.3.4/99"');
    expect(() => new SsrfGuard({ allowedCidrs: ['nope'], allowHttp: false })).toThrow('Invalid CIDR "nope"');
  });

  it('treats an IPv4-mapped IPv6 CIDR as the IPv4 one', () => {
    expect(forbiddenReason('127.0.0.5', parseCidrs(['::ffff:127.0.0.0/104']))).toBeUndefined();
  });
});
