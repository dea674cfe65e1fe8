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

/**
 * From a parsed answer: its model and finish reasons, which stand at its top level (Anthropic,
 * Responses) or on each of its `choices` (OpenAI Chat) or `candidates` (Gemini) — the content itself
 * is not walked.
 */
export function answerFactsOfJson(answer: unknown): AnswerFacts {
  const facts: AnswerFacts = {};
  const reasons: string[] = [];
  const read = (obj: Record<string, unknown>, top: boolean): void => {
    for (const key in obj) {
      const value = obj[key];
      if (typeof value === 'string') {
        if (FINISH_KEYS.has(key)) {
          if (FINISH_VALUE.test(value) && !reasons.includes(value)) reasons.push(value);
        } else if (facts.responseModel === undefined && MODEL_KEYS.has(key) && MODEL_VALUE.test(value)) {
          facts.responseModel = value;
        }
      } else if (top && Array.isArray(value) && (key === 'choices' || key === 'candidates')) {
        for (const item of value) if (isRecord(item)) read(item, false);
      }
    }
  };
  if (isRecord(answer)) read(answer, true);
  if (reasons.length > 0) facts.finishReasons = reasons;
  return facts;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** From the raw tail of an answer (a stream's last events). */
export function answerFactsOfText(text: string): AnswerFacts {
  const reasons = [...new Set([...text.matchAll(FINISH)].map((m) => m[1]))];
  return { responseModel: MODEL.exec(text)?.[1], finishReasons: reasons.length > 0 ? reasons : undefined };
}
