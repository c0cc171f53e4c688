// MariaDB connection settings and one-off admin statements.
import mysql from 'mysql2/promise';

export const MY = {
  host: process.env.MYSQL_HOST ?? '127.0.0.1',
  port: Number(process.env.MYSQL_PORT ?? 3306),
  user: process.env.MYSQL_USER ?? 'root',
  password: process.env.MYSQL_PASSWORD ?? '',
};

export async function myAdmin(...statements: string[]): Promise<void> {
  const connection = await mysql.createConnection({ ...MY });
  try {
    for (const sql of statements) await connection.query(sql);
  } finally {
    await connection.end();
  }
}

export async function myVersion(): Promise<string> {
  const connection = await mysql.createConnection({ ...MY });
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    return String(rows[0]!.v);
  } finally {
    await connection.end();
  }
}
