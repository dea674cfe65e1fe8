// Compiles the policy's Rego to an OPA Wasm bundle with the pinned OPA CLI, cached by the content
// hash of the Rego sources so restarts and replicas skip the compile.
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import * as tar from 'tar';
import { OPA, requireOpa, ToolMissingError } from '../toolchain/tools.ts';
import type { PolicyProblem } from './problems.ts';
import { contentHash } from './resolve.ts';

const run = promisify(execFile);

export const ENTRYPOINT = 'portcullis/gateway/decision';

export interface RegoSource {
  /** Path relative to the policy directory, e.g. `rego/access.rego`. */
  path: string;
  content: Buffer;
}

export function readRegoSources(policyDir: string): RegoSource[] {
  const dir = join(policyDir, 'rego');
  if (!existsSync(dir)) return [];
  const out: RegoSource[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.rego')) out.push({ path: relative(policyDir, p), content: readFileSync(p) });
    }
  };
  walk(dir);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

export class RegoCompileError extends Error {
  readonly problems: PolicyProblem[];
  constructor(problems: PolicyProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`).join('\n'));
    this.problems = problems;
  }
}

/** Turns `opa` error output (`rego/x.rego:12: rego_parse_error: …`) into located problems. */
export function parseOpaErrors(output: string, workDir: string, fallbackFile: string): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const line of output.split('\n')) {
    const m = line.match(/(\S+\.rego):(\d+)(?::(\d+))?: (rego_\w+): (.*)$/);
    if (m) {
      const file = m[1].startsWith(workDir) ? relative(workDir, m[1]) : m[1];
      problems.push({ file, line: Number(m[2]), column: Number(m[3] ?? 1), message: `${m[4]}: ${m[5]}` });
    }
  }
  if (problems.length === 0) {
    const text = output.trim().split('\n').slice(0, 5).join(' ');
    problems.push({ file: fallbackFile, line: 1, column: 1, message: `opa build failed: ${text}` });
  }
  return problems;
}

export interface CompileOptions {
  revision: string;
  /** Where compiled Wasm is cached by source hash; no caching when absent. */
  cacheDir?: string;
  /** Also write a full OPA bundle (Wasm + data.json, manifest revision set) to this path. */
  bundleOut?: string;
  data?: unknown;
}

export interface CompiledPolicy {
  wasm: Buffer;
  sourceHash: string;
  cached: boolean;
}

export async function compileRego(sources: RegoSource[], options: CompileOptions): Promise<CompiledPolicy> {
  if (sources.filter((s) => !s.path.endsWith('_test.rego')).length === 0) {
    throw new RegoCompileError([
      {
        file: 'rego/',
        line: 1,
        column: 1,
        message: `no Rego policy found; the gateway needs package portcullis.gateway with rule 'decision'`,
      },
    ]);
  }
  const sourceHash = contentHash([
    { path: '#opa', content: `${OPA.version} ${ENTRYPOINT}` },
    ...sources.filter((s) => !s.path.endsWith('_test.rego')),
  ]);
  const cached = options.cacheDir ? join(options.cacheDir, `${sourceHash}.wasm`) : undefined;
  if (cached && existsSync(cached) && !options.bundleOut) {
    return { wasm: readFileSync(cached), sourceHash, cached: true };
  }
  const work = mkdtempSync(join(tmpdir(), 'portcullis-build-'));
  try {
    for (const s of sources) {
      if (s.path.endsWith('_test.rego')) continue;
      mkdirSync(join(work, s.path, '..'), { recursive: true });
      writeFileSync(join(work, s.path), s.content);
    }
    const roots = ['rego'];
    if (options.data !== undefined && options.bundleOut) {
      writeFileSync(join(work, 'data.json'), JSON.stringify(options.data));
      roots.push('data.json');
    }
    const out = join(work, 'bundle.tar.gz');
    const args = [
      'build',
      '-t',
      'wasm',
      '-e',
      ENTRYPOINT,
      '--revision',
      options.revision,
      '-o',
      out,
      ...roots,
    ];
    // Outside the try: a missing OPA is a ToolMissingError that says how to install it, not a Rego problem.
    const opa = requireOpa();
    try {
      await run(opa, args, { cwd: work, maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string; code?: unknown };
      // OPA did not run at all (unexecutable, killed): a tool failure, not a problem in the policy.
      if (typeof e.code !== 'number') throw new ToolMissingError(`${opa} could not run: ${e.message}`);
      const output = `${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim();
      throw new RegoCompileError(parseOpaErrors(output || e.message, work, 'rego/'));
    }
    const wasm = await extractWasm(out);
    if (cached) {
      mkdirSync(options.cacheDir!, { recursive: true });
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, wasm);
      renameSync(tmp, cached);
    }
    if (options.bundleOut) {
      writeFileSync(options.bundleOut, readFileSync(out));
    }
    return { wasm, sourceHash, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function extractWasm(bundle: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await tar.t({
    file: bundle,
    onReadEntry: (entry) => {
      if (entry.path.replace(/^\/+/, '') === 'policy.wasm') entry.on('data', (c: Buffer) => chunks.push(c));
      else entry.resume();
    },
  });
  if (chunks.length === 0) throw new Error('opa build produced no policy.wasm');
  return Buffer.concat(chunks);
}
