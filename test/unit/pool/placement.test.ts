import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeviceUnavailableError, InvalidArgumentError, PoolExhaustedError } from '../../../src/core/errors';
import type { DeviceInfo } from '../../../src/pool';
import { hasRoom, NO_CLAIMS, PassClaims, reservedMemory, type DeviceSlot } from '../../../src/pool/device-slot';
import { hasSupply, onlyWaits, place, rank, type PlacementRequest, type PlacementRules } from '../../../src/pool/placement';

// Placement is a pure function of the request, the slots, the claims of a pass and the
// time: these tests build slots as plain objects and call it directly (no pool, no timers).

type Slot = DeviceSlot<string>;

let order = 0;
function slot(info: Partial<DeviceInfo> & { id: string }, fields: Partial<Omit<Slot, 'instances'>> & { size?: number } = {}): Slot {
  const { size, ...rest } = fields;
  const idle = rest.idle ?? [];
  return {
    info: {
      kind: info.id.startsWith('cuda') ? 'cuda' : 'cpu',
      name: info.id,
      totalMemoryMb: 16_000,
      freeMemoryMb: 8000,
      healthy: true,
      ...info,
    },
    order: order++,
    instanceMb: 0,
    min: 0,
    max: 2,
    budgetMb: Infinity,
    enabled: true,
    inUse: 0,
    leaseMb: 0,
    pendingCreates: 0,
    destroyingMb: 0,
    baselineMb: 0,
    consecutiveFailures: 0,
    lastCreateError: undefined,
    retryAt: 0,
    ...rest,
    idle,
    instances: { size: size ?? idle.length + (rest.inUse ?? 0) },
  };
}

const rules: PlacementRules = { poolName: 'p', cpuFallback: true, maxCreateFailures: 3, selector: undefined };
const auto = (memoryMb = 0): PlacementRequest => ({ device: 'auto', memoryMb, original: { memoryMb } });
const on = (device: string, memoryMb = 0): PlacementRequest => ({ device, memoryMb, original: { device, memoryMb } });
const where = (placement: ReturnType<typeof place<string>>) =>
  placement.kind === 'fail' ? 'fail' : `${placement.kind}:${placement.slot?.info.id ?? '-'}${placement.kind === 'idle' ? `:${placement.instance}` : ''}`;

describe('place(): an explicit device', () => {
  it('lends the most recently used idle instance, then one being created, then creates one, then waits', () => {
    expect(where(place(on('cpu'), [slot({ id: 'cpu' }, { idle: ['a', 'b'] })], NO_CLAIMS, rules, 0))).toBe('idle:cpu:b');
    expect(where(place(on('cpu'), [slot({ id: 'cpu' }, { pendingCreates: 1 })], NO_CLAIMS, rules, 0))).toBe('pending:cpu');
    expect(where(place(on('cpu'), [slot({ id: 'cpu' }, { inUse: 1 })], NO_CLAIMS, rules, 0))).toBe('create:cpu');
    expect(where(place(on('cpu'), [slot({ id: 'cpu' }, { inUse: 2 })], NO_CLAIMS, rules, 0))).toBe('wait:cpu');
  });

  it('fails at once, naming why, for an unknown, unhealthy, disabled or max-0 device', () => {
    const slots = [slot({ id: 'cpu' }), slot({ id: 'cuda:0', healthy: false }), slot({ id: 'cuda:1' }, { enabled: false }), slot({ id: 'cuda:2' }, { max: 0 })];
    const cases: Array<[string, RegExp]> = [
      ['cuda:9', /"cuda:9" is unknown \(known: cpu, cuda:0, cuda:1, cuda:2\)/],
      ['cuda:0', /unhealthy/],
      ['cuda:1', /disabled in perDevice/],
      ['cuda:2', /max 0/],
    ];
    for (const [device, message] of cases) {
      const placement = place(on(device), slots, NO_CLAIMS, rules, 0);
      expect(placement.kind).toBe('fail');
      if (placement.kind !== 'fail') continue;
      expect(placement.error).toBeInstanceOf(DeviceUnavailableError);
      expect((placement.error as Error).message).toMatch(message);
    }
  });

  it('fails a request the device could never hold, and waits for memory it could hold later', () => {
    const gpu = slot({ id: 'cuda:0', freeMemoryMb: 4000 }, { instanceMb: 1000, inUse: 1, leaseMb: 2500 });
    const tooLarge = place(on('cuda:0', 3500), [gpu], NO_CLAIMS, rules, 0);
    expect(tooLarge.kind === 'fail' && tooLarge.error).toBeInstanceOf(PoolExhaustedError);
    expect(tooLarge.kind === 'fail' && (tooLarge.error as Error).message).toMatch(/no device can ever provide 3500 MB \(cuda:0: 4000 MB, 1000 MB per instance\)/);
    // 4000 free - 1000 instance - 2500 leased = 500 available: 2000 must wait for the lease.
    expect(where(place(on('cuda:0', 2000), [gpu], NO_CLAIMS, rules, 0))).toBe('wait:cuda:0');
  });

  it('keeps within the memory budget', () => {
    const gpu = slot({ id: 'cuda:0', freeMemoryMb: 10_000 }, { instanceMb: 1000, budgetMb: 3000, idle: ['a'], size: 2, inUse: 1, leaseMb: 500 });
    // Reserved: 2 x 1000 + 500 = 2500 of 3000.
    expect(where(place(on('cuda:0', 500), [gpu], NO_CLAIMS, rules, 0))).toBe('idle:cuda:0:a');
    expect(where(place(on('cuda:0', 600), [gpu], NO_CLAIMS, rules, 0))).toBe('wait:cuda:0');
  });
});

describe("place(): 'auto'", () => {
  it('ranks GPUs by available memory, then load, then probe order', () => {
    const slots = [
      slot({ id: 'cpu' }),
      slot({ id: 'cuda:0', freeMemoryMb: 4000 }),
      slot({ id: 'cuda:1', freeMemoryMb: 6000 }, { inUse: 1, leaseMb: 2000 }),
      slot({ id: 'cuda:2', freeMemoryMb: 4000 }, { pendingCreates: 1 }),
      slot({ id: 'cuda:3', freeMemoryMb: 4000 }),
    ];
    expect(rank(slots.slice(1), NO_CLAIMS).map((s) => s.info.id)).toEqual(['cuda:0', 'cuda:3', 'cuda:1', 'cuda:2']);
    expect(where(place(auto(1000), slots, NO_CLAIMS, rules, 0))).toBe('pending:cuda:2');
    expect(where(place(auto(1000), slots.filter((s) => s.info.id !== 'cuda:2'), NO_CLAIMS, rules, 0))).toBe('create:cuda:0');
  });

  it('prefers an idle instance on any fitting GPU over creating on a better one', () => {
    const slots = [slot({ id: 'cpu' }, { idle: ['c'] }), slot({ id: 'cuda:0', freeMemoryMb: 9000 }), slot({ id: 'cuda:1', freeMemoryMb: 3000 }, { idle: ['g'] })];
    expect(where(place(auto(2000), slots, NO_CLAIMS, rules, 0))).toBe('idle:cuda:1:g');
  });

  it('waits for a busy GPU that fits rather than fall back to the CPU', () => {
    const slots = [slot({ id: 'cpu' }, { idle: ['c'] }), slot({ id: 'cuda:0' }, { inUse: 2 })];
    expect(where(place(auto(1000), slots, NO_CLAIMS, rules, 0))).toBe('wait:cuda:0');
  });

  it('falls back to the CPU when no GPU has the memory, unless cpuFallback is off', () => {
    const slots = [slot({ id: 'cpu' }, { idle: ['c'] }), slot({ id: 'cuda:0', freeMemoryMb: 2000 })];
    expect(where(place(auto(3000), slots, NO_CLAIMS, rules, 0))).toBe('idle:cpu:c');
    const strict = place(auto(3000), slots, NO_CLAIMS, { ...rules, cpuFallback: false }, 0);
    expect(strict.kind === 'fail' && strict.error).toBeInstanceOf(PoolExhaustedError);
    const noGpu = place(auto(), [slot({ id: 'cpu' }), slot({ id: 'cuda:0', healthy: false })], NO_CLAIMS, { ...rules, cpuFallback: false }, 0);
    expect(noGpu.kind === 'fail' && (noGpu.error as Error).message).toMatch(/no healthy GPU and cpuFallback is off/);
  });

  it('moves off a GPU whose factory keeps failing while it is in back-off, and fails when nothing is left', () => {
    const failing = { consecutiveFailures: 3, retryAt: 1000, lastCreateError: new Error('CUDA provider not available') };
    const slots = [slot({ id: 'cpu' }), slot({ id: 'cuda:0' }, failing)];
    expect(where(place(auto(), slots, NO_CLAIMS, rules, 500))).toBe('create:cpu');
    // The back-off has passed (placement compares with the time it is given).
    expect(where(place(auto(), slots, NO_CLAIMS, rules, 1500))).toBe('create:cuda:0');
    const hopeless = place(auto(), [slot({ id: 'cpu' }, failing), slot({ id: 'cuda:0' }, failing)], NO_CLAIMS, rules, 500);
    expect(hopeless.kind).toBe('fail');
    if (hopeless.kind !== 'fail') return;
    expect(hopeless.error).toBeInstanceOf(PoolExhaustedError);
    expect((hopeless.error as Error).message).toMatch(/failed 3 times in a row on cpu, cuda:0 \(last error: CUDA provider not available\)/);
    expect((hopeless.error as Error & { cause?: unknown }).cause).toBe(failing.lastCreateError);
  });

  it('counts what earlier requests of the same pass claimed', () => {
    const gpu = slot({ id: 'cuda:0', freeMemoryMb: 5000 }, { pendingCreates: 1 });
    const slots = [slot({ id: 'cpu' }), gpu];
    const claims = new PassClaims<string>();
    expect(where(place(auto(3000), slots, claims, rules, 0))).toBe('pending:cuda:0');
    claims.add(gpu, 3000);
    // The instance being created and 3000 MB are promised: the next one goes to the CPU.
    expect(claims.pending(gpu)).toBe(1);
    expect(hasRoom(gpu, 3000, claims)).toBe(false);
    expect(where(place(auto(3000), slots, claims, rules, 0))).toBe('create:cpu');
    claims.reset();
    expect(where(place(auto(3000), slots, claims, rules, 0))).toBe('pending:cuda:0');
  });

  it("hands a selector ranked candidates and follows its choice, failing on one that is not a candidate or a throw", () => {
    const slots = [slot({ id: 'cpu' }), slot({ id: 'cuda:0', freeMemoryMb: 2000 }), slot({ id: 'cuda:1', freeMemoryMb: 6000 }, { idle: ['x'] })];
    let seen: string[] = [];
    const choose = (id: string | undefined): PlacementRules => ({
      ...rules,
      selector: (candidates) => {
        seen = candidates.map((c) => `${c.device.id}${c.ready ? '+' : ''}`);
        return id;
      },
    });
    expect(where(place(auto(1000), slots, NO_CLAIMS, choose('cuda:0'), 0))).toBe('create:cuda:0');
    expect(seen).toEqual(['cuda:1+', 'cuda:0+', 'cpu+']);
    expect(where(place(auto(1000), slots, NO_CLAIMS, choose(undefined), 0))).toBe('idle:cuda:1:x');
    const wrong = place(auto(1000), slots, NO_CLAIMS, choose('tpu:0'), 0);
    expect(wrong.kind === 'fail' && wrong.error).toBeInstanceOf(InvalidArgumentError);
    const boom = new Error('selector crashed');
    const thrown = place(auto(), slots, NO_CLAIMS, { ...rules, selector: () => { throw boom; } }, 0);
    expect(thrown.kind === 'fail' && thrown.error).toBe(boom);
  });
});

describe('hasSupply()', () => {
  it('is true with an idle instance, an unclaimed create in flight, or room to create outside back-off', () => {
    expect(hasSupply([slot({ id: 'cpu' }, { idle: ['a'], max: 1 })], NO_CLAIMS, 0)).toBe(true);
    expect(hasSupply([slot({ id: 'cpu' }, { inUse: 1, max: 1 })], NO_CLAIMS, 0)).toBe(false);
    const creating = slot({ id: 'cpu' }, { pendingCreates: 1, max: 1 });
    const claims = new PassClaims<string>();
    expect(hasSupply([creating], claims, 0)).toBe(true);
    claims.add(creating, 0);
    expect(hasSupply([creating], claims, 0)).toBe(false);
    const backingOff = slot({ id: 'cpu' }, { retryAt: 100 });
    expect(hasSupply([backingOff], NO_CLAIMS, 50)).toBe(false);
    expect(hasSupply([backingOff], NO_CLAIMS, 150)).toBe(true);
    expect(hasSupply([slot({ id: 'cpu', healthy: false }, { idle: ['a'] })], NO_CLAIMS, 0)).toBe(false);
  });
});

describe('place() properties', () => {
  const slotArb = fc.record({
    gpu: fc.boolean(),
    free: fc.integer({ min: 0, max: 10_000 }),
    instanceMb: fc.integer({ min: 0, max: 3000 }),
    max: fc.integer({ min: 0, max: 3 }),
    busy: fc.integer({ min: 0, max: 3 }),
    idle: fc.integer({ min: 0, max: 2 }),
    pending: fc.integer({ min: 0, max: 2 }),
    leaseMb: fc.integer({ min: 0, max: 4000 }),
    budget: fc.option(fc.integer({ min: 0, max: 12_000 }), { nil: undefined }),
    healthy: fc.boolean(),
    failures: fc.integer({ min: 0, max: 4 }),
  });

  it('never lends or creates where the request does not fit, answers alike for alike input, and changes nothing', () => {
    fc.assert(
      fc.property(fc.array(slotArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 6000 }), fc.boolean(), (specs, memoryMb, explicit) => {
        const slots = specs.map((spec, index) =>
          slot(
            { id: spec.gpu ? `cuda:${index}` : `cpu${index}`, kind: spec.gpu ? 'cuda' : 'cpu', freeMemoryMb: spec.free, healthy: spec.healthy },
            {
              instanceMb: spec.instanceMb,
              max: spec.max,
              inUse: Math.min(spec.busy, spec.max),
              idle: Array.from({ length: spec.idle }, (_, n) => `${index}.${n}`),
              pendingCreates: spec.pending,
              leaseMb: spec.leaseMb,
              budgetMb: spec.budget ?? Infinity,
              consecutiveFailures: spec.failures,
              retryAt: spec.failures > 0 ? 100 : 0,
            },
          ),
        );
        const request = explicit ? on(slots[0]!.info.id, memoryMb) : auto(memoryMb);
        const before = JSON.stringify(slots);
        const first = place(request, slots, NO_CLAIMS, rules, 50);
        const second = place(request, slots, NO_CLAIMS, rules, 50);
        expect(JSON.stringify(slots)).toBe(before);
        expect(where(second)).toBe(where(first));
        if (first.kind === 'idle' || first.kind === 'pending') {
          expect(hasRoom(first.slot, memoryMb, NO_CLAIMS)).toBe(true);
          if (memoryMb > 0) expect(reservedMemory(first.slot) + memoryMb).toBeLessThanOrEqual(first.slot.budgetMb);
        }
        if (first.kind === 'idle') expect(first.slot.idle.at(-1)).toBe(first.instance);
        if (first.kind === 'create') {
          expect(hasRoom(first.slot, memoryMb + first.slot.instanceMb, NO_CLAIMS)).toBe(true);
          expect(first.slot.instances.size + first.slot.pendingCreates).toBeLessThan(first.slot.max);
        }
        if (first.kind !== 'fail' && first.slot) {
          expect(first.slot.info.healthy && first.slot.max > 0).toBe(true);
          if (explicit) expect(first.slot).toBe(slots[0]);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('onlyWaits(): the shortcut of a full single-device pool (issue 8)', () => {
  it('answers wait on the device when every instance is lent, and leaves every other case to place()', () => {
    const full = () => [slot({ id: 'cpu' }, { inUse: 2 })];
    expect(where(onlyWaits(auto(), full(), rules)!)).toBe('wait:cpu');
    expect(where(onlyWaits(on('cpu'), full(), rules)!)).toBe('wait:cpu');
    expect(onlyWaits(auto(100), full(), rules)).toBeUndefined();
    expect(onlyWaits(on('cuda:0'), full(), rules)).toBeUndefined();
    expect(onlyWaits(auto(), [slot({ id: 'cpu' }, { inUse: 1 })], rules)).toBeUndefined();
    expect(onlyWaits(auto(), [slot({ id: 'cpu' }, { inUse: 1, idle: ['a'] })], rules)).toBeUndefined();
    expect(onlyWaits(auto(), [slot({ id: 'cpu' }, { inUse: 2, pendingCreates: 1 })], rules)).toBeUndefined();
    expect(onlyWaits(auto(), [slot({ id: 'cpu', healthy: false }, { inUse: 2 })], rules)).toBeUndefined();
    expect(onlyWaits(auto(), [slot({ id: 'cpu' }, { inUse: 2 }), slot({ id: 'cuda:0' })], rules)).toBeUndefined();
    expect(onlyWaits(auto(), full(), { ...rules, selector: () => undefined })).toBeUndefined();
  });

  it('whenever it answers, place() answers the same', () => {
    fc.assert(
      fc.property(
        fc.record({
          inUse: fc.integer({ min: 0, max: 3 }),
          idle: fc.integer({ min: 0, max: 2 }),
          pendingCreates: fc.integer({ min: 0, max: 1 }),
          max: fc.integer({ min: 0, max: 3 }),
          consecutiveFailures: fc.integer({ min: 0, max: 5 }),
          healthy: fc.boolean(),
          explicit: fc.boolean(),
        }),
        (f) => {
          const slots = [slot({ id: 'cpu', healthy: f.healthy }, { inUse: f.inUse, idle: Array.from({ length: f.idle }, (_, i) => `i${i}`), pendingCreates: f.pendingCreates, max: f.max, consecutiveFailures: f.consecutiveFailures, retryAt: 1e12 })];
          const request = f.explicit ? on('cpu') : auto();
          const short = onlyWaits(request, slots, rules);
          if (short) expect(where(short)).toBe(where(place(request, slots, NO_CLAIMS, rules, 1)));
        },
      ),
      { numRuns: 500 },
    );
  });
});
