import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An edge "task waits for dependsOn" (table `maintenance_task_dependencies`). */
@Entity({ name: 'maintenance_task_dependencies', synchronize: false })
export class TaskDependency {
  /** The waiting task. */
  @PrimaryColumn({ name: 'task_id', type: 'varchar', length: 36 })
  taskId!: string;

  /** The task it waits for. */
  @PrimaryColumn({ name: 'depends_on_id', type: 'varchar', length: 36 })
  dependsOnId!: string;

  /** Unused by upkeep; keeps the row readable in admin tools. */
  @Column({ name: 'created_at', type: Date, precision: 3 })
  createdAt!: Date;
}
