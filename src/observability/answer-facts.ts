// The answering model and finish reasons of a call, for its trace (`gen_ai.response.model`,
// `gen_ai.response.finish_reasons`), read from the parsed answer or from the tail of the answer the
// usage reader keeps (best effort: a long streamed answer's reasons may have left the tail). The
// field names cover Anthropic (`model`, `stop_reason`), OpenAI (`model`, `finish_reason`) and Gemini
// (`modelVersion`, `finishReason`).

export interface AnswerFacts {
  responseModel?: string;
  finishReasons?: string[];
}

const FINISH_KEYS = new Set(['stop_reason', 'finish_reason', 'finishReason']);
const MODEL_KEYS = new Set(['model', 'modelVersion']);
const FINISH_VALUE = /^[A-Za-z_]{1,40}$/;
const MODEL_VALUE = /^[^"\\]{1,200}$/;
const FINISH = /"(?:stop_reason|finish_reason|finishReason)"\s*:\s*"([A-Za-z_]{1,40})"/g;
const MODEL = /"(?:model|modelVersion)"\s*:\s*"([^"\\]{1,200})"/;

/** From a parsed answer: the first model named and every finish reason, in the answer's own order. */
export function answerFactsOfJson(answer: unknown): AnswerFacts {
  const facts: AnswerFacts = {};
  const reasons: string[] = [];
  // Depth first in key order, which is the order the fields stand in the answer's text.
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    const obj = node as Record<string, unknown>;
    for (const key in obj) {
      const value = obj[key];
      if (typeof value === 'string') {
        if (FINISH_KEYS.has(key) && FINISH_VALUE.test(value) && !reasons.includes(value)) reasons.push(value);
        else if (facts.responseModel === undefined && MODEL_KEYS.has(key) && MODEL_VALUE.test(value))
          facts.responseModel = value;
      } else if (typeof value === 'object') {
        walk(value);
      }
    }
  };
  walk(answer);
  if (reasons.length > 0) facts.finishReasons = reasons;
  return facts;
}

/** From the raw tail of an answer (a stream's last events). */
export function answerFactsOfText(text: string): AnswerFacts {
  const reasons = [...new Set([...text.matchAll(FINISH)].map((m) => m[1]))];
  return { responseModel: MODEL.exec(text)?.[1], finishReasons: reasons.length > 0 ? reasons : undefined };
}
