// A real OpenID provider for the tests: panva's `oidc-provider` (pinned in
// package-lock.json), the certified OAuth 2.0 / OIDC server library, with the
// device authorization grant (RFC 8628), dynamic client registration,
// resource indicators (RFC 8707) issuing JWT access tokens for the MCP
// server, refresh and revocation.
//
// Usage: node oidc_server.mjs PORT [ACCESS_TOKEN_SECONDS]
//
// The end user is played by the test, through two routes that stand in for
// someone typing the code on their phone and pressing "Allow" or "Deny":
//   GET /test/approve?user_code=XXXX-XXXX
//   GET /test/deny?user_code=XXXX-XXXX
// Everything else (the device endpoint, polling, `authorization_pending`,
// tokens) is the library's own.

import { generateKeyPairSync } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2]);
const accessTokenSeconds = Number(process.argv[3] ?? 3600);
const issuer = `http://127.0.0.1:${port}`;
const SCOPE = 'mcp:tools';
const USER = 'test-user';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'tests', use: 'sig', alg: 'RS256' };

// Only loopback MCP servers are resources here.
const isTestResource = (resource) => /^http:\/\/127\.0\.0\.1:\d+\//.test(resource);

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  scopes: ['openid', 'offline_access', SCOPE],
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (!isTestResource(resource)) throw new errors.InvalidTarget();
        return {
          scope: SCOPE,
          audience: resource,
          accessTokenTTL: accessTokenSeconds,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  ttl: { DeviceCode: 600, RefreshToken: 86400 },
});

/** The device code a user code belongs to, or a 404. */
async function deviceCode(ctx) {
  const userCode = String(ctx.query.user_code ?? '');
  const normalized = userCode.toUpperCase().replace(/\W/g, '');
  const code = await provider.DeviceCode.findByUserCode(normalized);
  if (!code) {
    ctx.status = 404;
    ctx.body = `no pending sign-in with the code ${userCode}\n`;
  }
  return code;
}

/** The user approves: what the library records after login and consent. */
async function approve(ctx) {
  const code = await deviceCode(ctx);
  if (!code) return;
  const asked = String(code.params.scope ?? '').split(' ').filter(Boolean);
  const resource = code.params.resource;
  const grant = new provider.Grant({ accountId: USER, clientId: code.clientId });
  const oidc = asked.filter((s) => s === 'openid' || s === 'offline_access');
  if (oidc.length) grant.addOIDCScope(oidc.join(' '));
  if (resource) grant.addResourceScope(resource, asked.filter((s) => s === SCOPE).join(' '));
  Object.assign(code, {
    accountId: USER,
    grantId: await grant.save(),
    scope: asked.join(' '),
    resource,
    authTime: Math.floor(Date.now() / 1000),
  });
  await code.save();
  ctx.body = 'approved\n';
}

/** The user presses "Deny". */
async function deny(ctx) {
  const code = await deviceCode(ctx);
  if (!code) return;
  Object.assign(code, { error: 'access_denied', errorDescription: 'End-User denied the sign-in' });
  await code.save();
  ctx.body = 'denied\n';
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/approve') return approve(ctx);
  if (ctx.path === '/test/deny') return deny(ctx);
  await next();
  // oidc-provider names no poll interval, so clients poll every 5 s
  // (RFC 8628 §3.2); this one asks for every second (§3.2's `interval`),
  // so the tests wait on a person, not on a poll.
  if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    ctx.body = { ...ctx.body, interval: 1 };
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
