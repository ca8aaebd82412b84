/** One benchmark figure, printed as a JSON line beside what it is compared with (same run). */
export interface Figure {
  readonly bench:
    | 'ingest'
    | 'burst'
    | 'monorepo'
    | 'empty-commit'
    | 'fanout'
    | 'latency'
    | 'coldstart'
    | 'cost'
    | 'scale'
    | 'peers'
    | 'render'
    | 'ui-matrix';
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  readonly comparison: string;
  readonly comparisonValue: number;
  readonly renders?: number;
  readonly releases?: number;
  readonly [extra: string]: unknown;
}

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 1000) / 1000 : n);

/**
 * The one shape of every bench line: `bench`, `figure`, `value`, `unit`, `comparison`,
 * `comparisonValue`, `ratio` (value / comparisonValue, null when the comparison is 0), in that
 * order, then whatever else the bench adds (counts, the run's parameters).
 */
export const figureLine = (figure: Figure): Record<string, unknown> => {
  const { bench, figure: name, value, unit, comparison, comparisonValue, ...extra } = figure;
  return {
    bench,
    figure: name,
    value: round(value),
    unit,
    comparison,
    comparisonValue: round(comparisonValue),
    ratio: comparisonValue === 0 ? null : round(value / comparisonValue),
    ...extra,
  };
};

export const emit = (figure: Figure): void => {
  process.stdout.write(`${JSON.stringify(figureLine(figure))}\n`);
};

/** Progress for a human, on stderr so stdout stays JSON lines. */
export const note = (message: string): void => {
  process.stderr.write(`  ${message}\n`);
};
