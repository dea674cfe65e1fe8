// Prometheus metrics of the audit trail, registered once per registry and shared by every audit log
// open on it (gauges sum over them).
import { Counter, Gauge, type Registry } from 'prom-client';

export interface AuditGaugeSource {
  queueDepth(): number;
  /** Records committed to SQLite but not yet delivered, per sink name. */
  sinkLag(): Map<string, number>;
}

export interface AuditMetrics {
  written: Counter;
  queueFull: Counter;
  writeErrors: Counter;
  writerExits: Counter;
  sinkDelivered: Counter<'sink'>;
  sinkFailures: Counter<'sink'>;
  /** Starts counting a log in the gauges; returns the function that stops it. */
  track(source: AuditGaugeSource): () => void;
}

const byRegistry = new WeakMap<Registry, AuditMetrics>();

export function auditMetrics(registry: Registry): AuditMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const sources = new Set<AuditGaugeSource>();
  const registers = [registry];
  const metrics: AuditMetrics = {
    written: new Counter({
      name: 'portcullis_audit_records_written_total',
      help: 'Audit records committed to the SQLite audit log',
      registers,
    }),
    queueFull: new Counter({
      name: 'portcullis_audit_queue_full_total',
      help: 'Appends that found the audit queue full and made room on the request path (waited for the writer thread, or committed a batch inline)',
      registers,
    }),
    writeErrors: new Counter({
      name: 'portcullis_audit_write_errors_total',
      help: 'Failed attempts to commit a batch to the audit log (the batch is kept and retried)',
      registers,
    }),
    writerExits: new Counter({
      name: 'portcullis_audit_writer_exits_total',
      help: 'Times the audit writer thread ended unexpectedly (its batch is kept or found committed; the thread is restarted, after repeated exits writing moves to the main thread)',
      registers,
    }),
    sinkDelivered: new Counter({
      name: 'portcullis_audit_sink_delivered_total',
      help: 'Audit records delivered to a sink',
      labelNames: ['sink'],
      registers,
    }),
    sinkFailures: new Counter({
      name: 'portcullis_audit_sink_failures_total',
      help: 'Failed deliveries to a sink (retried with backoff; records wait in the audit log)',
      labelNames: ['sink'],
      registers,
    }),
    track(source) {
      sources.add(source);
      return () => sources.delete(source);
    },
  };
  new Gauge({
    name: 'portcullis_audit_queue_depth',
    help: 'Audit records appended but not yet committed to SQLite',
    registers,
    collect() {
      let depth = 0;
      for (const s of sources) depth += s.queueDepth();
      this.set(depth);
    },
  });
  new Gauge({
    name: 'portcullis_audit_sink_lag_records',
    help: 'Audit records committed but not yet delivered to a sink',
    labelNames: ['sink'],
    registers,
    collect() {
      this.reset();
      for (const s of sources) for (const [sink, lag] of s.sinkLag()) this.inc({ sink }, lag);
    },
  });
  byRegistry.set(registry, metrics);
  return metrics;
}
