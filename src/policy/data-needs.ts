// Which parts of the data document a revision's Rego can read. The virtual keys are most of a large
// policy's data (10,000 keys: ~3 MB of JSON, ~35 MB once parsed into the Wasm policy's memory), and
// the decision input already carries the calling key's facts, so the keys go into the data only for
// Rego that may read them. The check is by the text and errs towards including them: any mention of
// `keys` outside a comment, or any use of `data` other than `data.portcullis.<name>`, includes them.
import type { RegoSource } from './compile.ts';

/** The Rego code without its comments (a `#` inside a string is kept). */
function withoutComments(text: string): string {
  let out = '';
  let quote: '"' | '`' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      out += c;
      if (c === '\\' && quote === '"') out += text[++i] ?? '';
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === '`') {
      quote = c;
      out += c;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

const NAMED_PORTCULLIS_DOC = /^\s*\.\s*portcullis\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)/;

/**
 * Whether the Rego (its tests aside) may read `data.portcullis.keys`. Without sources (a policy
 * compiled elsewhere) the answer is yes.
 */
export function regoMayReadKeys(sources: readonly RegoSource[]): boolean {
  const policies = sources.filter((s) => !s.path.endsWith('_test.rego'));
  if (policies.length === 0) return true;
  for (const source of policies) {
    const code = withoutComments(source.content.toString('utf8'));
    if (/\bkeys\b/.test(code)) return true;
    for (const m of code.matchAll(/(?<![\w.])data\b/g)) {
      const named = NAMED_PORTCULLIS_DOC.exec(code.slice(m.index + 4, m.index + 200));
      if (!named || named[1] === 'keys') return true;
    }
  }
  return false;
}
