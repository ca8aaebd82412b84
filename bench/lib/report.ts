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
    | 'render';
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

export const emit = (figure: Figure): void => {
  const ratio = figure.comparisonValue === 0 ? null : round(figure.value / figure.comparisonValue);
  const line = {
    ...figure,
    value: round(figure.value),
    comparisonValue: round(figure.comparisonValue),
    ratio,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

/** Progress for a human, on stderr so stdout stays JSON lines. */
export const note = (message: string): void => {
  process.stderr.write(`  ${message}\n`);
};
