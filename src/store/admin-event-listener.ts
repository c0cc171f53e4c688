// The admin event streams' LISTEN lives with the runners' in pg-listener.ts (one listener, keyed by channel).
export { EVENTS_CHANNEL, onStoredEvents } from './pg-listener';
