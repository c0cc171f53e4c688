import { InvalidArgumentError } from '../core/errors';
import { IndexedHeap, type HeapEntry } from './indexed-heap';

/** Device name of a task that any device may take. */
export const ANY_DEVICE = 'any';

/**
 * Options of a {@link TaskQueue}. The names and defaults are the settings' (`maxQueueSize`,
 * `queueTimeoutSeconds`, `enablePriorityQueue`), so an `UpkeepSettings` object can be passed as is;
 * keys the queue does not use are ignored.
 */
export interface TaskQueueOptions {
  /** Most tasks the queue holds at once; `add` returns false beyond it. @defaultValue 100 */
  maxQueueSize?: number;
  /** A task waiting longer than this is returned by {@link TaskQueue.takeExpired}. @defaultValue 300 */
  queueTimeoutSeconds?: number;
  /** Highest priority first, FIFO within a priority (true), or strictly first-in first-out (false). @defaultValue true */
  enablePriorityQueue?: boolean;
  /** Monotonic clock in milliseconds; inject a fake one in tests. @defaultValue `performance.now` */
  now?: () => number;
}

/** Where a queued task stands. */
export interface QueuedTaskInfo<T> {
  /** The queued task. */
  task: T;
  /** Higher runs first (when the priority queue is enabled). */
  priority: number;
  /** Device the task is routed to, or {@link ANY_DEVICE}. */
  device: string;
  /** `now()` when the task entered the queue (a requeue restarts it). */
  enqueuedAt: number;
  /** Milliseconds the task has waited so far. */
  waitMs: number;
  /** How many times the task was requeued. */
  requeues: number;
}

/** Counters of a queue, for metrics. */
export interface TaskQueueStats {
  /** Tasks queued now. */
  size: number;
  /** The bound from the options. */
  maxQueueSize: number;
  /** Tasks queued now per routed device (including {@link ANY_DEVICE}); devices with none are left out. */
  byDevice: Record<string, number>;
  /** Wait of the oldest queued task, 0 when empty. */
  oldestWaitMs: number;
  /** Tasks handed out by `getNextTask` since the queue was made. */
  dequeued: number;
  /** Mean time those tasks waited, 0 before the first. */
  averageWaitMs: number;
  /** Tasks returned by `takeExpired` since the queue was made. */
  expired: number;
}

/** Options of {@link TaskQueue.requeue}. */
export interface RequeueOptions {
  /** Priority to requeue with. @defaultValue one less than the task had */
  priority?: number;
  /** Device to route to, e.g. `'cpu'` after an out-of-memory failure on a GPU. @defaultValue the device it had */
  device?: string;
}

interface Entry<T> extends HeapEntry {
  task: T;
  priority: number;
  device: string;
  seq: number;
  enqueuedAt: number;
  requeues: number;
}

/** What the queue remembers about a task that left it, so `requeue(task)` can lower its priority. */
interface Departed {
  priority: number;
  device: string;
  requeues: number;
}

const GLOBAL_SLOT = 0;
const DEVICE_SLOT = 1;
const DEPARTED_BY_ID_LIMIT = 4096;

function assertDevice(device: unknown, what: string): asserts device is string {
  if (typeof device !== 'string' || device.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty device name (e.g. 'cpu', 'cuda:0' or '${ANY_DEVICE}'), got ${String(device)}`);
  }
}

function assertPriority(priority: unknown): asserts priority is number {
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw new InvalidArgumentError(`priority must be a finite number, got ${String(priority)}`);
  }
}

/**
 * In-memory priority queue between claiming tasks and running them, per device (the seed's
 * `TaskQueue`: `add_task`, `get_next_task(device)`, `requeue_task`).
 *
 * A task is routed either to one device (`'cuda:0'`) or to {@link ANY_DEVICE}; `getNextTask(device)`
 * returns the best task routed to that device or to any. Higher priority comes first and tasks of
 * equal priority leave in arrival order; with `enablePriorityQueue: false` the whole queue is FIFO.
 * Adding, taking and removing are O(log n) (indexed binary heaps); the queue is bounded by
 * `maxQueueSize`, and tasks that wait longer than `queueTimeoutSeconds` are handed back through
 * {@link takeExpired}.
 */
export class TaskQueue<T extends { id: string }> {
  /** The bound from the options. */
  readonly maxQueueSize: number;
  /** Wait limit from the options, in seconds. */
  readonly queueTimeoutSeconds: number;
  /** Whether priorities order the queue. */
  readonly enablePriorityQueue: boolean;

  private readonly now: () => number;
  /** Every queued entry by id, in arrival order (a requeue moves it to the end). */
  private readonly entries = new Map<string, Entry<T>>();
  private readonly all: IndexedHeap<Entry<T>>;
  private readonly byDevice = new Map<string, IndexedHeap<Entry<T>>>();
  private readonly departed = new WeakMap<T, Departed>();
  /** The same by id, for a task that comes back as a new object (reloaded); bounded, oldest dropped first. */
  private readonly departedById = new Map<string, Departed>();
  private readonly before: (a: Entry<T>, b: Entry<T>) => boolean;
  private seq = 0;
  private dequeued = 0;
  private totalWaitMs = 0;
  private expired = 0;

  constructor(options: TaskQueueOptions = {}) {
    const { maxQueueSize = 100, queueTimeoutSeconds = 300, enablePriorityQueue = true, now } = options;
    if (!Number.isInteger(maxQueueSize) || maxQueueSize < 1) {
      throw new InvalidArgumentError(`maxQueueSize must be a positive integer, got ${String(maxQueueSize)}`);
    }
    if (typeof queueTimeoutSeconds !== 'number' || !(queueTimeoutSeconds > 0) || !Number.isFinite(queueTimeoutSeconds)) {
      throw new InvalidArgumentError(`queueTimeoutSeconds must be a positive number, got ${String(queueTimeoutSeconds)}`);
    }
    if (typeof enablePriorityQueue !== 'boolean') {
      throw new InvalidArgumentError(`enablePriorityQueue must be a boolean, got ${String(enablePriorityQueue)}`);
    }
    if (now !== undefined && typeof now !== 'function') throw new InvalidArgumentError('now must be a function returning milliseconds');
    this.maxQueueSize = maxQueueSize;
    this.queueTimeoutSeconds = queueTimeoutSeconds;
    this.enablePriorityQueue = enablePriorityQueue;
    this.now = now ?? (() => performance.now());
    this.before = enablePriorityQueue
      ? (a, b) => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)
      : (a, b) => a.seq < b.seq;
    this.all = new IndexedHeap(this.before, GLOBAL_SLOT);
  }

  /** Tasks queued now. */
  get size(): number {
    return this.entries.size;
  }

  /** True when `add` would refuse a new task for lack of room. */
  get isFull(): boolean {
    return this.entries.size >= this.maxQueueSize;
  }

  /**
   * Queues `task` with `priority` (higher runs first) for `device` ({@link ANY_DEVICE}: whichever
   * device asks first). Returns false, and queues nothing, when the queue is full or a task with
   * the same id is already queued.
   */
  add(task: T, priority = 0, device: string = ANY_DEVICE): boolean {
    if (typeof task !== 'object' || task === null || typeof task.id !== 'string' || task.id.length === 0) {
      throw new InvalidArgumentError('task must be an object with a non-empty string id');
    }
    assertPriority(priority);
    assertDevice(device, 'device');
    if (this.entries.has(task.id) || this.isFull) return false;
    this.insert(task, priority, device, 0);
    return true;
  }

  /**
   * Removes and returns the next task for `device`: the best among tasks routed to that device and
   * tasks routed to {@link ANY_DEVICE}. `getNextTask('any')` takes only tasks routed to any device;
   * `getNextTask()` without a device takes the best task whatever its routing.
   */
  getNextTask(device?: string): T | undefined {
    const entry = this.select(device);
    if (!entry) return undefined;
    this.detach(entry);
    this.dequeued += 1;
    this.totalWaitMs += Math.max(0, this.now() - entry.enqueuedAt);
    return entry.task;
  }

  /** The task `getNextTask(device)` would return, left in the queue. */
  peek(device?: string): T | undefined {
    return this.select(device)?.task;
  }

  /**
   * Puts a task back (the seed: "re-add failed task with lower priority"): one priority level lower
   * than it last had in this queue (0 when it was never queued here), at the back of that level,
   * for the same device unless `options` say otherwise, with its wait restarted. A task still
   * queued is moved the same way. Returns false when the queue is full.
   */
  requeue(task: T, options: RequeueOptions = {}): boolean {
    if (typeof task !== 'object' || task === null || typeof task.id !== 'string' || task.id.length === 0) {
      throw new InvalidArgumentError('task must be an object with a non-empty string id');
    }
    const queued = this.entries.get(task.id);
    const previous: Departed | undefined = queued ?? this.departed.get(task) ?? this.departedById.get(task.id);
    const priority = options.priority ?? (previous?.priority ?? 0) - 1;
    const device = options.device ?? previous?.device ?? ANY_DEVICE;
    assertPriority(priority);
    assertDevice(device, 'options.device');
    if (queued) this.detach(queued);
    else if (this.isFull) return false;
    this.departedById.delete(task.id);
    this.insert(task, priority, device, (previous?.requeues ?? 0) + 1);
    return true;
  }

  /**
   * Removes and returns, oldest first, every task that has waited longer than
   * `queueTimeoutSeconds`; the runner hands them back to the database.
   */
  takeExpired(): T[] {
    const limitMs = this.queueTimeoutSeconds * 1000;
    const now = this.now();
    const out: T[] = [];
    // Arrival order is wait order (the clock is monotonic), so the scan stops at the first young task.
    for (const entry of this.entries.values()) {
      if (now - entry.enqueuedAt <= limitMs) break;
      out.push(entry.task);
    }
    for (const task of out) this.detach(this.entries.get(task.id)!);
    this.expired += out.length;
    return out;
  }

  /** Removes the task with this id; returns it, or undefined when it is not queued. */
  remove(id: string): T | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.detach(entry);
    return entry.task;
  }

  /** True when a task with this id is queued. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Tasks routed to exactly this device (`'any'` counts the unrouted ones). */
  sizeFor(device: string): number {
    return this.byDevice.get(device)?.size ?? 0;
  }

  /** Where the task with this id stands, or undefined when it is not queued. */
  info(id: string): QueuedTaskInfo<T> | undefined {
    const entry = this.entries.get(id);
    return entry && this.describe(entry, this.now());
  }

  /** Every queued task in arrival order, with its priority, device and wait. */
  list(): QueuedTaskInfo<T>[] {
    const now = this.now();
    return [...this.entries.values()].map((entry) => this.describe(entry, now));
  }

  /** Milliseconds each queued task has waited, in arrival order. */
  waitTimesMs(): number[] {
    const now = this.now();
    return [...this.entries.values()].map((entry) => Math.max(0, now - entry.enqueuedAt));
  }

  /** Counters for metrics (the seed's `queued_tasks` and `average_wait_time`). */
  stats(): TaskQueueStats {
    const byDevice: Record<string, number> = {};
    for (const [device, heap] of this.byDevice) if (heap.size > 0) byDevice[device] = heap.size;
    const oldest = this.entries.values().next();
    return {
      size: this.entries.size,
      maxQueueSize: this.maxQueueSize,
      byDevice,
      oldestWaitMs: oldest.done ? 0 : Math.max(0, this.now() - oldest.value.enqueuedAt),
      dequeued: this.dequeued,
      averageWaitMs: this.dequeued === 0 ? 0 : this.totalWaitMs / this.dequeued,
      expired: this.expired,
    };
  }

  /** Removes and returns every queued task, in arrival order. */
  clear(): T[] {
    const tasks = [...this.entries.values()].map((entry) => entry.task);
    for (const entry of [...this.entries.values()]) this.detach(entry);
    return tasks;
  }

  private insert(task: T, priority: number, device: string, requeues: number): void {
    const entry: Entry<T> = { task, priority, device, seq: this.seq++, enqueuedAt: this.now(), requeues, slots: [-1, -1] };
    this.entries.set(task.id, entry);
    this.all.push(entry);
    let heap = this.byDevice.get(device);
    if (!heap) {
      heap = new IndexedHeap(this.before, DEVICE_SLOT);
      this.byDevice.set(device, heap);
    }
    heap.push(entry);
  }

  private detach(entry: Entry<T>): void {
    this.entries.delete(entry.task.id);
    this.all.remove(entry);
    const heap = this.byDevice.get(entry.device);
    if (heap) {
      heap.remove(entry);
      // Devices come and go (cuda:3 may disappear); do not keep an empty heap per name forever.
      if (heap.size === 0 && entry.device !== ANY_DEVICE) this.byDevice.delete(entry.device);
    }
    const departed: Departed = { priority: entry.priority, device: entry.device, requeues: entry.requeues };
    this.departed.set(entry.task, departed);
    this.departedById.delete(entry.task.id);
    this.departedById.set(entry.task.id, departed);
    if (this.departedById.size > DEPARTED_BY_ID_LIMIT) this.departedById.delete(this.departedById.keys().next().value!);
  }

  private select(device: string | undefined): Entry<T> | undefined {
    if (device === undefined) return this.all.peek();
    assertDevice(device, 'device');
    const own = this.byDevice.get(device)?.peek();
    if (device === ANY_DEVICE) return own;
    const shared = this.byDevice.get(ANY_DEVICE)?.peek();
    if (!own) return shared;
    if (!shared) return own;
    return this.before(shared, own) ? shared : own;
  }

  private describe(entry: Entry<T>, now: number): QueuedTaskInfo<T> {
    return {
      task: entry.task,
      priority: entry.priority,
      device: entry.device,
      enqueuedAt: entry.enqueuedAt,
      waitMs: Math.max(0, now - entry.enqueuedAt),
      requeues: entry.requeues,
    };
  }
}
