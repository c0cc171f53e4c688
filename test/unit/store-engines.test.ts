import { describe, expect, it } from 'vitest';
import { engineFor } from '../../src/store/engines';
import type { StoreEngine } from '../../src/store/engines';

const dialects = ['postgres', 'mysql', 'sqlite'] as const;
// Every member of StoreEngine: TypeScript checks each engine against the interface; this
// checks none is left undefined at run time (a spread or a missing export would not show).
const MEMBERS: Array<keyof StoreEngine> = [
  'dialect', 'insertChunkSize', 'listens', 'param', 'boolLiteral', 'returning', 'upsert', 'rowBefore', 'claim', 'completeBatch',
  'insertTasks', 'renewLeases', 'deleteBatch', 'insertEvents', 'notifyTasks', 'writeErrorKind', 'isLockConflict',
];

describe('store engines', () => {
  it.each(dialects)('%s implements every member of StoreEngine', (dialect) => {
    const engine = engineFor(dialect);
    expect(engine.dialect).toBe(dialect);
    for (const member of MEMBERS) expect(engine[member], member).toBeDefined();
    expect(Object.keys(engine).sort()).toEqual([...MEMBERS].sort());
  });

  it('fragments differ where the dialects do', () => {
    const q = (n: string) => `"${n}"`;
    expect(dialects.map((d) => engineFor(d).param('jsonb'))).toEqual(['CAST(? AS jsonb)', '?', '?']);
    expect(dialects.map((d) => engineFor(d).boolLiteral(true))).toEqual(['TRUE', '1', '1']);
    expect(dialects.map((d) => engineFor(d).returning('"id"'))).toEqual([' RETURNING "id"', '', ' RETURNING "id"']);
    expect(engineFor('mysql').upsert('id', ['a'], q)).toBe('ON DUPLICATE KEY UPDATE "a" = VALUES("a")');
    expect(engineFor('postgres').upsert('id', ['a'], q)).toBe('ON CONFLICT ("id") DO UPDATE SET "a" = EXCLUDED."a"');
    expect(engineFor('mysql').rowBefore('a', 'b', 1, 2)).toEqual({ sql: '(a < ? OR (a = ? AND b < ?))', params: [1, 1, 2] });
    expect(engineFor('sqlite').rowBefore('a', 'b', 1, 2)).toEqual({ sql: '(a, b) < (?, ?)', params: [1, 2] });
    expect(dialects.map((d) => engineFor(d).listens)).toEqual([true, false, false]);
  });

  it('classifies lock conflicts by each database\'s own codes', () => {
    expect(engineFor('postgres').isLockConflict({ code: '40P01', message: '' })).toBe(true);
    expect(engineFor('mysql').isLockConflict({ errno: 1213, message: '' })).toBe(true);
    expect(engineFor('sqlite').isLockConflict({ code: 'SQLITE_BUSY_SNAPSHOT', message: '' })).toBe(true);
    expect(engineFor('postgres').writeErrorKind({ code: '22P05', message: '' })).toBe('refused');
    expect(engineFor('mysql').writeErrorKind({ code: 'ER_LOCK_DEADLOCK', message: '' })).toBe('transient');
    expect(engineFor('sqlite').writeErrorKind({ code: 'SQLITE_CONSTRAINT_UNIQUE', message: '' })).toBeUndefined();
  });
});

describe('classifyWriteError: driver messages without a code', () => {
  it("mysql2's closed pooled connection is a passing failure, not an unknown one (a batch retried on it was written one by one and a lost reply went unrecognised)", async () => {
    const { classifyWriteError } = await import('../../src/store/write-errors');
    expect(classifyWriteError(new Error("Can't add new command when connection is in closed state"), 'mysql')).toBe('transient');
    expect(classifyWriteError(new Error('some other failure'), 'mysql')).toBe('unknown');
  });
});
