import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveSettings, retryDelayMs } from '../../../src';

const retry = { initialDelayMs: 1000, backoffMultiplier: 2, maxDelayMs: 3_600_000, jitter: 0.25 };
const noJitter = { ...retry, jitter: 0 };
/** `random()` of 0.5 puts the jitter term at exactly zero. */
const middle = () => 0.5;

describe('retryDelayMs (src/runner/backoff.ts)', () => {
  it('grows exponentially with the multiplier: initial, initial*m, initial*m^2, ...', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(attempt, retry, {}, middle))).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(attempt, { ...retry, backoffMultiplier: 3 }, {}, middle))).toEqual([1000, 3000, 9000, 27000]);
    expect([1, 2, 3].map((attempt) => retryDelayMs(attempt, { ...retry, backoffMultiplier: 1.5, initialDelayMs: 100 }, {}, middle))).toEqual([100, 150, 225]);
  });

  it('a multiplier of 1 gives a constant delay', () => {
    for (let attempt = 1; attempt <= 20; attempt++) expect(retryDelayMs(attempt, { ...noJitter, backoffMultiplier: 1 })).toBe(1000);
  });

  it('attempt 0 or below counts as the first retry', () => {
    expect(retryDelayMs(0, retry, {}, middle)).toBe(1000);
    expect(retryDelayMs(-3, retry, {}, middle)).toBe(1000);
  });

  it('is capped at maxDelayMs, also with jitter pushing it up and for huge attempt numbers', () => {
    const capped = { ...retry, maxDelayMs: 5000 };
    expect(retryDelayMs(3, capped, {}, middle)).toBe(4000);
    expect(retryDelayMs(4, capped, {}, middle)).toBe(5000);
    expect(retryDelayMs(4, capped, {}, () => 0.999_999)).toBe(5000);
    expect(retryDelayMs(1000, capped, {}, middle)).toBe(5000);
    expect(retryDelayMs(1000, { ...capped, backoffMultiplier: 100 }, {}, middle)).toBe(5000);
  });

  it('jitter spreads the delay by ±jitter around the base, driven by random()', () => {
    expect(retryDelayMs(1, retry, {}, () => 0)).toBe(750);
    expect(retryDelayMs(1, retry, {}, () => 0.999_999)).toBe(1250);
    expect(retryDelayMs(1, retry, {}, () => 0.25)).toBe(875);
    expect(retryDelayMs(3, retry, {}, () => 0)).toBe(3000);
    expect(retryDelayMs(3, { ...retry, jitter: 1 }, {}, () => 0)).toBe(0);
    expect(retryDelayMs(3, { ...retry, jitter: 0 }, {}, () => 0)).toBe(4000);
  });

  it('uses Math.random when no random is injected, and varies', () => {
    const seen = new Set(Array.from({ length: 50 }, () => retryDelayMs(5, retry)));
    expect(seen.size).toBeGreaterThan(1);
    for (const delay of seen) {
      expect(delay).toBeGreaterThanOrEqual(12_000);
      expect(delay).toBeLessThanOrEqual(20_000);
    }
  });

  it('per-processor overrides replace initial delay, multiplier and cap one by one', () => {
    expect(retryDelayMs(1, noJitter, { initialDelayMs: 10 })).toBe(10);
    expect(retryDelayMs(3, noJitter, { initialDelayMs: 10 })).toBe(40);
    expect(retryDelayMs(3, noJitter, { multiplier: 10 })).toBe(100_000);
    expect(retryDelayMs(10, noJitter, { maxDelayMs: 2500 })).toBe(2500);
    expect(retryDelayMs(3, noJitter, { initialDelayMs: 5, multiplier: 3, maxDelayMs: 40 })).toBe(40);
    expect(retryDelayMs(2, noJitter, { initialDelayMs: 5, multiplier: 3, maxDelayMs: 40 })).toBe(15);
    // Left-out override fields fall back to the settings.
    expect(retryDelayMs(2, noJitter, { maxDelayMs: 1_000_000 })).toBe(2000);
  });

  // With initialDelayMs 0 and multiplier ** (attempt - 1) overflowing to Infinity (multiplier 100
  // from attempt 156, within maxAttempts <= 1000), 0 * Infinity would be NaN.
  it('a zero initial delay stays 0 however large the exponent', () => {
    expect(retryDelayMs(200, { ...noJitter, initialDelayMs: 0, backoffMultiplier: 100 })).toBe(0);
  });

  it('works with the defaults from resolveSettings()', () => {
    const settings = resolveSettings();
    expect(retryDelayMs(1, settings.retry, {}, middle)).toBe(settings.retry.initialDelayMs);
    expect(retryDelayMs(2, settings.retry, {}, middle)).toBe(settings.retry.initialDelayMs * settings.retry.backoffMultiplier);
  });

  it('property: an integer within [base*(1-jitter), min(max, base*(1+jitter))], never above the cap, never negative', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.record({
          initialDelayMs: fc.integer({ min: 1, max: 1_000_000 }),
          backoffMultiplier: fc.double({ min: 1, max: 100, noNaN: true }),
          maxDelayMs: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          jitter: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, settings, r) => {
          const delay = retryDelayMs(attempt, settings, {}, () => r);
          const base = Math.min(settings.maxDelayMs, settings.initialDelayMs * settings.backoffMultiplier ** (attempt - 1));
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(settings.maxDelayMs);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(base * (1 - settings.jitter)) - 1);
          expect(delay).toBeLessThanOrEqual(Math.ceil(base * (1 + settings.jitter)) + 1);
        },
      ),
    );
  });

  it('property: with a fixed random(), the delay never shrinks as attempts grow', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialDelayMs, backoffMultiplier, r) => {
          const settings = { initialDelayMs, backoffMultiplier, maxDelayMs: 3_600_000, jitter: 0.25 };
          expect(retryDelayMs(attempt + 1, settings, {}, () => r)).toBeGreaterThanOrEqual(retryDelayMs(attempt, settings, {}, () => r));
        },
      ),
    );
  });
});
