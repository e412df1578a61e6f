import { sql } from './sql.js';

/** A transaction's own statements, run by Db.transaction and timed like any other (a slow COMMIT is worth seeing). */
export const BEGIN = sql('db.begin', 'BEGIN');
export const COMMIT = sql('db.commit', 'COMMIT');
export const ROLLBACK = sql('db.rollback', 'ROLLBACK');
