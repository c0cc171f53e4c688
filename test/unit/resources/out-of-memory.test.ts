import 'reflect-metadata';
import { IsInt } from 'class-validator';
import { describe, expect, it } from 'vitest';
import {
  MaintenanceTask,
  MaintenanceTaskProcessor,
  OutOfMemoryError,
  Processor,
  TaskErrorHandler,
  isOutOfMemoryError,
  type UpkeepEventMap,
} from '../../../src';

describe('isOutOfMemoryError', () => {
  it.each([
    ['upkeep OutOfMemoryError', new OutOfMemoryError('batch too big')],
    ['ONNX Runtime allocation', new Error('[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer of size 1073741824')],
    ['CUDA', new Error('CUDA failure 2: out of memory ; GPU=0 ; hostname=x')],
    ['cuBLAS', new Error('CUBLAS_STATUS_ALLOC_FAILED')],
    ['C++ bad_alloc', new Error('std::bad_alloc')],
    ['V8 array buffer', new RangeError('Array buffer allocation failed')],
    ['errno', Object.assign(new Error('spawn failed'), { code: 'ENOMEM' })],
    ['wrapped in a cause', new Error('inference failed', { cause: new Error('CUDA out of memory. Tried to allocate 2.00 GiB') })],
  ])('recognises %s', (_label, error) => {
    expect(isOutOfMemoryError(error)).toBe(true);
  });

  it.each([
    ['a plain error', new Error('boom')],
    ['a string', 'boom'],
    ['undefined', undefined],
    ['a timeout', new Error('Timed out after 100 ms')],
  ])('does not mistake %s for one', (_label, error) => {
    expect(isOutOfMemoryError(error)).toBe(false);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(isOutOfMemoryError(a)).toBe(false);
  });
});

@Processor('oom-batch')
class Batch extends MaintenanceTaskProcessor {
  @IsInt()
  batchSize = 64;

  override reduceMemory(factor: number): void {
    this.batchSize = Math.floor(this.batchSize * factor);
  }

  process() {
    return null;
  }
}

function task(attempts: number, maxAttempts: number): MaintenanceTask {
  return Object.assign(new MaintenanceTask(), { id: 't1', processorType: 'oom-batch', attempts, maxAttempts, estimatedMemoryMb: 2000 });
}

describe('TaskErrorHandler.handleOomError', () => {
  const setup = (cpuFallback: boolean) => {
    const events: Array<{ event: string; payload: unknown }> = [];
    const handler = new TaskErrorHandler({
      memoryReductionFactor: 0.5,
      cpuFallback,
      emit: (event, payload) => events.push({ event, payload }),
    });
    return { handler, events };
  };

  it('on a GPU with attempts left: CPU fallback, batch halved, memory state recorded, alert raised', () => {
    const { handler, events } = setup(true);
    const processor = Batch.create({ batchSize: 64 });
    const decision = handler.handleOomError(task(1, 3), { error: new OutOfMemoryError('x'), device: 'cuda:0', processor, deviceFreeMb: 12 });
    expect(decision).toMatchObject({ action: 'cpu_fallback', batchFactor: 0.5, routeDevice: 'cpu' });
    expect(JSON.parse(decision.processorJson!)).toEqual({ batchSize: 32 });
    expect(decision.memory).toMatchObject({ device: 'cuda:0', deviceFreeMb: 12, estimatedMemoryMb: 2000, attempt: 1 });
    expect(typeof decision.memory.rssMb).toBe('number');
    const oom = events.find((e) => e.event === 'task:oom')!.payload as UpkeepEventMap['task:oom'];
    expect(oom).toMatchObject({ taskId: 't1', action: 'cpu_fallback', batchFactor: 0.5 });
    const alert = events.find((e) => e.event === 'alert')!.payload as UpkeepEventMap['alert'];
    expect(alert).toMatchObject({ severity: 'warning', kind: 'out_of_memory', taskId: 't1' });
  });

  it('without CPU fallback (or on the CPU) it retries on the same routing', () => {
    expect(setup(false).handler.handleOomError(task(1, 3), { error: 'x', device: 'cuda:0', processor: Batch.create({}) }).action).toBe('retry');
    expect(setup(true).handler.handleOomError(task(1, 3), { error: 'x', device: 'cpu', processor: Batch.create({}) }).action).toBe('retry');
  });

  it('out of attempts it gives up with a critical alert and leaves the props alone', () => {
    const { handler, events } = setup(true);
    const decision = handler.handleOomError(task(3, 3), { error: 'x', device: 'cuda:0', processor: Batch.create({ batchSize: 64 }) });
    expect(decision).toMatchObject({ action: 'give_up', batchFactor: 1 });
    expect(decision.processorJson).toBeUndefined();
    expect((events.find((e) => e.event === 'alert')!.payload as UpkeepEventMap['alert']).severity).toBe('critical');
  });
});
