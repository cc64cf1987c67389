// The Durable Object side of relay/edge/dosql: the two functions its
// Register takes, over an object's SQLite storage (ctx.storage). The relay's
// object (entry.mjs) and the store conformance suite's test object
// (storetest/suite.mjs) both use these, so the suite runs on the same glue
// the relay does.

class Rollback extends Error {}

// sqlHost returns {exec, tx} for storage:
//   exec(query, args) → {columns, rows}
//   tx(fn) → null, or the message of why fn's writes were rolled back
// tx runs fn in storage.transactionSync (the storage refuses BEGIN and
// COMMIT statements); fn returning a message rolls its writes back.
export function sqlHost(storage) {
  const sql = storage.sql;
  return {
    exec: (query, args) => {
      const cursor = sql.exec(query, ...args);
      const rows = cursor.raw().toArray();
      return { columns: cursor.columnNames, rows };
    },
    tx: (fn) => {
      try {
        storage.transactionSync(() => {
          const err = fn();
          if (err != null) throw new Rollback(err);
        });
      } catch (e) {
        return e instanceof Rollback ? e.message : String((e && e.message) || e);
      }
      return null;
    },
  };
}
