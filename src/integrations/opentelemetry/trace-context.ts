import { context, isSpanContextValid, ROOT_CONTEXT, trace, TraceFlags, type Context, type SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The active trace context as a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), or
 * null when no valid span is active. What a task stores when it is enqueued, so the span of
 * each attempt (in whatever process runs it) becomes a child of the span that enqueued it.
 */
export function currentTraceContext(active: Context = context.active()): string | null {
  const span = trace.getSpanContext(active);
  if (!span || !isSpanContextValid(span)) return null;
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** Parses a stored `traceparent` into a remote span context; null when it is missing or malformed. */
export function parseTraceContext(traceparent: string | null | undefined): SpanContext | null {
  if (typeof traceparent !== 'string') return null;
  const match = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (!match) return null;
  const spanContext: SpanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(spanContext) ? spanContext : null;
}

/** A context whose parent is the stored `traceparent` (ROOT_CONTEXT when there is none). */
export function contextFromTraceContext(traceparent: string | null | undefined): Context {
  const parent = parseTraceContext(traceparent);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}
