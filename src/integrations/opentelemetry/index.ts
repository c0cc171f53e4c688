// upkeep/opentelemetry: spans per attempt and metrics through OpenTelemetry (optional peer: @opentelemetry/api).
export { instrumentUpkeep, UpkeepAttributes } from './instrument-upkeep';
export type { InstrumentUpkeepOptions, UpkeepInstrumentation } from './instrument-upkeep';
export { currentTraceContext, parseTraceContext, contextFromTraceContext } from './trace-context';
