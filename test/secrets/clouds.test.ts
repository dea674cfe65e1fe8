// The cloud secret managers through their official clients, each against the nearest real thing
// this machine can run:
// - AWS Secrets Manager: moto's server (a local AWS emulator from PyPI), reached by the AWS SDK over HTTP.
// - Google Secret Manager: a loopback gRPC server implementing SecretManagerService from the client
//   package's own .proto, reached by the client's real gRPC stack.
// - Azure Key Vault: the SDK's pluggable HttpClient (its transport seam) answering Key Vault's REST
//   API, including the bearer challenge, with a TokenCredential standing in for Entra ID.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AwsSecretsManagerFetcher } from '../../src/secrets/aws.ts';
import { AzureKeyVaultFetcher } from '../../src/secrets/azure.ts';
import { SecretCache } from '../../src/secrets/cache.ts';
import { GcpSecretManagerFetcher } from '../../src/secrets/gcp.ts';
import type { SecretRef } from '../../src/secrets/types.ts';
import { ensurePipTool, MOTO } from '../../src/toolchain/pip-tools.ts';
import { REPO_ROOT, ToolMissingError } from '../../src/toolchain/tools.ts';
import { collectingLogger } from '../sync/helpers.ts';

let moto: string | undefined;
let motoMissing: string | undefined;
try {
  moto = await ensurePipTool(MOTO, (l) => process.stderr.write(`[clouds test] ${l}\n`));
} catch (err) {
  if (!(err instanceof ToolMissingError)) throw err;
  motoMissing = `moto (the AWS emulator) cannot be installed: ${err.message}`;
}

const FAKE_AWS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

describe('AWS Secrets Manager (moto)', { skip: motoMissing }, () => {
  let child: ChildProcess;
  let endpoint: string;
  before(async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    child = spawn(moto!, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (
      !(await fetch(`${endpoint}/moto-api/`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('moto_server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });

  test('plain and JSON secrets, rotation on refresh, outage kept until the TTL, then refused', async () => {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    const admin = new sdk.SecretsManagerClient({ endpoint, region: 'eu-west-1', credentials: FAKE_AWS });
    await admin.send(new sdk.CreateSecretCommand({ Name: 'llm/anthropic', SecretString: 'sk-ant-aws-1' }));
    await admin.send(
      new sdk.CreateSecretCommand({
        Name: 'llm/keys',
        SecretString: JSON.stringify({ openai: 'sk-aws-json' }),
      }),
    );
    let now = 0;
    const { logger, lines } = collectingLogger();
    const cache = new SecretCache({
      fetchers: {
        aws: new AwsSecretsManagerFetcher({
          region: 'eu-west-1',
          client: { endpoint, credentials: FAKE_AWS },
        }),
      },
      log: logger,
      now: () => now,
      retryMs: 60_000,
    });
    const plain: SecretRef = { manager: 'aws', secretId: 'llm/anthropic', ttlSeconds: 100 };
    const json: SecretRef = { manager: 'aws', secretId: 'llm/keys', field: 'openai' };
    try {
      assert.equal((await cache.load(plain)).value, 'sk-ant-aws-1');
      assert.equal((await cache.load(json)).value, 'sk-aws-json');
      assert.match(
        (await cache.load({ manager: 'aws', secretId: 'llm/none' })).error ?? '',
        /AWS Secrets Manager refused llm\/none: ResourceNotFoundException \(HTTP 4\d\d\)/,
      );
      await admin.send(
        new sdk.PutSecretValueCommand({ SecretId: 'llm/anthropic', SecretString: 'sk-ant-aws-2' }),
      );
      now += 81_000;
      assert.equal((await cache.load(plain)).value, 'sk-ant-aws-2');

      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      now += 81_000; // refresh fails; 81 s into a 100 s TTL
      assert.equal((await cache.load(plain)).value, 'sk-ant-aws-2');
      now += 20_000;
      assert.match(
        cache.read(plain).error ?? '',
        /AWS Secrets Manager llm\/anthropic expired at .* cannot be renewed/,
      );
      for (const line of lines) assert.doesNotMatch(line, /sk-ant-aws|sk-aws-json/);
    } finally {
      admin.destroy();
      await cache.close();
    }
  });
});

describe('Google Secret Manager (loopback gRPC server)', () => {
  const versions = new Map<string, string>();
  let server: grpc.Server;
  let port: number;
  before(async () => {
    const protos = join(REPO_ROOT, 'node_modules/@google-cloud/secret-manager/build/protos');
    const definition = protoLoader.loadSync('google/cloud/secretmanager/v1/service.proto', {
      includeDirs: [protos, join(REPO_ROOT, 'node_modules/google-gax/build/protos')],
      keepCase: false,
      longs: String,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      google: {
        cloud: { secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } } };
      };
    };
    server = new grpc.Server();
    server.addService(loaded.google.cloud.secretmanager.v1.SecretManagerService.service, {
      accessSecretVersion: (
        call: grpc.ServerUnaryCall<{ name: string }, unknown>,
        done: grpc.sendUnaryData<unknown>,
      ) => {
        const name = call.request.name.replace(/\/versions\/latest$/, '/versions/latest');
        const value = versions.get(name);
        if (value === undefined) {
          done({
            code: grpc.status.NOT_FOUND,
            details: `Secret [${call.request.name}] not found or has no versions.`,
          });
          return;
        }
        done(null, { name, payload: { data: Buffer.from(value) } });
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });
  after(() => server.forceShutdown());

  test('the official client reads a version, a JSON field, and reports a missing secret', async () => {
    // No cloud here: keep Google's auth library from probing for a GCE metadata server.
    process.env.METADATA_SERVER_DETECTION = 'none';
    versions.set('projects/acme/secrets/openai/versions/latest', 'sk-gcp-latest');
    versions.set('projects/acme/secrets/bundle/versions/3', JSON.stringify({ anthropic: 'sk-gcp-json' }));
    const fetcher = new GcpSecretManagerFetcher({
      client: {
        apiEndpoint: '127.0.0.1',
        port,
        projectId: 'acme',
        sslCreds: grpc.credentials.createInsecure(),
      } as never,
    });
    try {
      assert.equal(
        await fetcher.fetch({ manager: 'gcp', name: 'projects/acme/secrets/openai' }),
        'sk-gcp-latest',
      );
      assert.equal(
        await fetcher.fetch({
          manager: 'gcp',
          name: 'projects/acme/secrets/bundle/versions/3',
          field: 'anthropic',
        }),
        'sk-gcp-json',
      );
      await assert.rejects(
        fetcher.fetch({ manager: 'gcp', name: 'projects/acme/secrets/none' }),
        /Google Secret Manager refused projects\/acme\/secrets\/none\/versions\/latest: gRPC code 5/,
      );
      versions.set('projects/acme/secrets/openai/versions/latest', 'sk-gcp-rotated');
      assert.equal(
        await fetcher.fetch({ manager: 'gcp', name: 'projects/acme/secrets/openai' }),
        'sk-gcp-rotated',
      );
    } finally {
      await fetcher.close();
    }
  });
});

describe('Azure Key Vault (the SDK HttpClient seam)', () => {
  test('the official client follows the bearer challenge and reads secrets; a missing one is reported', async () => {
    const { createHttpHeaders } = await import('@azure/core-rest-pipeline');
    const store = new Map([['openai-key', 'sk-azure-1']]);
    const seen: string[] = [];
    const httpClient = {
      async sendRequest(request: {
        url: string;
        method: string;
        headers: { get(n: string): string | undefined };
      }) {
        const url = new URL(request.url);
        seen.push(
          `${request.method} ${url.pathname}${request.headers.get('authorization') ? ' (token)' : ''}`,
        );
        const reply = (status: number, body: unknown, extra: Record<string, string> = {}) => ({
          request,
          status,
          headers: createHttpHeaders({ 'content-type': 'application/json', ...extra }),
          bodyAsText: JSON.stringify(body),
        });
        if (request.headers.get('authorization') !== 'Bearer entra-token') {
          return reply(
            401,
            { error: { code: 'Unauthorized' } },
            {
              'www-authenticate':
                'Bearer authorization="https://login.microsoftonline.com/tenant-id", resource="https://vault.azure.net"',
            },
          );
        }
        const name = /^\/secrets\/([^/]+)/.exec(url.pathname)?.[1] ?? '';
        const value = store.get(name);
        if (value === undefined) {
          return reply(404, {
            error: {
              code: 'SecretNotFound',
              message: `A secret with (name/id) ${name} was not found in this key vault.`,
            },
          });
        }
        return reply(200, {
          value,
          id: `https://acme.vault.azure.net/secrets/${name}/v1`,
          attributes: { enabled: true },
        });
      },
    };
    const fetcher = new AzureKeyVaultFetcher({
      credential: {
        getToken: async () => ({ token: 'entra-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
      },
      client: { httpClient: httpClient as never },
    });
    const ref = (name: string): SecretRef => ({
      manager: 'azure',
      vaultUrl: 'https://acme.vault.azure.net',
      name,
    });
    assert.equal(await fetcher.fetch(ref('openai-key')), 'sk-azure-1');
    assert.deepEqual(seen.slice(0, 2), ['GET /secrets/openai-key/', 'GET /secrets/openai-key/ (token)']);
    store.set('openai-key', 'sk-azure-2');
    assert.equal(await fetcher.fetch(ref('openai-key')), 'sk-azure-2');
    await assert.rejects(
      fetcher.fetch(ref('missing')),
      /Azure Key Vault refused secret missing: SecretNotFound \(HTTP 404\)/,
    );
  });
});
