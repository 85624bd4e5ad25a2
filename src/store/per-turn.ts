// Asks that arrive in one event-loop turn, answered together: every authenticated request checks its token's
// revocation, and identity providers send many requests at once, so both stores answer a turn's lookups with one
// read (one SQLite read transaction, one PostgreSQL query). The read starts after every ask it answers arrived.
/** A function whose calls of one turn are answered by one call of `answer` (its answers in the order of the items). */
export function perTurn<I, O>(answer: (items: I[]) => O[] | Promise<O[]>): (item: I) => Promise<O> {
  let waiting: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] | undefined;
  const flush = async () => {
    const batch = waiting ?? [];
    waiting = undefined;
    try {
      const answers = await answer(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(answers[i]));
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  };
  return (item) => new Promise<O>((resolve, reject) => {
    if (!waiting) {
      waiting = [];
      setImmediate(() => void flush());
    }
    waiting.push({ item, resolve, reject });
  });
}
