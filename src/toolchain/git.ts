// simple-git clients for reading policy repositories. The process environment passes through (it
// is the operator's: deploy keys, proxies, CA bundles), minus editors and pagers: never wanted
// non-interactively, and simple-git refuses to run at all with EDITOR set — npm sets it for scripts.
import { type SimpleGit, type SimpleGitOptions, simpleGit } from 'simple-git';

const INTERACTIVE_ONLY = ['EDITOR', 'VISUAL', 'GIT_EDITOR', 'GIT_SEQUENCE_EDITOR', 'PAGER', 'GIT_PAGER'];

export function gitEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, GIT_TERMINAL_PROMPT: '0' };
  for (const name of INTERACTIVE_ONLY) delete env[name];
  return env;
}

export function gitClient(baseDir: string, options: Partial<SimpleGitOptions> = {}): SimpleGit {
  const env = gitEnvironment();
  return simpleGit({ baseDir, allowEnvironment: Object.keys(env), ...options }).env(env);
}
