// Guardrails: detectors over what coding agents send to model providers and what comes back, and the
// chain runner that applies a GuardrailChain. See compile.ts, scan.ts, redact.ts and stream.ts.
export {
  type CacheEntry,
  defaultScanCache,
  ScanCache,
  type ScanCacheOptions,
  type ScanCacheStats,
} from './cache.ts';
export {
  type Action,
  type CompiledChain,
  type CompiledStep,
  type CompileOptions,
  compileChain,
  type DetectorName,
  GuardrailChainError,
  type SourceLocation,
} from './compile.ts';
export type { ExternalCall, ExternalVerdict } from './external.ts';
export { createFingerprinter, type Fingerprinter } from './fingerprint.ts';
export { PII_TYPES, PiiDetector, type PiiType } from './pii/detector.ts';
export { applyRedactions, redactRequest, redactResponse } from './redact.ts';
export { regexProblem } from './regex-safety.ts';
export {
  type ScanResult,
  type StepError,
  scanRequest,
  scanResponse,
} from './scan.ts';
export { DEFAULT_MIN_ENTROPY, SecretsDetector, selectRules } from './secrets/detector.ts';
export type { SecretRule } from './secrets/rule-kit.ts';
export { SECRET_RULES } from './secrets/rules.ts';
export { createResponseScanner, type ResponseScanner } from './stream.ts';
export { streamDeltas, type TextDelta, walkRequest, walkResponse } from './surfaces.ts';
export type { Match, ScanFinding, TextDetector } from './types.ts';
