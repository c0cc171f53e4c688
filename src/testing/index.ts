// upkeep/testing: helpers for a host's own tests (createTestUpkeep needs better-sqlite3).
export { runProcessor } from './run-processor';
export type { RunProcessorOptions, RunProcessorResult } from './run-processor';
export { createTestUpkeep } from './create-test-upkeep';
export type { CreateTestUpkeepOptions, TestUpkeep } from './create-test-upkeep';
export { createFakeClock } from './fake-clock';
export type { FakeClock } from './fake-clock';
