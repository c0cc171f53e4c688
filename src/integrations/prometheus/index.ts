// upkeep/prometheus: upkeep's metrics on a host's prom-client registry (optional peer: prom-client).
// Hosts without prom-client use `metricsToPrometheus(await upkeep.metrics())` from the root entry.
export { registerUpkeepMetrics } from './prometheus-collector';
export type { UpkeepPrometheusCollector, UpkeepPrometheusOptions } from './prometheus-collector';
