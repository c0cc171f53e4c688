import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A document to score (the example's own table). */
@Entity({ name: 'documents' })
export class Document {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ type: 'text' })
  text!: string;

  /** Relevance score from the model, 0..1; null until scored. */
  @Column({ type: 'float', nullable: true })
  score!: number | null;
}
