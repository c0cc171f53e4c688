import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/core/errors';
import { ANY_DEVICE, TaskQueue, type TaskQueueOptions } from '../../../src/queue';

interface Task {
  id: string;
}

const task = (id: string): Task => ({ id });

function fakeClock(start = 1_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function makeQueue(options: TaskQueueOptions = {}) {
  const clock = fakeClock();
  const queue = new TaskQueue<Task>({ now: clock.now, ...options });
  return { queue, clock };
}

const drain = (queue: TaskQueue<Task>, device?: string) => {
  const ids: string[] = [];
  for (let next = queue.getNextTask(device); next; next = queue.getNextTask(device)) ids.push(next.id);
  return ids;
};

describe('TaskQueue', () => {
  it('uses the seed defaults', () => {
    const queue = new TaskQueue<Task>();
    expect(queue.maxQueueSize).toBe(100);
    expect(queue.queueTimeoutSeconds).toBe(300);
    expect(queue.enablePriorityQueue).toBe(true);
  });

  it('hands out the highest priority first', () => {
    const { queue } = makeQueue();
    queue.add(task('low'), 1);
    queue.add(task('high'), 10);
    queue.add(task('mid'), 5);
    queue.add(task('negative'), -3);
    queue.add(task('default'));
    expect(drain(queue, 'cpu')).toEqual(['high', 'mid', 'low', 'default', 'negative']);
  });

  it('keeps arrival order within a priority', () => {
    const { queue } = makeQueue();
    for (let i = 0; i < 20; i++) queue.add(task(`t${i}`), i % 2);
    const expected = [
      ...Array.from({ length: 10 }, (_, i) => `t${2 * i + 1}`),
      ...Array.from({ length: 10 }, (_, i) => `t${2 * i}`),
    ];
    expect(drain(queue)).toEqual(expected);
  });

  it('is strictly first-in first-out when the priority queue is disabled', () => {
    const { queue } = makeQueue({ enablePriorityQueue: false });
    queue.add(task('a'), 1);
    queue.add(task('b'), 100);
    queue.add(task('c'), -5);
    expect(queue.peek('cpu')?.id).toBe('a');
    expect(drain(queue, 'cpu')).toEqual(['a', 'b', 'c']);
  });

  it('orders like a sort on random input (heap invariants)', () => {
    const { queue } = makeQueue({ maxQueueSize: 10_000 });
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const added: { id: string; priority: number; seq: number }[] = [];
    for (let i = 0; i < 2000; i++) {
      const priority = Math.floor(random() * 7);
      queue.add(task(`t${i}`), priority);
      added.push({ id: `t${i}`, priority, seq: i });
    }
    // Remove a random fifth from the middle of the heap.
    const removed = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const id = `t${Math.floor(random() * 2000)}`;
      if (queue.remove(id)) removed.add(id);
    }
    const expected = added
      .filter((t) => !removed.has(t.id))
      .sort((a, b) => b.priority - a.priority || a.seq - b.seq)
      .map((t) => t.id);
    expect(queue.size).toBe(expected.length);
    expect(drain(queue)).toEqual(expected);
  });

  describe('devices', () => {
    it('routes device-specific tasks only to that device and shares "any" tasks', () => {
      const { queue } = makeQueue();
      queue.add(task('gpu0'), 0, 'cuda:0');
      queue.add(task('gpu1'), 0, 'cuda:1');
      queue.add(task('anywhere'), 0);
      queue.add(task('cpu-only'), 0, 'cpu');

      expect(queue.getNextTask('cuda:1')?.id).toBe('gpu1');
      expect(queue.getNextTask('cuda:1')?.id).toBe('anywhere');
      expect(queue.getNextTask('cuda:1')).toBeUndefined();
      expect(queue.getNextTask('cuda:0')?.id).toBe('gpu0');
      expect(queue.getNextTask('cuda:0')).toBeUndefined();
      expect(queue.getNextTask('cpu')?.id).toBe('cpu-only');
      expect(queue.size).toBe(0);
    });

    it('picks by priority, then arrival, across the device and "any"', () => {
      const { queue } = makeQueue();
      queue.add(task('any-first'), 2);
      queue.add(task('cpu-high'), 5, 'cpu');
      queue.add(task('cpu-same'), 2, 'cpu');
      queue.add(task('gpu-higher'), 9, 'cuda:0');
      expect(drain(queue, 'cpu')).toEqual(['cpu-high', 'any-first', 'cpu-same']);
      expect(queue.size).toBe(1);
    });

    it('getNextTask("any") takes only unrouted tasks; getNextTask() takes any task', () => {
      const { queue } = makeQueue();
      queue.add(task('gpu'), 10, 'cuda:0');
      queue.add(task('free'), 1);
      expect(queue.getNextTask(ANY_DEVICE)?.id).toBe('free');
      expect(queue.getNextTask(ANY_DEVICE)).toBeUndefined();
      queue.add(task('free2'), 1);
      expect(queue.getNextTask()?.id).toBe('gpu');
      expect(queue.getNextTask()?.id).toBe('free2');
    });

    it('counts per device', () => {
      const { queue } = makeQueue();
      queue.add(task('a'), 0, 'cuda:0');
      queue.add(task('b'), 0, 'cuda:0');
      queue.add(task('c'));
      expect(queue.sizeFor('cuda:0')).toBe(2);
      expect(queue.sizeFor(ANY_DEVICE)).toBe(1);
      expect(queue.sizeFor('cpu')).toBe(0);
      expect(queue.stats().byDevice).toEqual({ 'cuda:0': 2, any: 1 });
      drain(queue, 'cuda:0');
      expect(queue.sizeFor('cuda:0')).toBe(0);
      expect(queue.stats().byDevice).toEqual({});
    });
  });

  describe('bounds', () => {
    it('refuses tasks beyond maxQueueSize and accepts again after one leaves', () => {
      const { queue } = makeQueue({ maxQueueSize: 3 });
      expect(queue.add(task('a'))).toBe(true);
      expect(queue.add(task('b'))).toBe(true);
      expect(queue.add(task('c'), 0, 'cuda:0')).toBe(true);
      expect(queue.isFull).toBe(true);
      expect(queue.add(task('d'), 100)).toBe(false);
      expect(queue.has('d')).toBe(false);
      expect(queue.size).toBe(3);
      queue.getNextTask('cpu');
      expect(queue.add(task('d'))).toBe(true);
    });

    it('refuses a task whose id is already queued', () => {
      const { queue } = makeQueue();
      expect(queue.add(task('a'), 1)).toBe(true);
      expect(queue.add(task('a'), 9)).toBe(false);
      expect(queue.size).toBe(1);
      expect(queue.info('a')?.priority).toBe(1);
    });

    it('rejects invalid options and arguments with InvalidArgumentError', () => {
      expect(() => new TaskQueue<Task>({ maxQueueSize: 0 })).toThrow(InvalidArgumentError);
      expect(() => new TaskQueue<Task>({ maxQueueSize: 1.5 })).toThrow(/maxQueueSize/);
      expect(() => new TaskQueue<Task>({ queueTimeoutSeconds: -1 })).toThrow(/queueTimeoutSeconds/);
      expect(() => new TaskQueue<Task>({ enablePriorityQueue: 'yes' as unknown as boolean })).toThrow(/enablePriorityQueue/);
      const { queue } = makeQueue();
      expect(() => queue.add(task('a'), Number.NaN)).toThrow(/priority/);
      expect(() => queue.add(task('a'), 0, '')).toThrow(/device/);
      expect(() => queue.add({ id: '' })).toThrow(/id/);
      expect(() => queue.getNextTask('')).toThrow(InvalidArgumentError);
    });

    it('accepts a full settings object and ignores keys it does not use', () => {
      const settings = { maxQueueSize: 5, queueTimeoutSeconds: 10, enablePriorityQueue: false, cleanupTimeoutSeconds: 30, retry: {} };
      const queue = new TaskQueue<Task>(settings);
      expect(queue.maxQueueSize).toBe(5);
      expect(queue.enablePriorityQueue).toBe(false);
    });
  });

  describe('requeue', () => {
    it('re-adds a taken task one priority lower, behind its new level', () => {
      const { queue } = makeQueue();
      const failing = task('failing');
      queue.add(failing, 5, 'cuda:0');
      queue.add(task('peer'), 4, 'cuda:0');
      expect(queue.getNextTask('cuda:0')).toBe(failing);
      expect(queue.requeue(failing)).toBe(true);
      expect(queue.info('failing')).toMatchObject({ priority: 4, device: 'cuda:0', requeues: 1 });
      // Same level as 'peer' now, and behind it.
      expect(drain(queue, 'cuda:0')).toEqual(['peer', 'failing']);
      queue.requeue(failing);
      expect(queue.info('failing')).toMatchObject({ priority: 3, requeues: 2 });
    });

    it('remembers the priority of a task that comes back as a new object with the same id', () => {
      const { queue } = makeQueue();
      queue.add(task('x'), 7);
      queue.getNextTask();
      queue.requeue(task('x'));
      expect(queue.info('x')?.priority).toBe(6);
    });

    it('lowers a task that is still queued in place', () => {
      const { queue } = makeQueue();
      queue.add(task('a'), 2);
      queue.add(task('b'), 1);
      expect(queue.requeue(task('a'))).toBe(true);
      expect(queue.size).toBe(2);
      expect(drain(queue)).toEqual(['b', 'a']);
    });

    it('takes a priority or device override (e.g. CPU fallback after out of memory)', () => {
      const { queue } = makeQueue();
      const t = task('oom');
      queue.add(t, 3, 'cuda:0');
      queue.getNextTask('cuda:0');
      queue.requeue(t, { device: 'cpu' });
      expect(queue.getNextTask('cuda:0')).toBeUndefined();
      expect(queue.info('oom')).toMatchObject({ device: 'cpu', priority: 2 });
      queue.requeue(t, { priority: 10 });
      expect(queue.info('oom')?.priority).toBe(10);
    });

    it('treats an unknown task as priority 0 and any device, and respects the bound', () => {
      const { queue } = makeQueue({ maxQueueSize: 1 });
      expect(queue.requeue(task('new'))).toBe(true);
      expect(queue.info('new')).toMatchObject({ priority: -1, device: ANY_DEVICE });
      expect(queue.requeue(task('other'))).toBe(false);
    });

    it('goes to the back in FIFO mode', () => {
      const { queue } = makeQueue({ enablePriorityQueue: false });
      const a = task('a');
      queue.add(a);
      queue.add(task('b'));
      queue.getNextTask();
      queue.requeue(a);
      queue.add(task('c'));
      expect(drain(queue)).toEqual(['b', 'a', 'c']);
    });
  });

  describe('expiry and waits', () => {
    it('hands back tasks that waited longer than queueTimeoutSeconds, oldest first', () => {
      const { queue, clock } = makeQueue({ queueTimeoutSeconds: 10 });
      queue.add(task('old'), 1, 'cuda:0');
      clock.advance(4_000);
      queue.add(task('older-but-higher'), 9);
      clock.advance(6_000);
      // 'old' has waited exactly 10 s: not longer than the limit yet.
      expect(queue.takeExpired()).toEqual([]);
      clock.advance(1);
      expect(queue.takeExpired().map((t) => t.id)).toEqual(['old']);
      expect(queue.has('old')).toBe(false);
      expect(queue.sizeFor('cuda:0')).toBe(0);
      clock.advance(4_000);
      expect(queue.takeExpired().map((t) => t.id)).toEqual(['older-but-higher']);
      expect(queue.size).toBe(0);
      expect(queue.stats().expired).toBe(2);
    });

    it('restarts the wait on requeue', () => {
      const { queue, clock } = makeQueue({ queueTimeoutSeconds: 1 });
      const t = task('t');
      queue.add(t);
      queue.add(task('u'));
      clock.advance(900);
      queue.requeue(t);
      clock.advance(200);
      expect(queue.takeExpired().map((x) => x.id)).toEqual(['u']);
      expect(queue.has('t')).toBe(true);
    });

    it('reports wait times and the average wait of dequeued tasks', () => {
      const { queue, clock } = makeQueue();
      queue.add(task('a'));
      clock.advance(100);
      queue.add(task('b'));
      clock.advance(50);
      expect(queue.waitTimesMs()).toEqual([150, 50]);
      expect(queue.info('a')?.waitMs).toBe(150);
      expect(queue.stats()).toMatchObject({ size: 2, oldestWaitMs: 150, dequeued: 0, averageWaitMs: 0 });
      queue.getNextTask(); // a waited 150
      clock.advance(250);
      queue.getNextTask(); // b waited 300
      expect(queue.stats()).toMatchObject({ size: 0, oldestWaitMs: 0, dequeued: 2, averageWaitMs: 225 });
    });
  });

  describe('remove, peek and clear', () => {
    it('removes by id from the middle of the queue', () => {
      const { queue } = makeQueue();
      queue.add(task('a'), 3);
      queue.add(task('b'), 2, 'cpu');
      queue.add(task('c'), 1);
      expect(queue.remove('b')?.id).toBe('b');
      expect(queue.remove('b')).toBeUndefined();
      expect(queue.has('b')).toBe(false);
      expect(queue.sizeFor('cpu')).toBe(0);
      expect(drain(queue, 'cpu')).toEqual(['a', 'c']);
    });

    it('peeks without removing', () => {
      const { queue } = makeQueue();
      queue.add(task('a'), 1);
      queue.add(task('b'), 2, 'cuda:0');
      expect(queue.peek('cpu')?.id).toBe('a');
      expect(queue.peek('cuda:0')?.id).toBe('b');
      expect(queue.peek()?.id).toBe('b');
      expect(queue.size).toBe(2);
    });

    it('clears and returns every task in arrival order', () => {
      const { queue } = makeQueue();
      queue.add(task('a'), 1);
      queue.add(task('b'), 5, 'cuda:0');
      queue.add(task('c'), 3);
      expect(queue.clear().map((t) => t.id)).toEqual(['a', 'b', 'c']);
      expect(queue.size).toBe(0);
      expect(queue.getNextTask()).toBeUndefined();
      expect(queue.list()).toEqual([]);
    });
  });
});
