import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { JsonValue } from './maintenance-task.entity';

/** One persisted lifecycle event (table `task_events`, as in the second seed). */
@Entity({ name: 'task_events', synchronize: false })
export class TaskEvent {
  /** Serial id. */
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  /** Task the event concerns. */
  @Column({ name: 'task_id', type: 'varchar', length: 36, nullable: true })
  taskId!: string | null;

  /** Seed-style event name, e.g. `created`, `completed`, `resource_acquired`; see `TaskEventType`. */
  @Column({ name: 'event_type', type: 'varchar', length: 50 })
  eventType!: string;

  /** When the event happened. */
  @Column({ name: 'timestamp', type: Date, precision: 3 })
  timestamp!: Date;

  /** Event payload (JSONB on PostgreSQL). */
  @Column({ type: 'json', nullable: true })
  details!: Record<string, JsonValue> | null;
}
