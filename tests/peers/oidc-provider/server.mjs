// A real OpenID Provider (the `oidc-provider` package) shaped like Microsoft Entra ID v2.0, for
// Rota's integration tests. It is a test peer, not a mock: discovery, JWKS, dynamic client
// registration, the authorization code flow with PKCE, the token endpoint and RP-initiated logout
// are oidc-provider's own. What this file adds:
//   - Entra's URL layout: the issuer is http://127.0.0.1:PORT/{tenant}/v2.0 and the provider is
//     mounted under that path, so discovery lives at {issuer}/.well-known/openid-configuration;
//   - Entra's ID token claims (oid, tid, ver, groups, roles, the groups overage markers);
//   - headless sign-in: the account named by `login_hint` is signed in and consents at once;
//   - headless sign-out: the "do you want to sign out?" form is submitted for the user agent;
//   - mangle modes that swap the ID token in the token response for a forged one, so the relying
//     party can be shown to refuse each defect;
//   - POST /__admin/accounts to add accounts at run time.
//
// Usage: node server.mjs [--port 0] [--tenant GUID]
// Prints one JSON line when it listens, then exits when stdin closes or on SIGTERM.
// See README.md beside this file.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import Provider, { interactionPolicy } from 'oidc-provider';

const here = (file) => new URL(file, import.meta.url);
const readJson = (file) => JSON.parse(readFileSync(here(file), 'utf8'));

// ---- command line ---------------------------------------------------------------------------

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}
const requestedPort = Number(option('port', '0'));
const tenant = option('tenant', '3f2b7c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f');
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  throw new Error('--port must be a port number, or 0 for any free port');
}
if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(tenant)) {
  throw new Error('--tenant must be a lower-case GUID, as Entra tenant ids are');
}

// A test binary that dies without cleaning up closes our stdin: leave with it.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const log = (...parts) => process.stderr.write(`${new Date().toISOString()} ${parts.join(' ')}\n`);

// ---- keys -----------------------------------------------------------------------------------

// TEST KEYS ONLY, committed so tokens are reproducible across runs. `_comment` is ours, not JWK.
const withoutComment = ({ _comment, ...jwk }) => jwk;
const signingJwk = withoutComment(readJson('./test-signing-key.json'));
const otherJwk = withoutComment(readJson('./other-key.json')); // never published in the JWKS
const signingKey = crypto.createPrivateKey({ key: signingJwk, format: 'jwk' });
const otherKey = crypto.createPrivateKey({ key: otherJwk, format: 'jwk' });
// The public key as PEM (SPKI) text: the HMAC secret of the classic RS256 -> HS256 confusion.
const signingPublicPem = crypto.createPublicKey(signingKey).export({ type: 'spki', format: 'pem' });

// ---- accounts -------------------------------------------------------------------------------

const MANGLE_MODES = new Set([
  'wrong_aud', 'wrong_iss', 'expired', 'not_yet_valid', 'bad_signature',
  'unknown_key', 'alg_none', 'hs256_public_key', 'nonce_mismatch',
]);

const accountsByLogin = new Map(); // lower-cased login -> account
const accountsBySub = new Map(); // sub (oidc-provider's accountId) -> account

// Fills in what an account may leave out. `sub` and `oid` default to values derived from the
// login, so an account added twice keeps its identity.
function normalizeAccount(input) {
  if (typeof input?.login !== 'string' || !input.login) {
    throw new Error('an account needs a "login" (the login_hint that signs it in)');
  }
  if (input.mangle != null && !MANGLE_MODES.has(input.mangle)) {
    throw new Error(`unknown mangle mode "${input.mangle}"; known: ${[...MANGLE_MODES].join(', ')}`);
  }
  const digest = crypto.hash('sha256', `account:${input.login.toLowerCase()}`, 'hex');
  return {
    sub: crypto.hash('sha256', `sub:${input.login.toLowerCase()}`, 'base64url'),
    oid: `${digest.slice(0, 8)}-${digest.slice(8, 12)}-4${digest.slice(13, 16)}-8${digest.slice(17, 20)}-${digest.slice(20, 32)}`,
    tid: tenant,
    preferred_username: input.login,
    name: input.login,
    groups: [],
    roles: [],
    overage: false,
    mangle: null,
    ...input,
  };
}

function upsertAccount(input) {
  const account = normalizeAccount(input);
  const key = account.login.toLowerCase();
  const previous = accountsByLogin.get(key);
  if (previous) accountsBySub.delete(previous.sub);
  const clash = accountsBySub.get(account.sub);
  if (clash && clash.login.toLowerCase() !== key) {
    throw new Error(`sub "${account.sub}" already belongs to ${clash.login}`);
  }
  accountsByLogin.set(key, account);
  accountsBySub.set(account.sub, account);
  return account;
}

for (const account of Object.values(readJson('./accounts.json'))) upsertAccount(account);

// The claims Entra v2.0 puts in an ID token for an app configured to emit groups and app roles.
// oidc-provider passes on only the claims that the scopes below list, so every claim here is
// listed under `openid`, `profile` or `email` in the configuration.
function entraClaims(account, use) {
  const claims = {
    sub: account.sub,
    oid: account.oid,
    tid: account.tid,
    ver: '2.0',
    name: account.name,
    preferred_username: account.preferred_username,
  };
  // Entra sets nbf = iat in its tokens; oidc-provider sets no nbf itself. Claims are made when
  // the token is, so "now" is the token's iat.
  if (use === 'id_token') claims.nbf = Math.floor(Date.now() / 1000);
  if (account.email) claims.email = account.email;
  if (account.roles?.length) claims.roles = account.roles;
  if (account.overage) {
    // Too many groups for a token: Entra leaves `groups` out and points at Microsoft Graph.
    claims.hasgroups = true;
    claims._claim_names = { groups: 'src1' };
    claims._claim_sources = {
      src1: { endpoint: `https://graph.microsoft.com/v1.0/users/${account.oid}/getMemberObjects` },
    };
  } else if (account.groups?.length) {
    claims.groups = account.groups;
  }
  return claims;
}

// ---- the provider ---------------------------------------------------------------------------

// Ports below 32768: the kernel hands out 32768 and up to outgoing connections (the project's
// convention for test peers), so a random pick there could collide with the tests' own clients.
async function listen(server, port) {
  const attempt = (p) => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  if (port !== 0) return attempt(port);
  for (let tries = 0; ; tries += 1) {
    try {
      return await attempt(20000 + crypto.randomInt(32768 - 20000));
    } catch (err) {
      if (err.code !== 'EADDRINUSE' || tries >= 50) throw err;
    }
  }
}

let provider; // set once the port, and so the issuer, is known
const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    log('error:', err.stack || err);
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' });
    }
    res.end(`internal error in the OIDC provider peer: ${err.message}\n`);
  });
});
await listen(server, requestedPort);
const { port } = server.address();
const base = `http://127.0.0.1:${port}`;
const mount = `/${tenant}/v2.0`;
const issuer = `${base}${mount}`;

// Every request goes through the login prompt, even with a live session, so each authorization
// signs in exactly the account its login_hint names (Entra with a login_hint and prompt=login).
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'login_hint_decides',
  'this peer signs in the account named by login_hint on every request',
  (ctx) => !ctx.oidc.result?.login,
));

provider = new Provider(issuer, {
  jwks: { keys: [signingJwk] },
  async findAccount(ctx, sub) {
    const account = accountsBySub.get(sub);
    return account && { accountId: sub, claims: async (use) => entraClaims(account, use) };
  },
  claims: {
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub', 'oid', 'tid', 'ver', 'nbf', 'roles', 'groups', 'hasgroups'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
  },
  // Put the scopes' claims in the ID token (as Entra does), not only behind the userinfo endpoint.
  conformIdTokenClaims: false,
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  responseTypes: ['code'],
  pkce: { required: () => true }, // and oidc-provider 9 knows only S256
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  routes: {
    authorization: '/authorize',
    token: '/token',
    jwks: '/keys',
    userinfo: '/userinfo',
    end_session: '/logout',
    registration: '/register',
  },
  features: {
    devInteractions: { enabled: false },
    // Entra offers neither pushed authorization requests nor DPoP: keep them out of discovery.
    pushedAuthorizationRequests: { enabled: false },
    dPoP: { enabled: false },
    // Open registration (no initial access token): each test app registers its own client.
    registration: { enabled: true, initialAccessToken: false },
    rpInitiatedLogout: {
      enabled: true,
      // The page a person would see; `route` below submits it for the user agent.
      async logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><title>Sign out</title>${form.replace('</form>',
          '<button type="submit" name="logout" value="yes">Sign out</button></form>')}`;
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = '<!DOCTYPE html><title>Signed out</title><p>You have signed out.</p>';
      },
    },
  },
  interactions: {
    policy,
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  cookies: { keys: ['rota-oidc-provider-peer-cookie-key'] },
  ttl: {
    AuthorizationCode: 600, // Entra's codes live about ten minutes
    IdToken: 3600,
    AccessToken: 3600,
    Interaction: 600,
    Session: 86400,
    Grant: 86400,
  },
});

for (const event of ['authorization.error', 'grant.error', 'end_session.error',
  'registration_create.error', 'server_error']) {
  provider.on(event, (ctx, err) => log(event, err?.error ?? '', err?.error_description ?? '',
    err?.error_detail ?? err?.message ?? ''));
}

// ---- mangle modes ---------------------------------------------------------------------------

const b64json = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decodePart = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function rs256(header, payload, key) {
  const input = `${b64json(header)}.${b64json(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

// Each mode returns a token with exactly one defect; everything else stays valid (right key and
// kid, right claims), so a refusal can only come from that defect.
function mangle(mode, idToken) {
  const [headerPart, payloadPart, signaturePart] = idToken.split('.');
  const header = decodePart(headerPart);
  const claims = decodePart(payloadPart);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'wrong_aud':
      return rs256(header, { ...claims, aud: 'a9b8c7d6-e5f4-4a3b-9c2d-1e0f00000bad' }, signingKey);
    case 'wrong_iss':
      return rs256(header, {
        ...claims, iss: `${base}/00000000-0000-0000-0000-000000000000/v2.0`,
      }, signingKey);
    case 'expired': // issued three hours ago, expired two hours ago
      return rs256(header, {
        ...claims, iat: now - 3 * 3600, nbf: now - 3 * 3600, exp: now - 2 * 3600,
      }, signingKey);
    case 'not_yet_valid':
      return rs256(header, { ...claims, nbf: now + 3600 }, signingKey);
    case 'bad_signature': // the payload changed after signing
      return `${headerPart}.${b64json({ ...claims, name: `${claims.name} (tampered)` })}.${signaturePart}`;
    case 'unknown_key':
      return rs256({ ...header, kid: otherJwk.kid }, claims, otherKey);
    case 'alg_none':
      return `${b64json({ alg: 'none' })}.${payloadPart}.`;
    case 'hs256_public_key': {
      const forgedHeader = { alg: 'HS256', kid: signingJwk.kid };
      const input = `${b64json(forgedHeader)}.${payloadPart}`;
      const mac = crypto.createHmac('sha256', signingPublicPem).update(input).digest('base64url');
      return `${input}.${mac}`;
    }
    case 'nonce_mismatch':
      return rs256(header, { ...claims, nonce: 'not-the-nonce-the-client-sent' }, signingKey);
    default:
      throw new Error(`unknown mangle mode ${mode}`);
  }
}

// The forged token goes out through the real token endpoint, in place of the real one.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route !== 'token' || typeof ctx.body?.id_token !== 'string') return;
  const { sub } = decodePart(ctx.body.id_token.split('.')[1]);
  const mode = accountsBySub.get(sub)?.mangle;
  if (mode) {
    ctx.body = { ...ctx.body, id_token: mangle(mode, ctx.body.id_token) };
    log(`mangle: ${mode} ID token for ${accountsBySub.get(sub).login}`);
  }
});

// ---- HTTP routing ---------------------------------------------------------------------------

const providerCallback = provider.callback();

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function route(req, res) {
  const { pathname } = new URL(req.url, base);

  if (pathname === '/__admin/accounts' && req.method === 'POST') {
    let account;
    try {
      account = upsertAccount(JSON.parse((await readBody(req)).toString('utf8')));
    } catch (err) {
      return sendJson(res, 400, { error: err.message });
    }
    log(`account: ${account.login} (${account.sub})`);
    return sendJson(res, 200, account);
  }

  if (pathname.startsWith('/interaction/') && req.method === 'GET') {
    return interaction(req, res);
  }

  const isLogout = pathname === `${mount}/logout`;
  if (isLogout && req.headers['x-peer-internal'] !== 'logout') {
    return headlessLogout(req, res);
  }

  if (pathname === mount || pathname.startsWith(`${mount}/`)) {
    // oidc-provider derives its mount path from originalUrl minus url (as under express).
    req.originalUrl = req.url;
    req.url = req.url.slice(mount.length) || '/';
    return providerCallback(req, res);
  }

  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end(`not found; the issuer is ${issuer}\n`);
}

// Headless sign-in: no form. The account that `login_hint` names signs in and consents to what
// the client asked for; any other hint ends the request with access_denied at the client.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const hint = params.login_hint;
  const account = typeof hint === 'string' ? accountsByLogin.get(hint.toLowerCase()) : undefined;

  if (!account) {
    log(`interaction: no account for login_hint ${JSON.stringify(hint)}`);
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: `no such account: ${hint ?? '(no login_hint)'}`,
    }, { mergeWithLastSubmission: false });
  }

  // Start from a fresh session each time. Otherwise, signing in as someone else in the same
  // cookie jar makes oidc-provider ask (with a form) to end the previous user's session first.
  if (details.session) {
    const previous = await provider.Session.findByUid(details.session.uid);
    await previous?.destroy();
    details.session = undefined;
    await details.persist();
  }

  const grant = new provider.Grant({ accountId: account.sub, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  if (params.claims) {
    // Claims asked for by name with the `claims` request parameter are granted too.
    const asked = JSON.parse(params.claims);
    grant.addOIDCClaims([...Object.keys(asked.id_token ?? {}), ...Object.keys(asked.userinfo ?? {})]);
  }
  const grantId = await grant.save();

  log(`interaction: ${account.login} signs in to ${params.client_id}`);
  return provider.interactionFinished(req, res, {
    login: { accountId: account.sub },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

// Headless sign-out: oidc-provider asks the user to confirm (a form posting an xsrf value to
// {end_session}/confirm). Ask it on the user agent's behalf, submit "yes", and hand the user agent
// the outcome: a redirect to the post_logout_redirect_uri (with state) or to the success page.
async function headlessLogout(req, res) {
  const body = req.method === 'POST' ? await readBody(req) : undefined;
  const cookieJar = new Map(parseCookies(req.headers.cookie));
  const setCookies = [];

  const ask = await fetch(`${base}${req.url}`, {
    method: req.method,
    headers: {
      'x-peer-internal': 'logout',
      accept: req.headers.accept ?? '*/*', // oidc-provider answers errors in HTML or JSON by it
      cookie: cookieHeader(cookieJar),
      ...(body ? { 'content-type': req.headers['content-type'] ?? '' } : {}),
    },
    body,
    redirect: 'manual',
  });
  const page = await ask.text();
  collectCookies(ask, cookieJar, setCookies);

  const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
  if (!action || !xsrf) {
    // An error (e.g. post_logout_redirect_uri not registered): pass it on as it is.
    res.writeHead(ask.status, {
      'content-type': ask.headers.get('content-type') ?? 'text/plain',
      'set-cookie': setCookies,
    });
    return res.end(page);
  }

  const confirm = await fetch(action.replaceAll('&amp;', '&'), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: cookieHeader(cookieJar),
    },
    body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    redirect: 'manual',
  });
  collectCookies(confirm, cookieJar, setCookies);
  const headers = { 'set-cookie': setCookies };
  for (const name of ['location', 'content-type', 'cache-control']) {
    const value = confirm.headers.get(name);
    if (value) headers[name] = value;
  }
  res.writeHead(confirm.status, headers);
  res.end(await confirm.text());
}

function parseCookies(header = '') {
  return header.split(';').map((pair) => pair.trim()).filter(Boolean).map((pair) => {
    const i = pair.indexOf('=');
    return [pair.slice(0, i), pair.slice(i + 1)];
  });
}

function cookieHeader(jar) {
  return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
}

function collectCookies(response, jar, setCookies) {
  for (const line of response.headers.getSetCookie()) {
    setCookies.push(line);
    const [pair] = line.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
  }
}

process.stdout.write(`${JSON.stringify({ issuer, port, tenant })}\n`);
log(`listening: ${issuer}`);
