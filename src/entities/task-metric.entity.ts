import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** One resource sample of a running task (table `task_metrics`, as in the second seed). */
@Entity({ name: 'task_metrics', synchronize: false })
export class TaskMetric {
  /** Serial id. */
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  /** Task the sample belongs to. */
  @Column({ name: 'task_id', type: 'varchar', length: 36 })
  taskId!: string;

  /** When the sample was taken. */
  @Column({ name: 'timestamp', type: Date, precision: 3 })
  timestamp!: Date;

  /** Memory in use by the task at that time, in MiB. */
  @Column({ name: 'memory_usage_mb', type: 'integer', nullable: true })
  memoryUsageMb!: number | null;

  /** Device the task ran on. */
  @Column({ type: 'varchar', length: 50, nullable: true })
  device!: string | null;

  /** Stage the processor reported with `ctx.stage(...)`. */
  @Column({ name: 'processing_stage', type: 'varchar', length: 100, nullable: true })
  processingStage!: string | null;
}
