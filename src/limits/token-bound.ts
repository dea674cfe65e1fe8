// A tighter bound on a call's input tokens where the model's tokenizer is known: the token count of the
// whole request body. The body holds every text the provider tokenizes, and the JSON around each
// message outweighs the provider's own message framing, so the count bounds what the provider bills —
// except inputs that cost tokens without bytes (an image by URL), the same gap the byte bound has.
// Tokenizing costs milliseconds on an agent's 50 KB request, so the gateway does it only when the
// byte bound does not fit a budget (the tail of the budget, where the difference matters).
//
// The tokenizer is loaded on first use, not at start: its vocabulary costs ~17 MB of heap and ~60 MB
// of resident memory, which a gateway whose budgets never reach their tail should not carry. The
// first call that needs it waits for the load (a few hundred ms, once per process).
type CountTokens = (text: string) => number;
let countTokens: CountTokens | undefined;
let loading: Promise<CountTokens> | undefined;

function tokenizer(): CountTokens | Promise<CountTokens> {
  if (countTokens !== undefined) return countTokens;
  loading ??= import('gpt-tokenizer/encoding/o200k_base').then((m) => {
    countTokens = m.countTokens;
    return countTokens;
  });
  return loading;
}

/** OpenAI models that use the o200k_base encoding. */
const O200K_MODELS = /^(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-6|o[1-9]|chatgpt-4o|codex-)/;

/** Whether `tokenBound` knows the tokenizer of `model` on a provider speaking `api`. */
export function hasTokenizer(api: string, model: string): boolean {
  return api === 'openai' && O200K_MODELS.test(model);
}

/** The input-token bound of `body` for `model`, or undefined when its tokenizer is not known. */
export function tokenBound(
  api: string,
  model: string,
  body: Buffer | string,
): number | undefined | Promise<number> {
  if (!hasTokenizer(api, model)) return undefined;
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const count = tokenizer();
  return typeof count === 'function' ? count(text) : count.then((c) => c(text));
}
