// A Vault to test against. The real server (`vault server -dev`, built from the hashicorp/vault Go
// module by `ensureVault`) when it is installed; otherwise a loopback stand-in that answers the part
// of Vault's documented HTTP API the gateway uses — KV v2 reads and writes, Kubernetes auth login
// with the service-account JWT checked against a public key, tokens with leases — so the client's
// wire behaviour is still exercised. Tests report which one ran.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importSPKI, jwtVerify } from 'jose';
import { findVault } from '../../src/toolchain/vault.ts';

export interface TestVault {
  kind: 'real vault' | 'stand-in';
  address: string;
  rootToken: string;
  put(path: string, data: Record<string, string>): Promise<void>;
  /** Enables Kubernetes auth for `role` with JWTs verified by `publicKeyPem`. */
  enableKubernetesAuth(role: string, publicKeyPem: string, issuer: string): Promise<void>;
  stop(): Promise<void>;
}

async function api(
  address: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<void> {
  const res = await fetch(`${address}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`vault ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
}

export async function startVault(): Promise<TestVault> {
  const bin = findVault();
  return bin ? startReal(bin) : startStandIn();
}

async function startReal(bin: string): Promise<TestVault> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const rootToken = `root-${randomBytes(8).toString('hex')}`;
  const child: ChildProcess = spawn(
    bin,
    ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore', env: { ...process.env, VAULT_DISABLE_MLOCK: 'true', HOME: process.env.HOME } },
  );
  const address = `http://127.0.0.1:${port}`;
  let reviewer: { url: string; close(): Promise<void> } | undefined;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${address}/v1/sys/health`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('vault server -dev did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    kind: 'real vault',
    address,
    rootToken,
    put: (path, data) => api(address, rootToken, 'POST', `secret/data/${path}`, { data }),
    async enableKubernetesAuth(role, publicKeyPem, issuer) {
      // Vault asks the cluster's TokenReview API about every login; no cluster here, so a loopback
      // endpoint answers it, verifying the JWT with the same key the cluster would.
      reviewer = await tokenReviewer(publicKeyPem, issuer);
      await api(address, rootToken, 'POST', 'sys/policies/acl/llm', {
        policy: 'path "secret/data/llm/*" { capabilities = ["read"] }',
      });
      await api(address, rootToken, 'POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
      await api(address, rootToken, 'POST', 'auth/kubernetes/config', {
        kubernetes_host: reviewer.url,
        pem_keys: [publicKeyPem],
        issuer,
        disable_local_ca_jwt: true,
      });
      await api(address, rootToken, 'POST', `auth/kubernetes/role/${role}`, {
        bound_service_account_names: ['portcullis'],
        bound_service_account_namespaces: ['ai-gateway'],
        token_policies: ['llm'],
        token_ttl: 60,
      });
    },
    async stop() {
      await reviewer?.close();
      reviewer = undefined;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function startStandIn(): Promise<TestVault> {
  const rootToken = `root-${randomBytes(8).toString('hex')}`;
  const kv = new Map<string, { data: Record<string, string>; version: number }>();
  const tokens = new Map<string, number>([[rootToken, Number.POSITIVE_INFINITY]]);
  let k8s: { role: string; key: CryptoKey; issuer: string } | undefined;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const url = new URL(req.url ?? '/', 'http://vault');
    const login = /^\/v1\/auth\/kubernetes\/login$/.exec(url.pathname);
    if (login && req.method === 'POST') {
      const { role, jwt } = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      if (!k8s || role !== k8s.role) return send(400, { errors: [`invalid role name "${role}"`] });
      try {
        const { payload } = await jwtVerify(jwt, k8s.key, { issuer: k8s.issuer });
        if (payload['kubernetes.io/serviceaccount/service-account.name'] !== 'portcullis')
          throw new Error('sa');
      } catch {
        return send(403, { errors: ['permission denied'] });
      }
      const token = `s.${randomBytes(12).toString('hex')}`;
      tokens.set(token, Date.now() + 60_000);
      return send(200, {
        auth: { client_token: token, lease_duration: 60, renewable: true, policies: ['llm'] },
      });
    }
    const token = String(req.headers['x-vault-token'] ?? '');
    if (!((tokens.get(token) ?? 0) > Date.now())) return send(403, { errors: ['permission denied'] });
    const m = /^\/v1\/secret\/data\/(.+)$/.exec(url.pathname);
    if (!m) return send(404, { errors: [] });
    if (req.method === 'POST' || req.method === 'PUT') {
      if (token !== rootToken) return send(403, { errors: ['permission denied'] });
      const { data } = JSON.parse(Buffer.concat(chunks).toString());
      const version = (kv.get(m[1])?.version ?? 0) + 1;
      kv.set(m[1], { data, version });
      return send(200, { data: { version } });
    }
    const entry = kv.get(m[1]);
    if (!entry) return send(404, { errors: [] });
    return send(200, { data: { data: entry.data, metadata: { version: entry.version } } });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    kind: 'stand-in',
    address,
    rootToken,
    put: (path, data) => api(address, rootToken, 'POST', `secret/data/${path}`, { data }),
    async enableKubernetesAuth(role, publicKeyPem, issuer) {
      k8s = { role, key: await importSPKI(publicKeyPem, 'RS256'), issuer };
    },
    async stop() {
      if (!server.listening) return;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** The Kubernetes TokenReview endpoint Vault calls during a Kubernetes-auth login. */
async function tokenReviewer(
  publicKeyPem: string,
  issuer: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const key = await importSPKI(publicKeyPem, 'RS256');
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const review = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    let status: Record<string, unknown>;
    try {
      const { payload } = await jwtVerify(review.spec?.token ?? '', key, { issuer });
      const ns = payload['kubernetes.io/serviceaccount/namespace'];
      const name = payload['kubernetes.io/serviceaccount/service-account.name'];
      status = {
        authenticated: true,
        audiences: review.spec?.audiences ?? [],
        user: {
          username: `system:serviceaccount:${ns}:${name}`,
          uid: payload['kubernetes.io/serviceaccount/service-account.uid'],
        },
      };
    } catch {
      status = { authenticated: false };
    }
    res
      .writeHead(201, { 'content-type': 'application/json' })
      .end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
